//! The Lambda's work for one invocation: each `ObjectCreated` record of an S3 event notification names an upload;
//! scan it, and send what the scan found to the `scans` queue, where a worker records it on the attachment.
//!
//! S3 invokes the function asynchronously, so an error returned here makes Lambda run the same event again (twice
//! by default, with backoff). The handler returns one when a scan failed in a way another attempt may fix, or a
//! result could not be sent, after it has sent every report it could: the worker then shows the attachment as
//! `failed` until the retry's report replaces it. Records that are not uploads are skipped, never retried.
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use aws_sdk_sqs::error::DisplayErrorContext;
use lambda_runtime::Diagnostic;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::event_key::decode_event_key;
use super::s3_target::S3Target;
use super::settings::{Settings, SettingsError};
use crate::flow::scan_object;
use crate::keys::UploadKey;
use crate::report::{job_message, ScanOutcome};
use crate::scanner::Scanner;

/// What one invocation did, returned to Lambda (and shown in the function's logs and test console).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSummary {
    pub clean: u32,
    pub infected: u32,
    pub failed: u32,
    /// Decoded keys of the records that were not scanned: other event types, objects outside `uploads/`.
    pub skipped: Vec<String>,
}

/// The invocation did not finish its work; Lambda retries the whole event.
#[derive(Debug, thiserror::Error)]
pub enum ScanEventError {
    #[error("the payload is not an S3 event notification: {0}")]
    NotAnS3Event(String),
    #[error("{} upload(s) need another attempt: {}", .failures.len(), .failures.join("; "))]
    Retry { failures: Vec<String>, summary: ScanSummary },
}

impl From<ScanEventError> for Diagnostic {
    fn from(error: ScanEventError) -> Diagnostic {
        let error_type = match error {
            ScanEventError::NotAnS3Event(_) => "NotAnS3Event",
            ScanEventError::Retry { .. } => "ScanRetry",
        };
        Diagnostic { error_type: error_type.into(), error_message: error.to_string() }
    }
}

/// The scan Lambda: S3 to read uploads from, SQS to report to, and the scanner that judges.
pub struct ScanLambda {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    scanner: Arc<dyn Scanner>,
    settings: Settings,
}

impl ScanLambda {
    pub fn new(
        s3: aws_sdk_s3::Client,
        sqs: aws_sdk_sqs::Client,
        scanner: Arc<dyn Scanner>,
        settings: Settings,
    ) -> ScanLambda {
        ScanLambda { s3, sqs, scanner, settings }
    }

    /// Configured from the environment: [`Settings`] and the SDK's own variables.
    pub async fn from_env() -> Result<ScanLambda, SettingsError> {
        let settings = Settings::from_env()?;
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        Ok(ScanLambda::new(s3_client(&sdk), aws_sdk_sqs::Client::new(&sdk), settings.scanner(), settings))
    }

    /// Handles the raw invocation payload. Besides event notifications, S3 may send an `s3:TestEvent` when the
    /// notification is configured; it has no records and is acknowledged as such.
    pub async fn handle_payload(&self, payload: serde_json::Value) -> Result<ScanSummary, ScanEventError> {
        if payload.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent") {
            tracing::info!("acknowledged the S3 test event");
            return Ok(ScanSummary::default());
        }
        let event: S3Event =
            serde_json::from_value(payload).map_err(|e| ScanEventError::NotAnS3Event(e.to_string()))?;
        self.handle(event).await
    }

    /// Scans every upload the event names and reports each result to the scans queue.
    pub async fn handle(&self, event: S3Event) -> Result<ScanSummary, ScanEventError> {
        let mut summary = ScanSummary::default();
        let mut failures = Vec::new();
        for record in event.records {
            let Some((bucket, upload)) = upload_of(&record, &mut summary) else { continue };
            let span = tracing::info_span!("scan", %bucket, key = %upload.key(), org_id = %upload.org_id);
            if let Some(failure) = self.scan_and_report(&bucket, &upload, &mut summary).instrument(span).await {
                failures.push(failure);
            }
        }
        if failures.is_empty() {
            Ok(summary)
        } else {
            Err(ScanEventError::Retry { failures, summary })
        }
    }

    /// Scans one upload and sends its report; says why when the upload needs another attempt.
    async fn scan_and_report(&self, bucket: &str, upload: &UploadKey, summary: &mut ScanSummary) -> Option<String> {
        let target = S3Target::new(self.s3.clone(), bucket, self.settings.quarantine_bucket.clone());
        let report = scan_object(&target, self.scanner.as_ref(), upload).await;
        let mut retry = None;
        match report.outcome {
            ScanOutcome::Clean => {
                summary.clean += 1;
                tracing::info!(sha256 = report.sha256.as_deref(), size = report.size, "the upload is clean");
            }
            ScanOutcome::Infected => {
                summary.infected += 1;
                tracing::warn!(signature = report.signature.as_deref(), "the upload is infected");
            }
            ScanOutcome::Failed => {
                summary.failed += 1;
                let error = report.error.as_deref().unwrap_or("no reason given");
                tracing::error!(error, retryable = report.retryable, "the scan failed");
                if report.retryable {
                    retry = Some(format!("{}: {error}", report.key));
                }
            }
        }
        let sent = self
            .sqs
            .send_message()
            .queue_url(&self.settings.scans_queue_url)
            .message_body(job_message(&report, upload.org_id))
            .send()
            .await;
        if let Err(e) = sent {
            let error = DisplayErrorContext(&e).to_string();
            tracing::error!(error, "sending the scan result failed");
            // A scan result that never reaches the worker leaves the attachment pending: run the scan again.
            retry = Some(format!("{}: sending the scan result failed: {error}", report.key));
        }
        retry
    }
}

/// The bucket and upload an `ObjectCreated` record names; anything else is counted as skipped.
fn upload_of(record: &S3EventRecord, summary: &mut ScanSummary) -> Option<(String, UploadKey)> {
    let event_name = record.event_name.as_deref().unwrap_or_default();
    let raw_key = record.s3.object.key.as_deref().unwrap_or_default();
    let key = match decode_event_key(raw_key) {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!(error = %e, "skipped a record whose key does not decode");
            summary.skipped.push(raw_key.to_owned());
            return None;
        }
    };
    let mut skip = |why: &str| {
        tracing::info!(event_name, key, "skipped a record: {why}");
        summary.skipped.push(key.clone());
        None
    };
    let created = event_name.strip_prefix("s3:").unwrap_or(event_name).starts_with("ObjectCreated:");
    if !created {
        return skip("not an ObjectCreated event");
    }
    let Some(bucket) = record.s3.bucket.name.clone().filter(|b| !b.is_empty()) else {
        return skip("the record names no bucket");
    };
    match UploadKey::parse(&key) {
        Ok(upload) => Some((bucket, upload)),
        Err(_) => skip("not an upload key (uploads/<org>/<attachment>)"),
    }
}

/// The S3 client, path-style when an endpoint is configured (a local stand-in such as moto resolves no bucket
/// host names); AWS itself is addressed virtual-host style, as it recommends.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_endpoint = std::env::var("AWS_ENDPOINT_URL_S3").is_ok_and(|v| !v.trim().is_empty());
    let path_style = sdk.endpoint_url().is_some() || s3_endpoint;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event_name: &str, bucket: &str, key: &str) -> S3EventRecord {
        let json = serde_json::json!({
            "eventTime": "2026-01-06T08:24:51.000Z",
            "eventName": event_name,
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "203.0.113.7"},
            "responseElements": null,
            "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 68}},
        });
        serde_json::from_value(json).expect("a record")
    }

    #[test]
    fn only_created_uploads_are_scanned() {
        let upload = UploadKey::new(uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let mut summary = ScanSummary::default();
        let found = upload_of(&record("ObjectCreated:Put", "b", &upload.key()), &mut summary);
        assert_eq!(found, Some(("b".to_owned(), upload)));
        let found = upload_of(&record("s3:ObjectCreated:CompleteMultipartUpload", "b", &upload.key()), &mut summary);
        assert_eq!(found, Some(("b".to_owned(), upload)));
        assert!(summary.skipped.is_empty());

        assert_eq!(upload_of(&record("ObjectRemoved:Delete", "b", &upload.key()), &mut summary), None);
        assert_eq!(upload_of(&record("ObjectCreated:Put", "", &upload.key()), &mut summary), None);
        assert_eq!(upload_of(&record("ObjectCreated:Put", "b", "thumbnails/x+y%21"), &mut summary), None);
        let key = upload.key();
        assert_eq!(summary.skipped, [key.as_str(), key.as_str(), "thumbnails/x y!"]);
    }
}
