//! The storage port as the scan flow's object store, so the embedded mode scans with the same flow as the Lambda.
use std::sync::Arc;

use async_trait::async_trait;
use lambdas::flow::{ScanTarget, StoredObject, TargetError};

use super::{Storage, StorageError};

/// A [`Storage`] adapter seen as a [`ScanTarget`].
#[derive(Debug, Clone)]
pub struct StorageScanTarget(pub Arc<dyn Storage>);

fn target_error(e: StorageError) -> TargetError {
    match e {
        StorageError::NotFound { key } => TargetError::NotFound(key),
        e => TargetError::Failed { retryable: e.is_retryable(), message: e.to_string() },
    }
}

#[async_trait]
impl ScanTarget for StorageScanTarget {
    async fn open(&self, key: &str) -> Result<StoredObject, TargetError> {
        let object = self.0.open(key).await.map_err(target_error)?;
        Ok(StoredObject { body: Box::new(object.body), content_type: object.meta.content_type, size: object.meta.size })
    }

    async fn tag(&self, key: &str, tags: &[(String, String)]) -> Result<(), TargetError> {
        self.0.set_tags(key, tags).await.map_err(target_error)
    }

    async fn quarantine(&self, from: &str, to: &str) -> Result<(), TargetError> {
        self.0.rename(from, to).await.map_err(target_error)
    }
}
