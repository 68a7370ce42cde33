//! The scan result message: what a scan found, sent to the `scans` queue where a worker records it on the
//! attachment. The scan Lambda and the embedded mode send the same message.
//!
//! The message body is the job envelope of the worker runtime (`platform::jobs::Envelope` with a `scan_result`
//! job). It is written here by hand because the Lambda must not link the platform crate; the platform's own tests
//! decode [`job_message`]'s output, so the two cannot drift apart.
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The job type name of a scan result on the wire.
pub const JOB_TYPE: &str = "scan_result";
/// The wire version of the job.
pub const JOB_VERSION: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanOutcome {
    Clean,
    Infected,
    /// The scan did not finish; the file is neither clean nor infected and is not served.
    Failed,
}

/// What one scan of one stored upload found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// The upload's object key (`uploads/{org}/{attachment}`).
    pub key: String,
    pub outcome: ScanOutcome,
    /// What the engine found, when infected.
    #[serde(default)]
    pub signature: Option<String>,
    /// `clamav` or `builtin`, when the scan finished.
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub engine_version: Option<String>,
    /// Hex SHA-256 of the whole file, when it was read to its end.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Bytes read, when the file was read to its end.
    #[serde(default)]
    pub size: Option<u64>,
    /// The type the leading bytes show (see [`crate::sniff`]).
    #[serde(default)]
    pub sniffed_type: Option<String>,
    /// Where an infected file now is.
    #[serde(default)]
    pub quarantine_key: Option<String>,
    /// Why the scan failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Whether scanning again may succeed (a failed scan only).
    #[serde(default)]
    pub retryable: bool,
    pub scanned_at: DateTime<Utc>,
}

impl ScanReport {
    /// A failed scan of `key`.
    pub fn failed(key: &str, error: impl Into<String>, retryable: bool) -> ScanReport {
        ScanReport {
            key: key.to_owned(),
            outcome: ScanOutcome::Failed,
            signature: None,
            engine: None,
            engine_version: None,
            sha256: None,
            size: None,
            sniffed_type: None,
            quarantine_key: None,
            error: Some(error.into()),
            retryable,
            scanned_at: Utc::now(),
        }
    }
}

/// The queue message body carrying `report` for the attachment of `org_id`.
pub fn job_message(report: &ScanReport, org_id: Uuid) -> String {
    let mut job = serde_json::to_value(report).expect("a report serialises: strings, numbers and a time");
    let map = job.as_object_mut().expect("a report is an object");
    map.insert("type".into(), JOB_TYPE.into());
    map.insert("v".into(), JOB_VERSION.into());
    serde_json::json!({
        "job_id": Uuid::now_v7(),
        "org_id": org_id,
        "attempt": 0,
        "enqueued_at": Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
        "trace": null,
        "job": job,
    })
    .to_string()
}
