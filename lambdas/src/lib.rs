//! The upload scan, shared by the scan Lambda (on S3 events) and the embedded mode (in-process, on the `scans`
//! pool): the scanner engines ([`scanner`]), content sniffing ([`sniff`]), where uploads live ([`keys`]), the flow
//! that streams one stored object through a scanner, tags it and quarantines it when infected ([`flow`]), and the
//! result message the worker records ([`report`]). With the `aws` feature (the default; the platform turns it off),
//! [`aws`] runs it as the scan Lambda on S3 events.
//!
//! Lean on purpose: no database, no web framework, so the Lambda package stays small and starts fast.
#[cfg(feature = "aws")]
pub mod aws;
pub mod flow;
pub mod keys;
pub mod report;
pub mod scanner;
pub mod sniff;
