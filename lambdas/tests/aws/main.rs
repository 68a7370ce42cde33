//! The scan Lambda (the `aws` feature) against moto's S3 and SQS and the test clamd: the handler on real S3 event
//! JSON, and the `bootstrap` binary against a stand-in of the Lambda Runtime API.
mod bootstrap;
mod definitions;
mod handler;
mod support;

/// The hand-built zip archives of the scanner tests.
#[path = "../scanner/support.rs"]
#[allow(dead_code, unused_imports)]
mod zips;
