//! One scan of one stored upload: stream it through the scanner while hashing it and keeping its first bytes for
//! sniffing, tag the object with the verdict, move an infected object to quarantine, and say what happened in a
//! [`ScanReport`]. The store is a [`ScanTarget`]: S3 in the Lambda, the configured storage port in `serve`.
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, ReadBuf};

use crate::keys::UploadKey;
use crate::report::{ScanOutcome, ScanReport};
use crate::scanner::{Outcome, ScanInput, Scanner};
use crate::sniff::{sniff, HEAD_LEN};

/// Object tag keys written on every scanned upload.
pub const TAG_VERDICT: &str = "taskforge-scan";
pub const TAG_ENGINE: &str = "taskforge-engine";
pub const TAG_SIGNATURE: &str = "taskforge-signature";

/// A stored object opened for reading.
pub struct StoredObject {
    pub body: Box<dyn AsyncRead + Send + Unpin>,
    /// The stored `Content-Type`: the declared one, which the upload URL's signature enforced.
    pub content_type: String,
    pub size: u64,
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("no object `{0}`")]
    NotFound(String),
    #[error("{message}")]
    Failed { message: String, retryable: bool },
}

impl TargetError {
    fn retryable(&self) -> bool {
        match self {
            TargetError::NotFound(_) => false,
            TargetError::Failed { retryable, .. } => *retryable,
        }
    }
}

/// The object store a scan reads from and writes its verdict to.
#[async_trait]
pub trait ScanTarget: Send + Sync {
    async fn open(&self, key: &str) -> Result<StoredObject, TargetError>;
    /// Replaces the object's tags.
    async fn tag(&self, key: &str, tags: &[(String, String)]) -> Result<(), TargetError>;
    /// Moves the object (with its tags) from `from` to `to`.
    async fn quarantine(&self, from: &str, to: &str) -> Result<(), TargetError>;
}

/// Scans the upload at `key`. Never fails: anything that stops the scan is a report with outcome `failed`, saying
/// whether another attempt may succeed.
pub async fn scan_object(target: &dyn ScanTarget, scanner: &dyn Scanner, key: &UploadKey) -> ScanReport {
    let object_key = key.key();
    let failed = |e: TargetError| ScanReport::failed(&object_key, e.to_string(), e.retryable());
    let object = match target.open(&object_key).await {
        Ok(object) => object,
        Err(e) => return failed(e),
    };
    let input = ScanInput { file_name: object_key.clone(), declared_content_type: object.content_type.clone() };
    let mut reader = Inspecting::new(object.body);
    let verdict = match scanner.scan(&mut reader, &input).await {
        Ok(verdict) => verdict,
        Err(e) => return ScanReport::failed(&object_key, e.to_string(), e.is_transient()),
    };
    let (outcome, signature) = match &verdict.outcome {
        Outcome::Clean => (ScanOutcome::Clean, None),
        Outcome::Infected { signature } => (ScanOutcome::Infected, Some(signature.clone())),
    };
    // A clean verdict means the scanner read everything; drain what it may have left (nothing, normally) so the
    // digest and size cover the whole file.
    let (sha256, size) = if outcome == ScanOutcome::Clean {
        if let Err(e) = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await {
            return ScanReport::failed(&object_key, format!("reading the upload failed: {e}"), true);
        }
        (Some(hex::encode(reader.hasher.clone().finalize())), Some(reader.read))
    } else {
        (None, None)
    };
    let sniffed_type = sniff(&reader.head).map(str::to_owned);

    let mut tags = vec![
        (TAG_VERDICT.to_owned(), if outcome == ScanOutcome::Clean { "clean" } else { "infected" }.to_owned()),
        (TAG_ENGINE.to_owned(), tag_value(&format!("{} {}", verdict.engine, verdict.engine_version))),
    ];
    if let Some(signature) = &signature {
        tags.push((TAG_SIGNATURE.to_owned(), tag_value(signature)));
    }
    if let Err(e) = target.tag(&object_key, &tags).await {
        return failed(e);
    }
    let quarantine_key = if outcome == ScanOutcome::Infected {
        let to = key.quarantine_key();
        if let Err(e) = target.quarantine(&object_key, &to).await {
            // Not yet quarantined: not a finished scan. The retry finds the object where it was.
            return failed(e);
        }
        Some(to)
    } else {
        None
    };
    ScanReport {
        key: object_key,
        outcome,
        signature,
        engine: Some(verdict.engine),
        engine_version: Some(verdict.engine_version),
        sha256,
        size,
        sniffed_type,
        quarantine_key,
        error: None,
        retryable: false,
        scanned_at: Utc::now(),
    }
}

/// S3 tag values allow letters, digits, spaces and `+ - = . _ : / @`, up to 256 characters.
fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || " +-=._:/@".contains(c) { c } else { '_' })
        .take(256)
        .collect()
}

/// Passes the upload through to the scanner, hashing every byte and keeping the first [`HEAD_LEN`].
struct Inspecting<R> {
    inner: R,
    hasher: Sha256,
    head: Vec<u8>,
    read: u64,
}

impl<R> Inspecting<R> {
    fn new(inner: R) -> Self {
        Inspecting { inner, hasher: Sha256::new(), head: Vec::with_capacity(HEAD_LEN), read: 0 }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Inspecting<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let new = &buf.filled()[before..];
            let this = &mut *self;
            this.hasher.update(new);
            this.read += new.len() as u64;
            let room = HEAD_LEN.saturating_sub(this.head.len());
            this.head.extend_from_slice(&new[..room.min(new.len())]);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use uuid::Uuid;

    use super::*;
    use crate::scanner::{Blocklist, BuiltinScanner, EICAR};

    type Tags = Vec<(String, String)>;

    /// Objects in memory, with their tags; `fail_tagging` makes every tag call fail.
    #[derive(Default)]
    struct MemoryTarget {
        objects: Mutex<HashMap<String, (Vec<u8>, Tags)>>,
        fail_tagging: bool,
    }

    #[async_trait]
    impl ScanTarget for MemoryTarget {
        async fn open(&self, key: &str) -> Result<StoredObject, TargetError> {
            let bytes = self.objects.lock().unwrap().get(key).map(|o| o.0.clone());
            let bytes = bytes.ok_or_else(|| TargetError::NotFound(key.to_owned()))?;
            Ok(StoredObject {
                size: bytes.len() as u64,
                body: Box::new(std::io::Cursor::new(bytes)),
                content_type: "text/plain".into(),
            })
        }
        async fn tag(&self, key: &str, tags: &[(String, String)]) -> Result<(), TargetError> {
            if self.fail_tagging {
                return Err(TargetError::Failed { message: "tagging is down".into(), retryable: true });
            }
            let mut objects = self.objects.lock().unwrap();
            objects.get_mut(key).ok_or_else(|| TargetError::NotFound(key.to_owned()))?.1 = tags.to_vec();
            Ok(())
        }
        async fn quarantine(&self, from: &str, to: &str) -> Result<(), TargetError> {
            let mut objects = self.objects.lock().unwrap();
            let object = objects.remove(from).ok_or_else(|| TargetError::NotFound(from.to_owned()))?;
            objects.insert(to.to_owned(), object);
            Ok(())
        }
    }

    fn target_with(key: &UploadKey, bytes: &[u8]) -> MemoryTarget {
        let target = MemoryTarget::default();
        target.objects.lock().unwrap().insert(key.key(), (bytes.to_vec(), Vec::new()));
        target
    }

    fn scanner() -> BuiltinScanner {
        BuiltinScanner::new(Blocklist::default())
    }

    fn key() -> UploadKey {
        UploadKey::new(Uuid::now_v7(), Uuid::now_v7())
    }

    #[tokio::test]
    async fn a_clean_file_is_hashed_sniffed_and_tagged_clean() {
        let key = key();
        let body = "hello, world\n".repeat(20_000);
        let target = target_with(&key, body.as_bytes());
        let report = scan_object(&target, &scanner(), &key).await;
        assert_eq!(report.outcome, ScanOutcome::Clean, "{report:?}");
        assert_eq!(report.size, Some(body.len() as u64));
        assert_eq!(report.sha256.as_deref(), Some(hex::encode(Sha256::digest(body.as_bytes())).as_str()));
        assert_eq!(report.sniffed_type.as_deref(), Some("text/plain"));
        assert_eq!(report.engine.as_deref(), Some("builtin"));
        let objects = target.objects.lock().unwrap();
        let tags = &objects[&key.key()].1;
        assert!(tags.contains(&(TAG_VERDICT.into(), "clean".into())), "{tags:?}");
    }

    #[tokio::test]
    async fn an_infected_file_is_tagged_and_moved_to_quarantine() {
        let key = key();
        let target = target_with(&key, EICAR);
        let report = scan_object(&target, &scanner(), &key).await;
        assert_eq!(report.outcome, ScanOutcome::Infected, "{report:?}");
        assert_eq!(report.quarantine_key, Some(key.quarantine_key()));
        assert!(report.signature.is_some());
        let objects = target.objects.lock().unwrap();
        assert!(!objects.contains_key(&key.key()), "the upload is gone from its place");
        let tags = &objects[&key.quarantine_key()].1;
        assert!(tags.contains(&(TAG_VERDICT.into(), "infected".into())), "{tags:?}");
    }

    #[tokio::test]
    async fn a_store_failure_is_a_failed_scan_never_a_verdict() {
        let key = key();
        let target = MemoryTarget { fail_tagging: true, ..target_with(&key, EICAR) };
        let report = scan_object(&target, &scanner(), &key).await;
        assert_eq!((report.outcome, report.retryable), (ScanOutcome::Failed, true), "{report:?}");
        assert!(target.objects.lock().unwrap().contains_key(&key.key()), "not quarantined, so still in place");

        let missing = scan_object(&MemoryTarget::default(), &scanner(), &key).await;
        assert_eq!((missing.outcome, missing.retryable), (ScanOutcome::Failed, false), "{missing:?}");
    }

    #[test]
    fn tag_values_keep_to_what_s3_accepts() {
        assert_eq!(tag_value("clamav 1.4.6/27500/Tue Jan 6"), "clamav 1.4.6/27500/Tue Jan 6");
        assert_eq!(tag_value("Win.Test.EICAR_HDB-1 (x)"), "Win.Test.EICAR_HDB-1 _x_");
        assert_eq!(tag_value(&"a".repeat(300)).len(), 256);
    }
}
