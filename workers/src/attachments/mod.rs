//! The attachment jobs: the in-process scan of the embedded mode ([`ScanUploadHandler`], the scan Lambda's
//! stand-in), recording a scan's verdict on the attachment ([`ScanResultHandler`]), and thumbnails of clean images
//! ([`ThumbnailsHandler`]).
mod scan_result;
mod scan_upload;
mod thumbnails;

use std::sync::Arc;

use platform::scanner::{scanner_from_config, Scanner};
use platform::storage::{storage_from_config, Storage, StorageError};
use platform::Config;

pub use scan_result::ScanResultHandler;
pub use scan_upload::ScanUploadHandler;
pub use thumbnails::ThumbnailsHandler;

/// What the attachment jobs work with.
#[derive(Clone)]
pub struct FileDeps {
    pub storage: Arc<dyn Storage>,
    pub scanner: Arc<dyn Scanner>,
    /// Bounding boxes of the thumbnails, ascending.
    pub thumbnail_sizes: Vec<u32>,
}

impl FileDeps {
    /// The configured storage and scanner.
    pub async fn from_config(config: &Config) -> Result<FileDeps, StorageError> {
        Ok(FileDeps {
            storage: storage_from_config(config).await?,
            scanner: scanner_from_config(config),
            thumbnail_sizes: config.thumbnail_sizes.clone(),
        })
    }
}

impl std::fmt::Debug for FileDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDeps")
            .field("storage", &self.storage)
            .field("thumbnail_sizes", &self.thumbnail_sizes)
            .finish_non_exhaustive()
    }
}
