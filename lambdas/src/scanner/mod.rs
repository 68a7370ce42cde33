//! The scanner port: every upload is streamed through a [`Scanner`] before anyone may download it, and the
//! [`Verdict`] records which engine judged it and with which signatures.
//!
//! Two adapters: [`ClamdScanner`] speaks clamd's INSTREAM protocol over TCP (production, the scan Lambda's container
//! and tests with a real clamd), and [`BuiltinScanner`] is the fallback when no clamd is configured (EICAR, a SHA-256
//! block list, native executables by magic bytes). Both read the upload in [`CHUNK_SIZE`] pieces and never hold the
//! whole file in memory. A scan that could not finish is a [`ScanError`], never a clean verdict: the caller records
//! the attachment as `failed` and retries.
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncRead;

mod blocklist;
mod builtin;
mod clamd;
mod zip_entries;

pub use blocklist::{Blocklist, BlocklistError};
pub use builtin::{BuiltinScanner, EICAR};
pub use clamd::ClamdScanner;

/// Bytes read from the upload (and sent to clamd as one INSTREAM chunk) at a time. 64 KiB keeps the per-scan memory
/// small while the syscall and framing overhead stays negligible.
pub const CHUNK_SIZE: usize = 64 * 1024;

/// What the uploader declared about the file. Used for logs only: a verdict never trusts declared metadata (the
/// upload flow compares the declared type with the sniffed one separately).
#[derive(Debug, Clone, Default)]
pub struct ScanInput {
    pub file_name: String,
    pub declared_content_type: String,
}

/// The result of a finished scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    /// `signature` is the engine's name for what it found, e.g. `Win.Test.EICAR_HDB-1` or `Builtin.Test.EICAR`.
    Infected {
        signature: String,
    },
}

/// A finished scan and who performed it, recorded on the attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// `clamav` or `builtin`.
    pub engine: String,
    /// The engine and signature database version, e.g. `1.4.6/27500/Tue Jan 6 08:24:51 2026` from clamd.
    pub engine_version: String,
}

impl Verdict {
    /// Whether the file may be served.
    pub fn is_clean(&self) -> bool {
        self.outcome == Outcome::Clean
    }
}

/// The scan did not finish; the file is neither clean nor infected.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading the upload failed: {0}")]
    Source(#[source] std::io::Error),
    #[error("clamd at {addr}: could not connect: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("clamd at {addr}: no progress within {timeout:?} while {stage}")]
    Timeout { addr: String, stage: &'static str, timeout: Duration },
    #[error("clamd at {addr}: connection failed while {stage}: {source}")]
    Io {
        addr: String,
        stage: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("clamd at {addr}: the upload is larger than clamd accepts (StreamMaxLength)")]
    SizeLimitExceeded { addr: String },
    #[error("clamd at {addr}: the scan failed: {reply}")]
    Engine { addr: String, reply: String },
    #[error("clamd at {addr}: unexpected reply {reply:?}")]
    Protocol { addr: String, reply: String },
}

impl ScanError {
    /// Whether scanning the same bytes again may succeed. Only a file over clamd's size limit fails every time;
    /// everything else (network, timeouts, a busy or restarting clamd) is worth a retry with backoff.
    pub fn is_transient(&self) -> bool {
        !matches!(self, ScanError::SizeLimitExceeded { .. })
    }
}

/// Scans an upload read from a stream.
#[async_trait]
pub trait Scanner: Send + Sync {
    /// Reads `upload` to its end (or until a finding) in chunks and judges it.
    async fn scan(&self, upload: &mut (dyn AsyncRead + Send + Unpin), input: &ScanInput) -> Result<Verdict, ScanError>;
}
