//! The scan as an AWS Lambda function on S3 event notifications (the `aws` feature): the bucket as a scan target
//! ([`S3Target`]), the function's configuration ([`Settings`]), the invocation handler ([`ScanLambda`]) that the
//! `bootstrap` binary runs under the Lambda runtime, and the copying of ClamAV's definitions between S3 and the
//! function's container ([`definitions`]). docs/operations.md ("Scan Lambda") says how it is deployed.
pub mod definitions;
mod event_key;
mod handler;
mod s3_target;
mod settings;

pub use event_key::{decode_event_key, UndecodableKey};
pub use handler::{s3_client, ScanEventError, ScanLambda, ScanSummary};
pub use s3_target::S3Target;
pub use settings::{Settings, SettingsError};
pub use settings::{CLAMD_ADDR, CLAMD_TIMEOUT_SECONDS, QUARANTINE_BUCKET, SCANS_QUEUE_URL, SCAN_BLOCKLIST_SHA256};
