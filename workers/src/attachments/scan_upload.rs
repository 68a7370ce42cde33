//! `scan_upload`: the embedded mode's scan of an upload, with the scan Lambda's own flow
//! (`lambdas::flow::scan_object`) over the storage port, ending like the Lambda in a `scan_result` message.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lambdas::flow::scan_object;
use lambdas::keys::UploadKey;
use lambdas::report::ScanOutcome;
use platform::jobs::{Envelope, Job, Queue};
use platform::storage::StorageScanTarget;

use super::FileDeps;
use crate::handler::{Handler, HandlerError};

pub struct ScanUploadHandler {
    deps: FileDeps,
    queue: Arc<dyn Queue>,
}

impl ScanUploadHandler {
    pub fn new(deps: FileDeps, queue: Arc<dyn Queue>) -> Self {
        ScanUploadHandler { deps, queue }
    }
}

#[async_trait]
impl Handler for ScanUploadHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::ScanUpload { key } = envelope.job else {
            return Err(HandlerError::permanent("not a scan_upload job"));
        };
        let upload = UploadKey::parse(&key).map_err(HandlerError::permanent)?;
        let target = StorageScanTarget(self.deps.storage.clone());
        let report = scan_object(&target, self.deps.scanner.as_ref(), &upload).await;
        let retry = (report.outcome == ScanOutcome::Failed && report.retryable).then(|| report.error.clone());
        // A failed scan is recorded too, so the file shows `failed` while the retries run.
        let result = Envelope::new(Job::ScanResult(report), Some(upload.org_id));
        self.queue.enqueue(&[result], Duration::ZERO).await.map_err(HandlerError::retryable)?;
        match retry {
            Some(error) => Err(HandlerError::retryable(error.unwrap_or_else(|| "the scan failed".into()))),
            None => Ok(()),
        }
    }
}
