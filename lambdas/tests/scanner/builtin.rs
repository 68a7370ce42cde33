//! The built-in fallback scanner.
use lambdas::scanner::{Blocklist, BuiltinScanner, Outcome, Scanner};

use crate::cases;
use crate::support::*;

fn scanner() -> BuiltinScanner {
    BuiltinScanner::new(Blocklist::default())
}

async fn outcome_of(scanner: &BuiltinScanner, bytes: Vec<u8>) -> Outcome {
    let mut reader = PiecewiseReader::new(bytes, &[CHUNK_SIZE]);
    scanner.scan(&mut reader, &input("upload")).await.expect("the built-in scanner does not fail on bytes").outcome
}

fn infected(signature: &str) -> Outcome {
    Outcome::Infected { signature: signature.into() }
}

#[tokio::test]
async fn builtin_finds_eicar() {
    cases::eicar_is_infected(&scanner()).await;
    let mut reader = PiecewiseReader::new(EICAR.to_vec(), &[CHUNK_SIZE]);
    let verdict = scanner().scan(&mut reader, &input("eicar.com")).await.unwrap();
    assert_eq!(verdict.outcome, infected("Builtin.Test.EICAR"));
    assert_eq!(verdict.engine, "builtin");
    assert_eq!(verdict.engine_version, "1; blocklist none");
}

#[tokio::test]
async fn builtin_finds_eicar_across_read_boundaries() {
    cases::eicar_across_read_boundaries_is_infected(&scanner()).await;
}

#[tokio::test]
async fn builtin_finds_eicar_inside_zips() {
    cases::eicar_inside_a_zip_is_infected(&scanner()).await;
    cases::a_clean_zip_is_clean(&scanner()).await;
}

#[tokio::test]
async fn builtin_finds_eicar_in_a_deflated_entry_read_one_byte_at_a_time() {
    let archive = zip(&[("eicar.com", EICAR, Method::DeflatedWithDescriptor)]);
    let mut reader = PiecewiseReader::new(archive, &[1]);
    let verdict = scanner().scan(&mut reader, &input("eicar.zip")).await.unwrap();
    assert_eq!(verdict.outcome, infected("Builtin.Test.EICAR"));
}

#[tokio::test]
async fn builtin_refuses_a_blocklisted_file() {
    let file = random_bytes(100_000, 42);
    let blocking = BuiltinScanner::new(Blocklist::new([cases::sha256(&file), [9; 32]]));
    cases::a_blocklisted_file_is_infected(&blocking, &scanner(), &file).await;
}

#[tokio::test]
async fn builtin_refuses_native_executables() {
    let mut elf = elf_header();
    elf.extend_from_slice(&random_bytes(5000, 3));
    assert_eq!(outcome_of(&scanner(), elf.clone()).await, infected("Builtin.Executable.ELF"));
    assert_eq!(outcome_of(&scanner(), pe_header()).await, infected("Builtin.Executable.PE"));
    // Shorter than the bytes kept for the magic check: judged when the stream ends.
    assert_eq!(
        outcome_of(&scanner(), b"\xcf\xfa\xed\xfe\x07\0\0\x01".to_vec()).await,
        infected("Builtin.Executable.MachO")
    );
    // Inside a zip, deflated, the entry's own start counts.
    let archive = zip(&[("readme.txt", b"hello", Method::Stored), ("setup.exe", &pe_header(), Method::Deflated)]);
    assert_eq!(outcome_of(&scanner(), archive).await, infected("Builtin.Executable.PE"));
    let archive = zip(&[("tool", &elf, Method::Stored)]);
    assert_eq!(outcome_of(&scanner(), archive).await, infected("Builtin.Executable.ELF"));
}

#[tokio::test]
async fn builtin_allows_scripts_and_documents() {
    assert_eq!(outcome_of(&scanner(), b"#!/bin/sh\necho deploy\n".to_vec()).await, Outcome::Clean);
    assert_eq!(outcome_of(&scanner(), b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec()).await, Outcome::Clean);
    // "MZ" later in a file is just text.
    assert_eq!(outcome_of(&scanner(), b"Notes on MZ headers".to_vec()).await, Outcome::Clean);
}

#[tokio::test]
async fn builtin_reports_a_decompression_bomb_instead_of_inflating_it() {
    let zeros = vec![0u8; 4 * 1024 * 1024];
    let archive = zip(&[("zeros.bin", &zeros, Method::Deflated)]);
    assert!(archive.len() < 64 * 1024, "the archive is small: {} bytes", archive.len());
    let limited = BuiltinScanner::new(Blocklist::default()).with_inflate_limit(1024 * 1024);
    assert_eq!(outcome_of(&limited, archive.clone()).await, infected("Builtin.Heuristics.Limits.Exceeded"));
    assert_eq!(outcome_of(&scanner(), archive).await, Outcome::Clean, "within the default limit it is inflated");
}

#[tokio::test]
async fn builtin_is_not_misled_by_a_fake_zip_header() {
    // A local header that claims a deflated entry, followed by bytes that are not deflate, then EICAR in the clear.
    let mut bytes = b"#PK\x03\x04\x14\0\0\0\x08\0".to_vec();
    bytes.extend_from_slice(&[0; 20]);
    bytes.extend_from_slice(&random_bytes(1000, 5));
    bytes.extend_from_slice(EICAR);
    assert_eq!(outcome_of(&scanner(), bytes).await, infected("Builtin.Test.EICAR"));
    // A stored entry claiming to be huge does not hide what follows it either.
    let mut bytes = b"#PK\x03\x04\x14\0\0\0\0\0\0\0\0\0\0\0\0\0\xff\xff\xff\x7f\xff\xff\xff\x7f\x01\0\0\0x".to_vec();
    bytes.extend_from_slice(EICAR);
    assert_eq!(outcome_of(&scanner(), bytes).await, infected("Builtin.Test.EICAR"));
}

#[tokio::test]
async fn builtin_streams_a_large_upload_in_chunks() {
    cases::a_clean_stream_is_clean_and_read_in_chunks(&scanner(), 50 * 1024 * 1024).await;
}
