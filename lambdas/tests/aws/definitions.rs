//! The `definitions` binary against moto's S3: the refresh job's push and the container entrypoint's pull.
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;
use uuid::Uuid;

use crate::support::*;

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("tf-definitions-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn definitions(moto: &Moto, args: &[&str]) -> std::process::Output {
    let run = Command::new(env!("CARGO_BIN_EXE_definitions"))
        .args(args)
        .env_clear()
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_S3", &moto.s3_url)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(15), run).await.expect("definitions finishes within 15 s").unwrap()
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("the directory")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn definitions_pushed_by_the_refresh_job_are_pulled_by_the_container() {
    let Some(moto) = moto().await else { return };
    let bucket = format!("tf-defs-{}", Uuid::now_v7().simple());
    moto.create_bucket(&bucket).await;
    let location = format!("s3://{bucket}/clamav/");
    // What the last refresh left: a daily.cvd that freshclam has since replaced by daily.cld.
    moto.put(&bucket, "clamav/daily.cvd", b"old daily", "application/octet-stream").await;
    moto.put(&bucket, "clamav-other/main.cvd", b"not ours", "application/octet-stream").await;

    let freshclam = TempDir::new();
    let main = vec![7u8; 300_000];
    std::fs::write(freshclam.0.join("main.cvd"), &main).unwrap();
    std::fs::write(freshclam.0.join("daily.cld"), b"new daily").unwrap();
    std::fs::write(freshclam.0.join("freshclam.dat"), b"state").unwrap();
    std::fs::write(freshclam.0.join(".daily.cld.tmp"), b"partial").unwrap();
    let pushed = definitions(&moto, &["push", freshclam.0.to_str().unwrap(), &location]).await;
    assert!(pushed.status.success(), "{pushed:?}");
    assert!(!moto.exists(&bucket, "clamav/daily.cvd").await, "the replaced database is removed");
    assert!(!moto.exists(&bucket, "clamav/freshclam.dat").await, "freshclam's state stays local");
    assert!(moto.exists(&bucket, "clamav-other/main.cvd").await, "only the prefix is touched");

    let tmp = TempDir::new();
    let db = tmp.0.join("clamav/db");
    let pulled = definitions(&moto, &["pull", &location, db.to_str().unwrap()]).await;
    assert!(pulled.status.success(), "{pulled:?}");
    assert_eq!(file_names(&db), ["daily.cld", "main.cvd"]);
    assert_eq!(std::fs::read(db.join("main.cvd")).unwrap(), main);
    assert_eq!(std::fs::read(db.join("daily.cld")).unwrap(), b"new daily");
}

#[tokio::test]
async fn pulling_from_an_empty_prefix_fails_so_clamd_never_starts_without_definitions() {
    let Some(moto) = moto().await else { return };
    let bucket = format!("tf-defs-{}", Uuid::now_v7().simple());
    moto.create_bucket(&bucket).await;
    let tmp = TempDir::new();
    let pulled = definitions(&moto, &["pull", &format!("s3://{bucket}/clamav"), tmp.0.to_str().unwrap()]).await;
    assert_eq!(pulled.status.code(), Some(1), "{pulled:?}");
    let stderr = String::from_utf8_lossy(&pulled.stderr);
    assert!(stderr.contains(&format!("no definitions under s3://{bucket}/clamav/")), "{stderr}");

    let usage = definitions(&moto, &["pull", "s3://x/y"]).await;
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
}
