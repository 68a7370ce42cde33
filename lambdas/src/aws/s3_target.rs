//! The S3 bucket an upload event names, as the [`ScanTarget`] the scan flow reads, tags and quarantines through.
//!
//! The object is streamed from `GetObject` into the scanner (never held whole in memory, so the Lambda's memory
//! size does not bound the upload size). Quarantine is `CopyObject` (tags and metadata copied) then `DeleteObject`:
//! S3 has no move, and copying first means a failure between the two leaves the upload where it was, for the retry.
use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{MetadataDirective, ServerSideEncryption, Tag, Tagging, TaggingDirective};
use aws_sdk_s3::Client;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::flow::{ScanTarget, StoredObject, TargetError};

/// What `x-amz-copy-source` leaves unencoded in a key: RFC 3986 unreserved characters and the path separator.
const COPY_SOURCE_KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// One bucket of uploads, with where its infected uploads go.
#[derive(Debug, Clone)]
pub struct S3Target {
    client: Client,
    bucket: String,
    quarantine_bucket: Option<String>,
}

impl S3Target {
    /// Uploads in `bucket`; infected ones move to `quarantine_bucket` when given, else stay in `bucket` under the
    /// quarantine prefix (the key the flow chooses either way).
    pub fn new(client: Client, bucket: impl Into<String>, quarantine_bucket: Option<String>) -> S3Target {
        S3Target { client, bucket: bucket.into(), quarantine_bucket }
    }

    fn quarantine_bucket(&self) -> &str {
        self.quarantine_bucket.as_deref().unwrap_or(&self.bucket)
    }
}

#[async_trait]
impl ScanTarget for S3Target {
    async fn open(&self, key: &str) -> Result<StoredObject, TargetError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| store_error("reading", &self.bucket, key, e))?;
        let size = object.content_length.and_then(|len| u64::try_from(len).ok()).unwrap_or(0);
        let content_type = object.content_type.unwrap_or_default();
        Ok(StoredObject { body: Box::new(object.body.into_async_read()), content_type, size })
    }

    async fn tag(&self, key: &str, tags: &[(String, String)]) -> Result<(), TargetError> {
        let tag_set = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value are set"))
            .collect::<Vec<_>>();
        let tagging = Tagging::builder().set_tag_set(Some(tag_set)).build().expect("the tag set is set");
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| store_error("tagging", &self.bucket, key, e))?;
        Ok(())
    }

    async fn quarantine(&self, from: &str, to: &str) -> Result<(), TargetError> {
        let to_bucket = self.quarantine_bucket();
        self.client
            .copy_object()
            .copy_source(format!("{}/{}", self.bucket, utf8_percent_encode(from, COPY_SOURCE_KEY)))
            .bucket(to_bucket)
            .key(to)
            .tagging_directive(TaggingDirective::Copy)
            .metadata_directive(MetadataDirective::Copy)
            // As every other write to the uploads bucket does, so a policy that requires the header admits it.
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| store_error("copying to quarantine", &self.bucket, from, e))?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(from)
            .send()
            .await
            .map_err(|e| store_error("deleting after the copy to quarantine", &self.bucket, from, e))?;
        tracing::info!(bucket = %self.bucket, from, to_bucket, to, "moved an infected upload to quarantine");
        Ok(())
    }
}

/// A missing object (or bucket) is final: the upload was deleted or replaced before the scan, and scanning again
/// finds nothing either. Everything else (throttling, 5xx, timeouts, a dropped connection, even a denied request
/// that an operator can fix) is worth the retry Lambda gives an asynchronous invocation.
fn store_error<E, R>(action: &str, bucket: &str, key: &str, error: SdkError<E, R>) -> TargetError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(service) = &error {
        if matches!(service.err().code(), Some("NoSuchKey" | "NoSuchBucket")) {
            return TargetError::NotFound(format!("s3://{bucket}/{key}"));
        }
    }
    TargetError::Failed {
        message: format!("{action} s3://{bucket}/{key} failed: {}", DisplayErrorContext(&error)),
        retryable: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_encode_what_a_header_cannot_carry() {
        let encoded = utf8_percent_encode("uploads/a b+c/ü~x.y_z-", COPY_SOURCE_KEY).to_string();
        assert_eq!(encoded, "uploads/a%20b%2Bc/%C3%BC~x.y_z-");
    }
}
