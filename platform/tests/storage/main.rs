//! The storage port end to end: one behaviour suite run against both adapters (`contract.rs`), the local adapter's
//! signed URLs and atomic writes (`local.rs`), and S3 presigned requests against moto (`s3.rs`).
mod contract;
mod local;
mod s3;
