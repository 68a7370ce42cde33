//! `thumbnails`: renders a clean image attachment's thumbnails (`crate::images`) and stores them next to it.
//!
//! A broken or hostile image (truncated, a decompression bomb, bytes no decoder accepts) ends with
//! `thumbnail_state = failed` and the reason: it is recorded once, never retried, and the file itself stays
//! downloadable. Only storage and database trouble is retried.
use async_trait::async_trait;
use entities::tables::attachments::{self, state, thumbnail_state, StoredThumbnail};
use entities::Scope;
use lambdas::keys::UploadKey;
use platform::jobs::{Envelope, Job};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, QueryFilter};
use tokio::io::AsyncReadExt;

pub use crate::images::is_thumbnailable;
use crate::images::{render, Limits};

use super::FileDeps;
use crate::handler::{Handler, HandlerError};

pub struct ThumbnailsHandler {
    db: DatabaseConnection,
    deps: FileDeps,
    limits: Limits,
}

impl ThumbnailsHandler {
    pub fn new(db: DatabaseConnection, deps: FileDeps) -> Self {
        ThumbnailsHandler { db, deps, limits: Limits::default() }
    }

    async fn finish(
        &self,
        scope: &Scope,
        id: uuid::Uuid,
        outcome: Result<Vec<StoredThumbnail>, String>,
    ) -> Result<(), HandlerError> {
        let (state_value, thumbnails, error) = match outcome {
            Ok(list) => (thumbnail_state::DONE, Some(serde_json::json!(list)), None),
            Err(reason) => (thumbnail_state::FAILED, None, Some(reason)),
        };
        scope
            .update_many::<attachments::Entity>()
            .col_expr(attachments::Column::ThumbnailState, Expr::value(state_value))
            .col_expr(attachments::Column::Thumbnails, Expr::value(thumbnails))
            .col_expr(attachments::Column::ThumbnailError, Expr::value(error))
            .col_expr(attachments::Column::UpdatedAt, Expr::value(entities::now()))
            .filter(attachments::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Handler for ThumbnailsHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::Thumbnails { attachment_id } = envelope.job else {
            return Err(HandlerError::permanent("not a thumbnails job"));
        };
        let org_id = envelope.org_id.ok_or_else(|| HandlerError::permanent("a thumbnails job names its org"))?;
        let scope = Scope::system(org_id);
        let found =
            scope.find::<attachments::Entity>().filter(attachments::Column::Id.eq(attachment_id)).one(&self.db).await?;
        let Some(a) = found.filter(|a| a.state == state::CLEAN && a.thumbnail_state == thumbnail_state::PENDING) else {
            return Ok(()); // deleted, no longer clean, or done already
        };
        if a.size as u64 > self.limits.max_input_bytes {
            let reason = format!("image_too_large: {} bytes is over {}", a.size, self.limits.max_input_bytes);
            return self.finish(&scope, a.id, Err(reason)).await;
        }
        let object = self.deps.storage.open(&a.storage_key).await.map_err(HandlerError::retryable)?;
        let mut bytes = Vec::with_capacity(a.size as usize);
        object
            .body
            .take(self.limits.max_input_bytes + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(HandlerError::retryable)?;
        let (sizes, limits) = (self.deps.thumbnail_sizes.clone(), self.limits);
        let rendered = tokio::task::spawn_blocking(move || render(&bytes, &sizes, &limits)).await;
        let thumbs = match rendered {
            Ok(Ok(thumbs)) => thumbs,
            Ok(Err(e)) => return self.finish(&scope, a.id, Err(format!("{}: {e}", e.code()))).await,
            // The decoder panicked on hostile input: record it, never retry it.
            Err(e) => return self.finish(&scope, a.id, Err(format!("image_decoder_crashed: {e}"))).await,
        };
        let key = UploadKey::new(a.org_id, a.id);
        let mut stored = Vec::with_capacity(thumbs.len());
        for t in thumbs {
            let thumb_key = key.thumbnail_key(t.size);
            self.deps
                .storage
                .put(&thumb_key, &mut t.bytes.as_slice(), t.content_type)
                .await
                .map_err(HandlerError::retryable)?;
            stored.push(StoredThumbnail {
                size: t.size,
                width: t.width,
                height: t.height,
                content_type: t.content_type.to_owned(),
                key: thumb_key,
            });
        }
        self.finish(&scope, a.id, Ok(stored)).await
    }
}
