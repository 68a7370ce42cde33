//! A file attached to a task (optionally to one of its comments). The bytes live in the storage port under
//! `storage_key` (`uploads/{org}/{id}`); the row follows the upload through its scan:
//! `pending` (upload URL handed out) → `scanning` (bytes received; the embedded mode knows, S3 does not say) →
//! `clean` | `infected` (moved to `quarantine_key`, never served) | `failed` (scan error, or bytes that disagree
//! with the declared type or size: `failure_code` says which). Only `clean` files are served.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub project_id: Uuid,
    pub task_id: Uuid,
    pub comment_id: Option<Uuid>,
    pub uploaded_by: Uuid,
    /// Sanitised: no path, no control characters, at most 255 bytes.
    pub file_name: String,
    /// As declared when the upload URL was made; the upload had to send exactly this.
    pub content_type: String,
    pub size: i64,
    pub state: String,
    pub storage_key: String,
    pub quarantine_key: Option<String>,
    pub sha256: Option<String>,
    pub sniffed_type: Option<String>,
    pub scan_engine: Option<String>,
    pub scan_engine_version: Option<String>,
    pub scan_signature: Option<String>,
    pub failure_code: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub failure_detail: Option<String>,
    pub scanned_at: Option<DateTimeUtc>,
    /// `none` (not an image), `pending`, `done` or `failed` (with `thumbnail_error`).
    pub thumbnail_state: String,
    /// JSON array of `{size, width, height, content_type, key}`.
    pub thumbnails: Option<Json>,
    pub thumbnail_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// One entry of the `thumbnails` column.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredThumbnail {
    /// The bounding box it was made for.
    pub size: u32,
    pub width: u32,
    pub height: u32,
    pub content_type: String,
    pub key: String,
}

/// The `state` values.
pub mod state {
    pub const PENDING: &str = "pending";
    pub const SCANNING: &str = "scanning";
    pub const CLEAN: &str = "clean";
    pub const INFECTED: &str = "infected";
    pub const FAILED: &str = "failed";
}

/// The `thumbnail_state` values.
pub mod thumbnail_state {
    pub const NONE: &str = "none";
    pub const PENDING: &str = "pending";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
}
