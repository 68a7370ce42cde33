//! Behaviour every scanner must have, run against each adapter by `builtin.rs` and `clamd.rs`.
use lambdas::scanner::{Outcome, Scanner, Verdict};
use sha2::{Digest, Sha256};

use crate::support::*;

async fn scan_bytes(scanner: &dyn Scanner, name: &str, bytes: Vec<u8>) -> Verdict {
    let mut reader = PiecewiseReader::new(bytes, &[CHUNK_SIZE]);
    scanner.scan(&mut reader, &input(name)).await.expect("the scan finishes")
}

fn assert_infected_with(verdict: &Verdict, signature_part: &str) {
    match &verdict.outcome {
        Outcome::Infected { signature } => {
            assert!(signature.contains(signature_part), "signature {signature:?} should name {signature_part}")
        }
        Outcome::Clean => panic!("expected a finding of {signature_part}, got {verdict:?}"),
    }
}

/// The EICAR test file, alone and after other bytes.
pub async fn eicar_is_infected(scanner: &dyn Scanner) {
    let verdict = scan_bytes(scanner, "eicar.com", EICAR.to_vec()).await;
    assert_infected_with(&verdict, "EICAR");
    let mut embedded = b"some text before the test string\n".to_vec();
    embedded.extend_from_slice(EICAR);
    embedded.extend_from_slice(b"\nand after it\n");
    assert_infected_with(&scan_bytes(scanner, "notes.txt", embedded).await, "EICAR");
}

/// EICAR inside zip archives, stored and deflated, with and without a data descriptor, and one archive deep.
pub async fn eicar_inside_a_zip_is_infected(scanner: &dyn Scanner) {
    let readme: &[u8] = b"nothing to see here";
    for method in [Method::Stored, Method::Deflated, Method::DeflatedWithDescriptor] {
        let archive = zip(&[("readme.txt", readme, Method::Deflated), ("eicar.com", EICAR, method)]);
        assert_infected_with(&scan_bytes(scanner, "archive.zip", archive).await, "EICAR");
    }
    let inner = zip(&[("eicar.com", EICAR, Method::Deflated)]);
    let outer = zip(&[("inner.zip", &inner, Method::Deflated)]);
    assert_infected_with(&scan_bytes(scanner, "nested.zip", outer).await, "EICAR");
}

/// A zip of harmless files is clean.
pub async fn a_clean_zip_is_clean(scanner: &dyn Scanner) {
    let text = "a line of an ordinary document\n".repeat(4000);
    let archive = zip(&[
        ("doc.txt", text.as_bytes(), Method::Deflated),
        ("data.bin", &random_bytes(200_000, 7), Method::Stored),
        ("streamed.txt", text.as_bytes(), Method::DeflatedWithDescriptor),
    ]);
    let verdict = scan_bytes(scanner, "clean.zip", archive).await;
    assert_eq!(verdict.outcome, Outcome::Clean, "{verdict:?}");
}

/// EICAR split over reads of every awkward size, and across the scanner's own chunk boundary.
pub async fn eicar_across_read_boundaries_is_infected(scanner: &dyn Scanner) {
    for pieces in [&[1][..], &[7, 3], &[50, 1, 17]] {
        let mut bytes = random_bytes(300, 1);
        bytes.extend_from_slice(EICAR);
        bytes.extend_from_slice(&random_bytes(300, 2));
        bytes[0] = b'#';
        let mut reader = PiecewiseReader::new(bytes, pieces);
        let verdict = scanner.scan(&mut reader, &input("split.bin")).await.expect("the scan finishes");
        assert_infected_with(&verdict, "EICAR");
    }
    let mut stream = GeneratedStream::new(3 * CHUNK_SIZE as u64).with_payload_at(CHUNK_SIZE as u64 - 30, EICAR);
    let verdict = scanner.scan(&mut stream, &input("boundary.bin")).await.expect("the scan finishes");
    assert_infected_with(&verdict, "EICAR");
}

/// Megabytes of random bytes are clean, read in chunks no larger than CHUNK_SIZE (never the whole file at once).
pub async fn a_clean_stream_is_clean_and_read_in_chunks(scanner: &dyn Scanner, len: u64) {
    let mut stream = GeneratedStream::new(len);
    let verdict = scanner.scan(&mut stream, &input("random.bin")).await.expect("the scan finishes");
    assert_eq!(verdict.outcome, Outcome::Clean, "{verdict:?}");
    assert_eq!(stream.served(), len, "the whole stream is read");
    assert!(stream.largest_request <= CHUNK_SIZE, "asked for {} bytes at once", stream.largest_request);
    assert!(stream.reads > len / CHUNK_SIZE as u64, "{} reads for {len} bytes", stream.reads);
}

/// A file on the block list is refused by its SHA-256; the same bytes are otherwise clean.
pub async fn a_blocklisted_file_is_infected(blocking: &dyn Scanner, plain: &dyn Scanner, file: &[u8]) {
    let verdict = scan_bytes(blocking, "leaked.pdf", file.to_vec()).await;
    assert_infected_with(&verdict, "Builtin.Blocklist.SHA256");
    assert!(verdict.engine_version.contains("blocklist"), "{verdict:?}");
    let verdict = scan_bytes(plain, "leaked.pdf", file.to_vec()).await;
    assert_eq!(verdict.outcome, Outcome::Clean, "{verdict:?}");
    let mut changed = file.to_vec();
    changed[0] ^= 1;
    let verdict = scan_bytes(blocking, "other.pdf", changed).await;
    assert_eq!(verdict.outcome, Outcome::Clean, "one changed byte is another file: {verdict:?}");
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
