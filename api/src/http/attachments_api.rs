//! `/orgs/{org_id}/tasks/{task}/attachments` and `/orgs/{org_id}/attachments/{id}*`: files on tasks and comments.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::types::{Created, NoContent};
use super::ApiTags;
use crate::auth::schemes::Auth;
use crate::domain::access::scope;
use crate::domain::attachments::{self, AttachmentView, Files, NewAttachment};
use crate::problem::ApiError;
use crate::state::AppState;
use platform::storage::PresignedRequest;

/// A header the client must send with a signed request.
#[derive(Debug, Object)]
pub struct SignedHeader {
    pub name: String,
    pub value: String,
}

/// A request the client makes on its own, straight to storage, before `expires_at`.
#[derive(Debug, Object)]
pub struct SignedRequest {
    /// `PUT` (upload) or `GET` (download).
    pub method: String,
    pub url: String,
    /// Send exactly these headers: they are part of the signature.
    pub headers: Vec<SignedHeader>,
    pub expires_at: DateTime<Utc>,
}

impl From<PresignedRequest> for SignedRequest {
    fn from(r: PresignedRequest) -> Self {
        SignedRequest {
            method: r.method,
            url: r.url,
            headers: r.headers.into_iter().map(|(name, value)| SignedHeader { name, value }).collect(),
            expires_at: r.expires_at,
        }
    }
}

/// A thumbnail of an image attachment.
#[derive(Debug, Object)]
pub struct Thumbnail {
    /// The bounding box it was made for, e.g. 256.
    pub size: u32,
    pub width: u32,
    pub height: u32,
    pub content_type: String,
    /// A signed URL, valid for a few minutes.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A file attached to a task or one of its comments.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Attachment {
    pub id: Uuid,
    pub task_id: Uuid,
    pub comment_id: Option<Uuid>,
    pub uploaded_by: Uuid,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    /// `pending` (waiting for the upload), `scanning`, `clean` (downloadable), `infected` (quarantined, never
    /// served) or `failed` (see `failure_code`).
    pub state: String,
    /// Why a file failed: `scan_error`, `type_mismatch` (its bytes are not what its type says), `size_mismatch`.
    pub failure_code: Option<String>,
    pub failure_detail: Option<String>,
    /// Hex SHA-256 of the file, once scanned clean.
    pub sha256: Option<String>,
    /// `clamav` or `builtin`.
    pub scan_engine: Option<String>,
    pub scan_engine_version: Option<String>,
    /// What the scanner found in an infected file.
    pub scan_signature: Option<String>,
    pub scanned_at: Option<DateTime<Utc>>,
    /// `none` (not an image), `pending`, `done` or `failed` (see `thumbnail_error`).
    pub thumbnail_state: String,
    pub thumbnail_error: Option<String>,
    pub thumbnails: Vec<Thumbnail>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AttachmentView> for Attachment {
    fn from(v: AttachmentView) -> Self {
        let a = v.attachment;
        Attachment {
            id: a.id,
            task_id: a.task_id,
            comment_id: a.comment_id,
            uploaded_by: a.uploaded_by,
            file_name: a.file_name,
            content_type: a.content_type,
            size: a.size,
            state: a.state,
            failure_code: a.failure_code,
            failure_detail: a.failure_detail,
            sha256: a.sha256,
            scan_engine: a.scan_engine,
            scan_engine_version: a.scan_engine_version,
            scan_signature: a.scan_signature,
            scanned_at: a.scanned_at,
            thumbnail_state: a.thumbnail_state,
            thumbnail_error: a.thumbnail_error,
            thumbnails: v
                .thumbnails
                .into_iter()
                .map(|t| Thumbnail {
                    size: t.thumbnail.size,
                    width: t.thumbnail.width,
                    height: t.thumbnail.height,
                    content_type: t.thumbnail.content_type,
                    url: t.url.url,
                    expires_at: t.url.expires_at,
                })
                .collect(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A file about to be uploaded.
#[derive(Debug, Object)]
pub struct NewAttachmentInput {
    /// Shown to people and used on download; any path is dropped.
    pub file_name: String,
    /// `type/subtype`; the upload must send exactly this `Content-Type`, and the file's bytes must agree with it.
    pub content_type: String,
    /// Bytes; the upload must be exactly this long, within the organisation's limit.
    pub size: i64,
    /// Attach to this comment of the task (its author only).
    pub comment_id: Option<Uuid>,
}

/// A new attachment and where to upload its bytes.
#[derive(Debug, Object)]
pub struct CreatedAttachment {
    pub attachment: Attachment,
    /// PUT the file's bytes here, with these headers, before it expires (15 minutes).
    pub upload: SignedRequest,
}

pub struct AttachmentsApi;

fn files(state: &AppState) -> Files<'_> {
    Files { storage: state.storage.as_ref(), config: &state.config }
}

#[OpenApi(tag = "ApiTags::Tasks")]
impl AttachmentsApi {
    /// Attach a file to a task: returns the upload URL
    #[oai(path = "/orgs/:org_id/tasks/:task/attachments", method = "post", operation_id = "createAttachment")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        body: Json<NewAttachmentInput>,
    ) -> Result<Created<CreatedAttachment>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let b = body.0;
        let input = NewAttachment {
            file_name: b.file_name,
            content_type: b.content_type,
            size: b.size,
            comment_id: b.comment_id,
        };
        let (view, upload) = attachments::create(&state.db, &files(&state), &s, &task.0, input).await?;
        Ok(Created::Created(Json(CreatedAttachment { attachment: view.into(), upload: upload.into() })))
    }

    /// List a task's attachments, oldest first
    #[oai(path = "/orgs/:org_id/tasks/:task/attachments", method = "get", operation_id = "listAttachments")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
    ) -> Result<Json<Vec<Attachment>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let views = attachments::list(&state.db, &files(&state), &s, &task.0).await?;
        Ok(Json(views.into_iter().map(Attachment::from).collect()))
    }

    /// Get an attachment
    #[oai(path = "/orgs/:org_id/attachments/:attachment_id", method = "get", operation_id = "getAttachment")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        attachment_id: Path<Uuid>,
    ) -> Result<Json<Attachment>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(attachments::get(&state.db, &files(&state), &s, attachment_id.0).await?.into()))
    }

    /// A short-lived download URL of a clean attachment
    #[oai(
        path = "/orgs/:org_id/attachments/:attachment_id/download",
        method = "get",
        operation_id = "downloadAttachment"
    )]
    async fn download(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        attachment_id: Path<Uuid>,
    ) -> Result<Json<SignedRequest>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(attachments::download(&state.db, &files(&state), &s, attachment_id.0).await?.into()))
    }

    /// Delete an attachment (its uploader, or anyone who may edit the task)
    #[oai(path = "/orgs/:org_id/attachments/:attachment_id", method = "delete", operation_id = "deleteAttachment")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        attachment_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        attachments::delete(&state.db, &files(&state), &s, attachment_id.0).await?;
        Ok(NoContent::Done)
    }
}
