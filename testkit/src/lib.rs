//! Test support shared by the crates' suites: a private database per test ([`PrivateDb`]), the rule for services
//! that do not answer ([`unavailable`]: a failure under `CI=true`, a skip with a message elsewhere), a reachability
//! probe, [`eventually`] for polling with a deadline instead of sleeping, and Redis servers ([`redis`]).
pub mod redis;
pub mod sse;

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database};

/// Whether the run is CI's, where a missing service fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports `what` at `at` unreachable: panics under `CI=true`, else says the variant is skipped.
pub fn unavailable(what: &str, at: &str, error: impl Display) {
    if in_ci() {
        panic!("{what} at {at} is unreachable and CI=true: {error}");
    }
    eprintln!("skipping the {what} variant: {at} is unreachable ({error})");
}

/// The MariaDB server of the tests (`TASKFORGE_TEST_MYSQL_URL`).
pub fn mysql_server_url() -> String {
    std::env::var("TASKFORGE_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The moto server for SQS, DynamoDB and SES (`TASKFORGE_TEST_AWS_URL`).
pub fn moto_url() -> String {
    std::env::var("TASKFORGE_TEST_AWS_URL").unwrap_or_else(|_| "http://127.0.0.1:5055".into())
}

/// Whether something accepts connections at the URL's host and port. A TCP connect with a short timeout: an SDK
/// would retry for seconds instead.
pub async fn reachable(url: &str) -> Result<(), String> {
    let authority = url.trim_start_matches("http://").trim_start_matches("https://").split('/').next().unwrap_or("");
    let addr = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
    match tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connect timed out".into()),
    }
}

/// Runs `work` to completion on a runtime of its own in another thread. For `Drop` implementations: the test's
/// runtime may be shutting down when they run.
pub fn run_detached<F>(work: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a test runtime");
        rt.block_on(work);
    })
    .join()
    .ok();
}

/// Closes a test's pool from a `Drop` (inside [`run_detached`]), with a deadline. A task of the test's own runtime
/// (an aborted worker, say) may still hold a connection, and that runtime is blocked in the very `Drop` that waits
/// here, so it would never give the connection back: past the deadline the pool is left to go with the process.
pub async fn close_pool(db: sea_orm::DatabaseConnection) {
    if tokio::time::timeout(Duration::from_secs(5), db.close()).await.is_err() {
        eprintln!("testkit: a connection of the test's pool was still in use after 5 s; not waiting for it");
    }
}

/// Where a test's database lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    MariaDb,
}

#[derive(Debug)]
enum Location {
    SqliteFile(std::path::PathBuf),
    MariaDb { server: String, name: String },
}

/// An empty database of its own for one test, removed when dropped (also after a panic). Close the connection pool
/// before dropping it.
#[derive(Debug)]
pub struct PrivateDb {
    /// The `database_url` to configure.
    pub url: String,
    location: Location,
}

impl PrivateDb {
    /// A new database; `None` when MariaDB does not answer outside CI (see [`unavailable`]).
    pub async fn create(kind: DbKind) -> Option<PrivateDb> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        match kind {
            DbKind::Sqlite => {
                let path = std::env::temp_dir().join(format!("taskforge-test-{id}.db"));
                Some(PrivateDb { url: format!("sqlite://{}", path.display()), location: Location::SqliteFile(path) })
            }
            DbKind::MariaDb => {
                let server = mysql_server_url();
                let name = format!("tf_test_{id}");
                let admin = match Database::connect(&server).await {
                    Ok(c) => c,
                    Err(e) => {
                        unavailable("MariaDB", &server, e);
                        return None;
                    }
                };
                admin
                    .execute_unprepared(&format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    ))
                    .await
                    .expect("creating the test database");
                admin.close().await.ok();
                Some(PrivateDb { url: format!("{server}/{name}"), location: Location::MariaDb { server, name } })
            }
        }
    }
}

impl Drop for PrivateDb {
    fn drop(&mut self) {
        match &self.location {
            Location::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Location::MariaDb { server, name } => {
                let (server, name) = (server.clone(), name.clone());
                run_detached(async move {
                    if let Ok(admin) = Database::connect(&server).await {
                        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`")).await;
                        let _ = admin.close().await;
                    }
                });
            }
        }
    }
}

/// Polls `check` until it returns `Some`, failing the test with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
