//! The production storage adapter: one S3 bucket.
//!
//! Upload URLs are presigned `PutObject` requests whose signature covers `Content-Type`, `Content-Length` and
//! `x-amz-server-side-encryption: AES256`: S3 refuses an upload that sends other values (or leaves one out), so the
//! declared type and size are what lands, and every object is encrypted at rest. Download URLs are presigned
//! `GetObject` requests with `response-content-disposition` / `response-content-type` overrides, so the API decides
//! how a file is served without proxying it.
//!
//! Server-side writes ([`Storage::put`]) stream: a body up to one part (8 MiB) is a single `PutObject`, anything
//! longer a multipart upload of 8 MiB parts, so memory stays at one part whatever the size.
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging,
};
use aws_sdk_s3::Client;
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::local::validate_tags;
use super::{
    validate_content_type, validate_expires_in, validate_header_value, validate_key, GetSpec, Object, ObjectMeta,
    PresignedRequest, PutSpec, Refusal, Storage, StorageError,
};

/// Size of each multipart part, and so the most a `put` holds in memory (S3's minimum part is 5 MiB).
const PART_SIZE: u64 = 8 * 1024 * 1024;

/// `x-amz-copy-source` is `bucket/key`, URL-encoded except for the slashes.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Objects in one bucket.
#[derive(Debug, Clone)]
pub struct S3Storage {
    client: Client,
    bucket: String,
}

/// Sorts an SDK failure: 404 is a missing object, 403 a refusal, other 4xx (except throttling and timeouts) a
/// request S3 will never accept, everything else (5xx, network, timeouts) a retryable backend error.
fn classify<E>(key: &str, operation: &str, err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.code().unwrap_or("unknown").to_owned();
    let message = err.message().unwrap_or("").to_owned();
    let status = err.raw_response().map(|r| r.status().as_u16());
    match (status, code.as_str()) {
        (_, "NoSuchBucket") => StorageError::Setup(format!("{operation}: the bucket does not exist ({message})")),
        (Some(404), _) | (_, "NoSuchKey" | "NotFound") => StorageError::NotFound { key: key.to_owned() },
        (Some(403), _) => StorageError::Forbidden(Refusal::Denied { code, message }),
        (Some(s), _) if (400..500).contains(&s) && s != 408 && s != 429 => {
            StorageError::Rejected { code, message: format!("{operation}: {message}") }
        }
        _ => {
            let detail = aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
            StorageError::Backend { message: format!("{operation} `{key}`: {detail}"), source: Some(Box::new(err)) }
        }
    }
}

fn presigning(expires_in: Duration) -> Result<(PresigningConfig, DateTime<Utc>), StorageError> {
    validate_expires_in(expires_in)?;
    // Sign from a whole second so `expires_at` is exactly what the URL's X-Amz-Date + X-Amz-Expires say.
    let start = DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now is a valid time");
    let config = PresigningConfig::builder()
        .start_time(SystemTime::from(start))
        .expires_in(expires_in)
        .build()
        .map_err(|e| StorageError::InvalidSpec { field: "expiry", reason: e.to_string() })?;
    let expires_at = start + chrono::Duration::from_std(expires_in).expect("at most 7 days");
    Ok((config, expires_at))
}

fn presigned(req: aws_sdk_s3::presigning::PresignedRequest, expires_at: DateTime<Utc>) -> PresignedRequest {
    PresignedRequest {
        method: req.method().to_owned(),
        url: req.uri().to_owned(),
        headers: req.headers().map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())).collect(),
        expires_at,
    }
}

impl S3Storage {
    /// Storage in `bucket`, with path-style addressing when the SDK config overrides the endpoint (moto,
    /// LocalStack: virtual-host style would need DNS for `bucket.localhost`).
    pub fn new(sdk: &SdkConfig, bucket: impl Into<String>) -> S3Storage {
        let path_style = sdk.endpoint_url().is_some();
        let client = Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build());
        S3Storage { client, bucket: bucket.into() }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it exists, then (every time, both are idempotent) sets default SSE-S3 encryption
    /// and blocks public access. Returns whether it was created.
    pub async fn bootstrap(&self, region: &str) -> Result<bool, StorageError> {
        let created = match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => false,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                let mut create = self.client.create_bucket().bucket(&self.bucket);
                // us-east-1 is the one region that refuses an explicit location constraint.
                if region != "us-east-1" {
                    create = create.create_bucket_configuration(
                        CreateBucketConfiguration::builder().location_constraint(region.into()).build(),
                    );
                }
                match create.send().await {
                    Ok(_) => true,
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you()) => false,
                    Err(e) => return Err(classify(&self.bucket, "CreateBucket", e)),
                }
            }
            Err(e) => return Err(classify(&self.bucket, "HeadBucket", e)),
        };
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build()
            .expect("the algorithm is set");
        let encryption = ServerSideEncryptionConfiguration::builder()
            .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build())
            .build()
            .expect("one rule is set");
        self.client
            .put_bucket_encryption()
            .bucket(&self.bucket)
            .server_side_encryption_configuration(encryption)
            .send()
            .await
            .map_err(|e| classify(&self.bucket, "PutBucketEncryption", e))?;
        let block = PublicAccessBlockConfiguration::builder()
            .block_public_acls(true)
            .ignore_public_acls(true)
            .block_public_policy(true)
            .restrict_public_buckets(true)
            .build();
        self.client
            .put_public_access_block()
            .bucket(&self.bucket)
            .public_access_block_configuration(block)
            .send()
            .await
            .map_err(|e| classify(&self.bucket, "PutPublicAccessBlock", e))?;
        Ok(created)
    }

    /// Uploads `first` and the rest of `body` as a multipart upload, aborting it on any failure so no parts linger.
    async fn put_multipart(
        &self,
        key: &str,
        first: Vec<u8>,
        body: &mut (dyn AsyncRead + Send + Unpin),
        content_type: &str,
    ) -> Result<u64, StorageError> {
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| classify(key, "CreateMultipartUpload", e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        let result = self.upload_parts(key, &upload_id, first, body).await;
        if result.is_err() {
            // Best effort: a lifecycle rule for incomplete uploads (docs/operations.md) catches what this misses.
            let _ =
                self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(&upload_id).send().await;
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        first: Vec<u8>,
        body: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<u64, StorageError> {
        let mut parts = Vec::new();
        let mut total = 0u64;
        let mut chunk = first;
        while !chunk.is_empty() {
            let number = parts.len() as i32 + 1;
            total += chunk.len() as u64;
            let part = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(|e| classify(key, "UploadPart", e))?;
            parts.push(CompletedPart::builder().part_number(number).set_e_tag(part.e_tag).build());
            chunk = read_part(key, body).await?;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| classify(key, "CompleteMultipartUpload", e))?;
        Ok(total)
    }
}

/// Up to [`PART_SIZE`] bytes of `body`; fewer only at its end.
async fn read_part(key: &str, body: &mut (dyn AsyncRead + Send + Unpin)) -> Result<Vec<u8>, StorageError> {
    let mut chunk = Vec::with_capacity(PART_SIZE as usize);
    body.take(PART_SIZE)
        .read_to_end(&mut chunk)
        .await
        .map_err(|e| StorageError::backend(format!("reading the body for `{key}`"), e))?;
    Ok(chunk)
}

#[async_trait]
impl Storage for S3Storage {
    async fn presign_put(&self, key: &str, spec: PutSpec) -> Result<PresignedRequest, StorageError> {
        validate_key(key)?;
        validate_content_type(&spec.content_type)?;
        let length = i64::try_from(spec.content_length)
            .map_err(|_| StorageError::InvalidSpec { field: "content length", reason: "too large".into() })?;
        let (config, expires_at) = presigning(spec.expires_in)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(&spec.content_type)
            .content_length(length)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .presigned(config)
            .await
            .map_err(|e| classify(key, "presigning PutObject", e))?;
        Ok(presigned(req, expires_at))
    }

    async fn presign_get(&self, key: &str, spec: GetSpec) -> Result<PresignedRequest, StorageError> {
        validate_key(key)?;
        if let Some(d) = &spec.content_disposition {
            validate_header_value("content disposition", d)?;
        }
        if let Some(ct) = &spec.response_content_type {
            validate_content_type(ct)?;
        }
        let (config, expires_at) = presigning(spec.expires_in)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_response_content_disposition(spec.content_disposition)
            .set_response_content_type(spec.response_content_type)
            .presigned(config)
            .await
            .map_err(|e| classify(key, "presigning GetObject", e))?;
        Ok(presigned(req, expires_at))
    }

    async fn open(&self, key: &str) -> Result<Object, StorageError> {
        validate_key(key)?;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(key, "GetObject", e))?;
        let meta = ObjectMeta {
            size: out.content_length().unwrap_or(0).max(0) as u64,
            content_type: out.content_type().unwrap_or(DEFAULT_CONTENT_TYPE).to_owned(),
        };
        Ok(Object { body: Box::pin(out.body.into_async_read()), meta })
    }

    async fn put(
        &self,
        key: &str,
        body: &mut (dyn AsyncRead + Send + Unpin),
        content_type: &str,
    ) -> Result<ObjectMeta, StorageError> {
        validate_key(key)?;
        validate_content_type(content_type)?;
        let first = read_part(key, body).await?;
        let size = if (first.len() as u64) < PART_SIZE {
            let size = first.len() as u64;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .server_side_encryption(ServerSideEncryption::Aes256)
                .body(ByteStream::from(first))
                .send()
                .await
                .map_err(|e| classify(key, "PutObject", e))?;
            size
        } else {
            self.put_multipart(key, first, body, content_type).await?
        };
        Ok(ObjectMeta { size, content_type: content_type.to_owned() })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        validate_key(key)?;
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(ObjectMeta {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                content_type: out.content_type().unwrap_or(DEFAULT_CONTENT_TYPE).to_owned(),
            })),
            Err(e) => match classify(key, "HeadObject", e) {
                StorageError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(key, "DeleteObject", e))?;
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        validate_key(from)?;
        validate_key(to)?;
        let source = utf8_percent_encode(&format!("{}/{from}", self.bucket), COPY_SOURCE).to_string();
        // The metadata and tagging directives default to COPY: type and tags travel with the bytes.
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .map_err(|e| classify(from, "CopyObject", e))?;
        Ok(())
    }

    async fn set_tags(&self, key: &str, tags: &[(String, String)]) -> Result<(), StorageError> {
        validate_key(key)?;
        validate_tags(tags)?;
        let tag_set =
            tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value are set")).collect();
        let tagging = Tagging::builder().set_tag_set(Some(tag_set)).build().expect("the tag set is set");
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| classify(key, "PutObjectTagging", e))?;
        Ok(())
    }

    async fn tags(&self, key: &str) -> Result<Vec<(String, String)>, StorageError> {
        validate_key(key)?;
        let out = self
            .client
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify(key, "GetObjectTagging", e))?;
        let mut tags: Vec<(String, String)> =
            out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
        tags.sort();
        Ok(tags)
    }
}

/// What S3 answers for an object stored without a type; it always stores one, so this only covers odd stand-ins.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";
