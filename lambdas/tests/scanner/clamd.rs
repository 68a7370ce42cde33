//! The clamd client against a real clamd (scripts/clamd.sh starts one with the test signatures; `make test` does
//! that) and against stand-ins that misbehave. Without a clamd the real-clamd tests are skipped with a message,
//! except under `CI=true`, where that fails them.
use std::time::Duration;

use lambdas::scanner::{Blocklist, ClamdScanner, Outcome, ScanError, Scanner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::cases;
use crate::support::*;

fn clamd_addr() -> String {
    std::env::var("TASKFORGE_TEST_CLAMD_ADDR").unwrap_or_else(|_| "127.0.0.1:3310".into())
}

/// The test clamd; `None` (skip) when it does not answer, except under `CI=true`.
async fn clamd() -> Option<ClamdScanner> {
    let addr = clamd_addr();
    let scanner = ClamdScanner::new(addr.clone()).with_timeout(Duration::from_secs(60));
    match scanner.ping().await {
        Ok(()) => Some(scanner),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("clamd at {addr} is unreachable and CI=true: {e}")
        }
        Err(e) => {
            eprintln!("skipping the clamd test: clamd at {addr} is unreachable ({e}); start it with scripts/clamd.sh");
            None
        }
    }
}

#[tokio::test]
async fn clamd_finds_eicar_and_names_engine_and_version() {
    let Some(scanner) = clamd().await else { return };
    cases::eicar_is_infected(&scanner).await;
    let mut reader = PiecewiseReader::new(EICAR.to_vec(), &[CHUNK_SIZE]);
    let verdict = scanner.scan(&mut reader, &input("eicar.com")).await.unwrap();
    let Outcome::Infected { signature } = &verdict.outcome else { panic!("{verdict:?}") };
    assert!(signature.starts_with("Test.EICAR"), "a signature of the test database: {signature}");
    assert_eq!(verdict.engine, "clamav");
    let version = scanner.version().await.unwrap();
    assert_eq!(verdict.engine_version, version);
    assert!(version.starts_with(|c: char| c.is_ascii_digit()), "an engine version like 1.4.6: {version}");
}

#[tokio::test]
async fn clamd_finds_eicar_across_read_boundaries() {
    let Some(scanner) = clamd().await else { return };
    cases::eicar_across_read_boundaries_is_infected(&scanner).await;
}

#[tokio::test]
async fn clamd_finds_eicar_inside_zips() {
    let Some(scanner) = clamd().await else { return };
    cases::eicar_inside_a_zip_is_infected(&scanner).await;
    cases::a_clean_zip_is_clean(&scanner).await;
}

#[tokio::test]
async fn clamd_judges_megabytes_of_random_bytes_clean_streaming_them_in_chunks() {
    let Some(scanner) = clamd().await else { return };
    cases::a_clean_stream_is_clean_and_read_in_chunks(&scanner, 6 * 1024 * 1024 + 123).await;
}

#[tokio::test]
async fn clamd_with_a_blocklist_refuses_a_blocklisted_file() {
    let Some(scanner) = clamd().await else { return };
    let file = random_bytes(100_000, 43);
    let blocking = scanner.clone().with_blocklist(Blocklist::new([cases::sha256(&file)]));
    cases::a_blocklisted_file_is_infected(&blocking, &scanner, &file).await;
}

#[tokio::test]
async fn an_upload_over_clamds_stream_limit_is_an_error_not_a_verdict() {
    let Some(scanner) = clamd().await else { return };
    // scripts/clamd.sh sets StreamMaxLength 32M.
    let mut stream = GeneratedStream::new(40 * 1024 * 1024);
    let err = scanner.scan(&mut stream, &input("huge.bin")).await.unwrap_err();
    assert!(matches!(err, ScanError::SizeLimitExceeded { .. }), "{err:?}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn an_unreachable_clamd_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let scanner = ClamdScanner::new(addr).with_timeout(Duration::from_secs(5));
    let err = scanner.scan(&mut PiecewiseReader::new(EICAR.to_vec(), &[64]), &input("x")).await.unwrap_err();
    assert!(matches!(err, ScanError::Connect { .. }), "{err:?}");
    assert!(err.is_transient());
}

/// A stand-in clamd that answers VERSION and, for INSTREAM, reads `read_before_close` bytes and hangs up.
async fn hanging_up_clamd(read_before_close: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut command = Vec::new();
                let mut byte = [0u8; 1];
                while conn.read_exact(&mut byte).await.is_ok() && byte[0] != 0 {
                    command.push(byte[0]);
                }
                if command == b"zVERSION" {
                    let _ = conn.write_all(b"ClamAV 1.4.6/27500/Tue Jan  6 08:24:51 2026\0").await;
                } else {
                    let mut sink = vec![0u8; read_before_close];
                    let _ = conn.read_exact(&mut sink).await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_clamd_that_hangs_up_mid_stream_is_an_error() {
    let addr = hanging_up_clamd(10_000).await;
    let scanner = ClamdScanner::new(addr).with_timeout(Duration::from_secs(5));
    let mut stream = GeneratedStream::new(8 * 1024 * 1024);
    let err = scanner.scan(&mut stream, &input("x")).await.unwrap_err();
    assert!(matches!(err, ScanError::Io { .. } | ScanError::Protocol { .. }), "{err:?}");
}

#[tokio::test]
async fn a_clamd_that_hangs_up_without_a_reply_is_an_error() {
    // Takes the whole (small) stream, then closes without a verdict.
    let addr = hanging_up_clamd(4 + EICAR.len() + 4).await;
    let scanner = ClamdScanner::new(addr).with_timeout(Duration::from_secs(5));
    let err = scanner.scan(&mut PiecewiseReader::new(EICAR.to_vec(), &[128]), &input("x")).await.unwrap_err();
    assert!(matches!(err, ScanError::Protocol { .. } | ScanError::Io { .. }), "{err:?}");
}

#[tokio::test]
async fn a_silent_clamd_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // Accepts and keeps the connection open without ever answering.
    let server = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            open.push(conn);
        }
    });
    let scanner = ClamdScanner::new(addr).with_timeout(Duration::from_millis(300));
    let err = scanner.scan(&mut PiecewiseReader::new(EICAR.to_vec(), &[64]), &input("x")).await.unwrap_err();
    assert!(matches!(err, ScanError::Timeout { .. }), "{err:?}");
    server.abort();
}
