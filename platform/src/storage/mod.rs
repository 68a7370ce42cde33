//! The storage port: where attachment bytes, thumbnails and reports live, and how clients reach them without the
//! bytes passing through the API.
//!
//! Uploads and downloads go straight between the client and the store through short-lived signed URLs
//! ([`Storage::presign_put`], [`Storage::presign_get`]); the server itself only streams objects in and out
//! ([`Storage::open`], [`Storage::put`]) for scans, thumbnails and reports, never holding a whole file in memory.
//!
//! Two adapters: [`S3Storage`] (presigned S3 requests, SSE-S3 encryption, content type and length signed so the
//! client must send exactly what was declared) and [`LocalStorage`] (files under `{data_dir}/blobs/`, URLs to the
//! API's own `/api/v1/blobs/{key}` endpoint carrying an HMAC signature that the handler checks with
//! [`LocalStorage::verify_put`] / [`LocalStorage::verify_get`]).
//!
//! Keys are validated the same way for both ([`validate_key`]): relative, `/`-separated, no empty, `.` or `..`
//! segment, no backslash and no control character, so a key can never name a file outside the blob directory.
mod key;
mod local;
mod s3;
mod scan_target;
mod signed_url;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::io::AsyncRead;

use crate::config::StorageKind;
use crate::Config;

pub use key::validate_key;
pub use local::{blobs_dir, LocalStorage};
pub use s3::S3Storage;
pub use scan_target::StorageScanTarget;
pub use signed_url::{BlobQuery, GetGrant, PutGrant, BLOB_ROUTE};

/// The longest validity a signed URL may have (the S3 SigV4 limit).
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(7 * 24 * 3600);

/// What an upload URL commits the uploader to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutSpec {
    /// `type/subtype` with optional parameters; the upload must send exactly this `Content-Type`.
    pub content_type: String,
    /// The upload must be exactly this many bytes.
    pub content_length: u64,
    pub expires_in: Duration,
}

/// What a download URL answers with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetSpec {
    pub expires_in: Duration,
    /// The `Content-Disposition` the download is served with, e.g. `attachment; filename="a.pdf"`.
    pub content_disposition: Option<String>,
    /// Overrides the stored content type in the response.
    pub response_content_type: Option<String>,
}

/// A request a client can make on its own until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedRequest {
    /// `PUT` or `GET`.
    pub method: String,
    pub url: String,
    /// Headers the client must send as given (they are part of the signature).
    pub headers: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// What the store knows about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub content_type: String,
}

/// An object opened for reading: a stream of its bytes and what they are.
pub struct Object {
    pub body: Pin<Box<dyn AsyncRead + Send>>,
    pub meta: ObjectMeta,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object").field("meta", &self.meta).finish_non_exhaustive()
    }
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The signature does not match the URL (tampered with, or made with another key).
    BadSignature,
    /// The URL is missing a field its kind of request needs.
    Malformed(&'static str),
    /// The request's `Content-Type` differs from the signed one.
    ContentTypeMismatch { signed: String, sent: String },
    /// The request's length differs from the signed one.
    ContentLengthMismatch { signed: u64, sent: u64 },
    /// The store said no (S3 `AccessDenied`, an expired or mis-signed presigned request).
    Denied { code: String, message: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::BadSignature => f.write_str("the signature does not match"),
            Refusal::Malformed(what) => write!(f, "the signed URL is malformed: {what}"),
            Refusal::ContentTypeMismatch { signed, sent } => {
                write!(f, "Content-Type `{sent}` differs from the signed `{signed}`")
            }
            Refusal::ContentLengthMismatch { signed, sent } => {
                write!(f, "the body of {sent} bytes differs from the signed length {signed}")
            }
            Refusal::Denied { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no object `{key}`")]
    NotFound { key: String },
    /// A signed URL past its expiry.
    #[error("the signed URL expired at {expired_at}")]
    Expired { expired_at: DateTime<Utc> },
    /// The store (or our own signature check) refused the request; repeating it will not help.
    #[error("forbidden: {0}")]
    Forbidden(Refusal),
    #[error("invalid storage key `{key}`: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    /// A spec value that cannot be signed (content type, expiry).
    #[error("invalid {field}: {reason}")]
    InvalidSpec { field: &'static str, reason: String },
    /// The store refused the request as invalid; repeating it will not help.
    #[error("the storage service refused the request ({code}): {message}")]
    Rejected { code: String, message: String },
    /// The adapter could not be set up (missing bucket, unreadable secret key).
    #[error("storage setup: {0}")]
    Setup(String),
    /// I/O or the service failed; a later attempt may succeed.
    #[error("storage backend: {message}")]
    Backend {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StorageError {
    /// Whether retrying the same operation later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Backend { .. })
    }

    pub(crate) fn backend(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        StorageError::Backend { message: message.into(), source: Some(Box::new(source)) }
    }
}

/// Object storage: signed URLs for clients, streams for the server.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// A URL the client PUTs exactly `spec.content_length` bytes of `spec.content_type` to.
    async fn presign_put(&self, key: &str, spec: PutSpec) -> Result<PresignedRequest, StorageError>;

    /// A URL the client GETs the object from.
    async fn presign_get(&self, key: &str, spec: GetSpec) -> Result<PresignedRequest, StorageError>;

    /// The object's bytes as a stream, with its size and type.
    async fn open(&self, key: &str) -> Result<Object, StorageError>;

    /// Stores everything `body` yields under `key` (replacing any object there), and returns what was stored. The
    /// body is streamed: memory use is bounded whatever its size.
    async fn put(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        content_type: &str,
    ) -> Result<ObjectMeta, StorageError>;

    /// The object's size and type, or `None` when there is none.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError>;

    /// Removes the object; removing a missing object succeeds (as in S3), so retries are harmless.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Copies the object with its type and tags to `to` (replacing any object there).
    async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError>;

    /// Moves the object with its type and tags to `to`, e.g. into quarantine.
    async fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.copy(from, to).await?;
        self.delete(from).await
    }

    /// Replaces the object's tags (S3 object tagging: at most 10, keys ≤ 128 and values ≤ 256 characters).
    async fn set_tags(&self, key: &str, tags: &[(String, String)]) -> Result<(), StorageError>;

    /// The object's tags, sorted by key.
    async fn tags(&self, key: &str) -> Result<Vec<(String, String)>, StorageError>;
}

/// The adapter `config.storage` names.
pub async fn storage_from_config(config: &Config) -> Result<Arc<dyn Storage>, StorageError> {
    Ok(match config.storage {
        StorageKind::Local => Arc::new(LocalStorage::from_config(config)?),
        StorageKind::S3 => {
            let bucket = config.s3_bucket.clone().ok_or_else(|| StorageError::Setup("s3_bucket is not set".into()))?;
            Arc::new(S3Storage::new(&crate::aws::sdk_config(config).await, bucket))
        }
    })
}

/// Checks a content type before it is signed: `type/subtype` (RFC 9110 tokens) with optional parameters, no control
/// characters, at most 255 bytes.
pub fn validate_content_type(content_type: &str) -> Result<(), StorageError> {
    let invalid = |reason: &str| StorageError::InvalidSpec { field: "content type", reason: reason.to_owned() };
    if content_type.len() > 255 {
        return Err(invalid("longer than 255 bytes"));
    }
    if content_type.chars().any(|c| c.is_control() || !c.is_ascii()) {
        return Err(invalid("contains control or non-ASCII characters"));
    }
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let is_token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
    match essence.split_once('/') {
        Some((kind, subtype)) if is_token(kind) && is_token(subtype) => Ok(()),
        _ => Err(invalid(&format!("`{content_type}` is not type/subtype"))),
    }
}

/// Checks a URL lifetime: at least a second, at most [`MAX_EXPIRES_IN`].
fn validate_expires_in(expires_in: Duration) -> Result<(), StorageError> {
    if expires_in < Duration::from_secs(1) || expires_in > MAX_EXPIRES_IN {
        return Err(StorageError::InvalidSpec {
            field: "expiry",
            reason: format!("{expires_in:?} is outside 1 s ..= 7 days"),
        });
    }
    Ok(())
}

/// A header-safe value: no control characters (so it cannot split a header or a signed message).
fn validate_header_value(field: &'static str, value: &str) -> Result<(), StorageError> {
    if value.chars().any(char::is_control) || value.len() > 1024 {
        return Err(StorageError::InvalidSpec { field, reason: "control characters or longer than 1024 bytes".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_must_be_type_and_subtype_without_control_characters() {
        for ok in ["image/png", "text/plain; charset=utf-8", "application/vnd.ms-excel", "application/x-7z-compressed"]
        {
            validate_content_type(ok).unwrap();
        }
        for bad in ["", "png", "image/", "/png", "text/plain\r\nX-Evil: 1", "image/pñg", "a b/c"] {
            assert!(validate_content_type(bad).is_err(), "{bad:?}");
        }
    }
}
