//! The built-in scanner, used when no clamd is configured. It is a policy filter, not an antivirus engine:
//!
//! - the EICAR test file anywhere in the upload (so the whole pipeline can be tested end to end), also inside zip
//!   archives: stored entries are seen verbatim, deflated entries are inflated while streaming;
//! - native executables by magic bytes, at the start of the upload or of a zip entry: PE/DOS (`MZ`), ELF
//!   (`\x7fELF`), Mach-O (thin and universal). Scripts (`#!`) are allowed: they are text, people attach them to
//!   tasks on purpose, and a browser never runs a download;
//! - the SHA-256 block list, against the whole upload.
//!
//! Limits, by design: archives are followed three levels deep; encrypted entries and formats other than zip are
//! not opened; more than [`DEFAULT_INFLATE_LIMIT`] inflated bytes in one upload is reported as
//! `Builtin.Heuristics.Limits.Exceeded` rather than scanned further (a decompression bomb must not be served
//! unexamined, and this is what clamd's `AlertExceedsMax` does).
use async_trait::async_trait;
use memchr::memmem;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::blocklist::BLOCKLIST_SIGNATURE;
use super::zip_entries::ZipWalker;
use super::{Blocklist, Outcome, ScanError, ScanInput, Scanner, Verdict, CHUNK_SIZE};

/// Version of the built-in rules; bump it whenever what they detect changes, so verdicts say which rules judged.
pub const RULES_VERSION: &str = "1";

/// Inflated bytes one upload may produce before it counts as a decompression bomb.
pub const DEFAULT_INFLATE_LIMIT: u64 = 256 * 1024 * 1024;

/// The 68-byte EICAR test file (eicar.org): harmless, and detected by every engine.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// How deep archives inside archives are followed.
const MAX_ARCHIVE_DEPTH: u8 = 3;

/// Bytes kept from the start of a file for the magic checks; a PE header is normally within the first few hundred.
const HEAD_LEN: usize = 1024;

/// Scans with the built-in rules.
#[derive(Debug, Clone)]
pub struct BuiltinScanner {
    blocklist: Blocklist,
    inflate_limit: u64,
}

impl BuiltinScanner {
    pub fn new(blocklist: Blocklist) -> Self {
        BuiltinScanner { blocklist, inflate_limit: DEFAULT_INFLATE_LIMIT }
    }

    /// Changes how many inflated bytes one upload may produce (see [`DEFAULT_INFLATE_LIMIT`]).
    pub fn with_inflate_limit(mut self, bytes: u64) -> Self {
        self.inflate_limit = bytes;
        self
    }

    fn engine_version(&self) -> String {
        format!("{RULES_VERSION}; blocklist {}", self.blocklist.fingerprint())
    }
}

#[async_trait]
impl Scanner for BuiltinScanner {
    async fn scan(&self, upload: &mut (dyn AsyncRead + Send + Unpin), input: &ScanInput) -> Result<Verdict, ScanError> {
        let mut chunk = vec![0u8; CHUNK_SIZE];
        let mut hasher = Sha256::new();
        let mut inspector = Inspector::new(0);
        let mut budget = InflateBudget { remaining: self.inflate_limit };
        let finding = loop {
            let n = upload.read(&mut chunk).await.map_err(ScanError::Source)?;
            if n == 0 {
                break inspector.finish(&mut budget);
            }
            hasher.update(&chunk[..n]);
            // A finding ends the scan early: the rest of the upload cannot make it clean.
            if let Some(found) = inspector.feed(&chunk[..n], &mut budget) {
                break Some(found);
            }
        };
        let outcome = match finding {
            Some(signature) => Outcome::Infected { signature: signature.to_owned() },
            None if self.blocklist.contains(&hasher.finalize().into()) => {
                Outcome::Infected { signature: BLOCKLIST_SIGNATURE.into() }
            }
            None => Outcome::Clean,
        };
        tracing::debug!(
            file_name = %input.file_name,
            declared_content_type = %input.declared_content_type,
            ?outcome,
            "built-in scanner judged an upload"
        );
        Ok(Verdict { outcome, engine: "builtin".into(), engine_version: self.engine_version() })
    }
}

/// What one upload may still inflate, shared by every archive level.
pub(super) struct InflateBudget {
    pub(super) remaining: u64,
}

pub(super) const LIMITS_EXCEEDED: &str = "Builtin.Heuristics.Limits.Exceeded";

/// Incremental checks over one byte stream: the upload itself, or one entry of an archive inside it.
pub(super) struct Inspector {
    /// The first [`HEAD_LEN`] bytes, until the magic check ran.
    head: Vec<u8>,
    head_checked: bool,
    /// The last `EICAR.len() - 1` bytes seen, so a match across two chunks is found.
    eicar_tail: Vec<u8>,
    zip: Option<Box<ZipWalker>>,
}

impl Inspector {
    pub(super) fn new(depth: u8) -> Self {
        Inspector {
            head: Vec::new(),
            head_checked: false,
            eicar_tail: Vec::with_capacity(EICAR.len()),
            zip: (depth < MAX_ARCHIVE_DEPTH).then(|| Box::new(ZipWalker::new(depth + 1))),
        }
    }

    /// Examines the next bytes; returns the signature name of a finding.
    pub(super) fn feed(&mut self, data: &[u8], budget: &mut InflateBudget) -> Option<&'static str> {
        if !self.head_checked {
            let take = (HEAD_LEN - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            if self.head.len() == HEAD_LEN {
                if let Some(found) = self.check_head() {
                    return Some(found);
                }
            }
        }
        if self.find_eicar(data) {
            return Some("Builtin.Test.EICAR");
        }
        match &mut self.zip {
            Some(zip) => zip.feed(data, budget),
            None => None,
        }
    }

    /// The stream ended: runs the checks that waited for more bytes.
    pub(super) fn finish(&mut self, budget: &mut InflateBudget) -> Option<&'static str> {
        if !self.head_checked {
            if let Some(found) = self.check_head() {
                return Some(found);
            }
        }
        match &mut self.zip {
            Some(zip) => zip.finish(budget),
            None => None,
        }
    }

    fn check_head(&mut self) -> Option<&'static str> {
        self.head_checked = true;
        let found = executable_kind(&self.head);
        self.head = Vec::new();
        found
    }

    fn find_eicar(&mut self, data: &[u8]) -> bool {
        let keep = EICAR.len() - 1;
        if !self.eicar_tail.is_empty() {
            // Only a match that starts in the tail and ends in `data` is new here.
            let mut seam = self.eicar_tail.clone();
            seam.extend_from_slice(&data[..keep.min(data.len())]);
            if memmem::find(&seam, EICAR).is_some() {
                return true;
            }
        }
        if memmem::find(data, EICAR).is_some() {
            return true;
        }
        if data.len() >= keep {
            self.eicar_tail.clear();
            self.eicar_tail.extend_from_slice(&data[data.len() - keep..]);
        } else {
            self.eicar_tail.extend_from_slice(data);
            let excess = self.eicar_tail.len().saturating_sub(keep);
            self.eicar_tail.drain(..excess);
        }
        false
    }
}

/// Names a native executable by its first bytes.
fn executable_kind(head: &[u8]) -> Option<&'static str> {
    let u32_be = |at: usize| head.get(at..at + 4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
    if head.starts_with(b"MZ") {
        // e_lfanew at 0x3c points at the PE signature; without one it is a DOS executable, blocked all the same.
        let pe_offset = head.get(0x3c..0x40).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
        let is_pe = pe_offset.and_then(|at| head.get(at..at + 4)).is_some_and(|sig| sig == b"PE\0\0");
        return Some(if is_pe { "Builtin.Executable.PE" } else { "Builtin.Executable.MZ" });
    }
    if head.starts_with(b"\x7fELF") {
        return Some("Builtin.Executable.ELF");
    }
    match u32_be(0) {
        Some(0xfeed_face | 0xfeed_facf | 0xcefa_edfe | 0xcffa_edfe) => Some("Builtin.Executable.MachO"),
        // 0xcafebabe is also a Java class file; there the next word holds the class version (45 and up), in a
        // universal binary the number of architectures.
        Some(0xcafe_babe) if u32_be(4).is_some_and(|archs| (1..45).contains(&archs)) => {
            Some("Builtin.Executable.MachO")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_are_named_by_their_magic_bytes() {
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(executable_kind(&pe), Some("Builtin.Executable.PE"));
        assert_eq!(executable_kind(b"MZ\x90\0"), Some("Builtin.Executable.MZ"));
        assert_eq!(executable_kind(b"\x7fELF\x02\x01\x01"), Some("Builtin.Executable.ELF"));
        assert_eq!(executable_kind(&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]), Some("Builtin.Executable.MachO"));
        assert_eq!(executable_kind(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]), Some("Builtin.Executable.MachO"));
        // A Java class file (major version 65) and a script are not native executables.
        assert_eq!(executable_kind(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 65]), None);
        assert_eq!(executable_kind(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(executable_kind(b"%PDF-1.7"), None);
        assert_eq!(executable_kind(b""), None);
    }
}
