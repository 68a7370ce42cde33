//! Files attached to tasks and comments. Creating one hands out an upload URL (S3 presigned PUT, or the API's own
//! signed blob endpoint in the embedded mode); the bytes never pass through the API in production. Every file is
//! scanned before it may be downloaded (`workers::attachments` records the verdict); a download is a short-lived
//! signed URL, issued only for a clean file whose stored object still carries the clean verdict tag — an object
//! replaced after its scan (a second PUT on a still-valid upload URL) has lost that tag and is refused until
//! scanned again.
use std::time::Duration;

use entities::tables::attachments::{self, state, thumbnail_state, StoredThumbnail};
use entities::tables::orgs;
use entities::{Permission, Scope};
use lambdas::flow::TAG_VERDICT;
use lambdas::keys::UploadKey;
use platform::storage::{GetSpec, PresignedRequest, PutSpec, Storage};
use platform::Config;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::access::require;
use super::comments::authored_comment;
use super::outbox::{self, Event};
use super::project_access::ensure_not_archived;
use super::tasks::find;
use crate::error::{AppError, Validator};

/// How long an upload URL stays valid.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a download or thumbnail URL stays valid.
pub const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);
/// Image types a browser may show inline: raster formats that cannot carry script. Everything else (SVG and HTML
/// included) is served as a download.
const INLINE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// A thumbnail with a URL to fetch it.
#[derive(Debug, Clone)]
pub struct ThumbnailView {
    pub thumbnail: StoredThumbnail,
    pub url: PresignedRequest,
}

/// An attachment as the API shows it.
#[derive(Debug, Clone)]
pub struct AttachmentView {
    pub attachment: attachments::Model,
    pub thumbnails: Vec<ThumbnailView>,
}

/// What a new attachment is.
#[derive(Debug)]
pub struct NewAttachment {
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub comment_id: Option<Uuid>,
}

/// The storage and limits attachments need from the app.
pub struct Files<'a> {
    pub storage: &'a dyn Storage,
    pub config: &'a Config,
}

/// A file name safe to store and to put in a `Content-Disposition`: the last path segment of what was given, no
/// control characters, no leading dots (no hidden or `..` names), at most 255 bytes with the extension kept.
pub fn sanitise_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*') { '_' } else { c })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_owned();
    if cleaned.is_empty() {
        return "file".into();
    }
    if cleaned.len() <= 255 {
        return cleaned;
    }
    let (stem, ext) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => (stem, format!(".{ext}")),
        _ => (cleaned.as_str(), String::new()),
    };
    let mut cut = 255 - ext.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

/// What RFC 5987's `attr-char` does not allow, escaped in `filename*`.
const ATTR_CHAR_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266), or `inline` for safe image types.
fn content_disposition(a: &attachments::Model) -> String {
    let kind =
        if INLINE_TYPES.contains(&lambdas::sniff::essence(&a.content_type).as_str()) { "inline" } else { "attachment" };
    let ascii: String =
        a.file_name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect::<String>();
    let ascii = ascii.replace(['"', '\\'], "_");
    let encoded = percent_encoding::utf8_percent_encode(&a.file_name, ATTR_CHAR_ESCAPES);
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The largest upload `org` accepts.
#[allow(clippy::disallowed_methods)] // the orgs row itself, keyed by the scope's org id
async fn size_limit(db: &impl ConnectionTrait, config: &Config, org_id: Uuid) -> Result<u64, AppError> {
    let org = orgs::Entity::find_by_id(org_id).one(db).await?.ok_or(AppError::NotFound("org_not_found"))?;
    let server = config.attachment_max_bytes;
    Ok(org.max_attachment_bytes.map_or(server, |own| (own.max(0) as u64).min(server)))
}

/// Creates a pending attachment on a task and the URL its bytes go to.
pub async fn create(
    db: &DatabaseConnection,
    files: &Files<'_>,
    scope: &Scope,
    task_ref: &str,
    input: NewAttachment,
) -> Result<(AttachmentView, PresignedRequest), AppError> {
    let (task, project) = find(db, scope, task_ref).await?;
    ensure_not_archived(&project)?;
    if task.deleted_at.is_some() {
        return Err(AppError::conflict("task_deleted", "the task is deleted; restore it first"));
    }
    match input.comment_id {
        // Anyone who may comment may attach to their own comment.
        Some(comment_id) => {
            require(scope, Permission::Comment)?;
            authored_comment(db, scope, task.id, comment_id, "only the comment's author attaches files to it").await?;
        }
        None => require(scope, Permission::WriteTasks)?,
    }
    let mut v = Validator::new();
    let file_name = sanitise_file_name(&input.file_name);
    v.check(!input.file_name.trim().is_empty(), "file_name", "must not be empty");
    let content_type = input.content_type.trim().to_owned();
    if let Err(e) = platform::storage::validate_content_type(&content_type) {
        v.push("content_type", e.to_string());
    }
    v.check(input.size > 0, "size", "must be at least 1 byte");
    v.finish()?;
    let limit = size_limit(db, files.config, scope.org_id()).await?;
    if input.size as u64 > limit {
        return Err(AppError::TooLarge {
            code: "attachment_too_large",
            detail: format!("the file is {} bytes; this organisation accepts files up to {limit} bytes", input.size),
        });
    }
    let id = entities::new_id();
    let key = UploadKey::new(scope.org_id(), id).key();
    let upload = files
        .storage
        .presign_put(
            &key,
            PutSpec {
                content_type: content_type.clone(),
                content_length: input.size as u64,
                expires_in: UPLOAD_URL_TTL,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!(e).context("signing an upload URL"))?;
    let now = entities::now();
    let tx = entities::begin_write(db).await?;
    let attachment = attachments::ActiveModel {
        id: Set(id),
        org_id: Set(scope.org_id()),
        project_id: Set(project.id),
        task_id: Set(task.id),
        comment_id: Set(input.comment_id),
        uploaded_by: Set(scope.user_id()),
        file_name: Set(file_name),
        content_type: Set(content_type),
        size: Set(input.size),
        state: Set(state::PENDING.into()),
        storage_key: Set(key),
        quarantine_key: Set(None),
        sha256: Set(None),
        sniffed_type: Set(None),
        scan_engine: Set(None),
        scan_engine_version: Set(None),
        scan_signature: Set(None),
        failure_code: Set(None),
        failure_detail: Set(None),
        scanned_at: Set(None),
        thumbnail_state: Set(thumbnail_state::NONE.into()),
        thumbnails: Set(None),
        thumbnail_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await?;
    record(&tx, scope, "attachment.added", &attachment).await?;
    tx.commit().await?;
    Ok((AttachmentView { attachment, thumbnails: Vec::new() }, upload))
}

async fn record(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    event_type: &str,
    a: &attachments::Model,
) -> Result<(), AppError> {
    outbox::record(
        tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type,
            entity_type: "attachment",
            entity_id: a.id,
            payload: json!({
                "task_id": a.task_id, "project_id": a.project_id, "comment_id": a.comment_id,
                "file_name": a.file_name, "content_type": a.content_type, "size": a.size, "state": a.state,
            }),
        },
    )
    .await
}

/// The view of `a`, with signed thumbnail URLs when it is clean.
async fn view(files: &Files<'_>, a: attachments::Model) -> Result<AttachmentView, AppError> {
    let mut thumbnails = Vec::new();
    if a.state == state::CLEAN && a.thumbnail_state == thumbnail_state::DONE {
        let stored: Vec<StoredThumbnail> = match &a.thumbnails {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| anyhow::anyhow!("attachment {} has malformed thumbnails: {e}", a.id))?,
            None => Vec::new(),
        };
        for t in stored {
            let spec = GetSpec {
                expires_in: DOWNLOAD_URL_TTL,
                content_disposition: Some("inline".into()),
                response_content_type: Some(t.content_type.clone()),
            };
            let url = files
                .storage
                .presign_get(&t.key, spec)
                .await
                .map_err(|e| anyhow::anyhow!(e).context("signing a thumbnail URL"))?;
            thumbnails.push(ThumbnailView { thumbnail: t, url });
        }
    }
    Ok(AttachmentView { attachment: a, thumbnails })
}

/// The task's attachments, oldest first.
pub async fn list(
    db: &impl ConnectionTrait,
    files: &Files<'_>,
    scope: &Scope,
    task_ref: &str,
) -> Result<Vec<AttachmentView>, AppError> {
    let (task, _) = find(db, scope, task_ref).await?;
    let rows = scope
        .find::<attachments::Entity>()
        .filter(attachments::Column::TaskId.eq(task.id))
        .order_by_asc(attachments::Column::CreatedAt)
        .order_by_asc(attachments::Column::Id)
        .all(db)
        .await?;
    let mut views = Vec::with_capacity(rows.len());
    for a in rows {
        views.push(view(files, a).await?);
    }
    Ok(views)
}

/// One attachment the actor can see (its task's project is visible to them).
async fn visible(db: &impl ConnectionTrait, scope: &Scope, id: Uuid) -> Result<attachments::Model, AppError> {
    let a = scope
        .find::<attachments::Entity>()
        .filter(attachments::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("attachment_not_found"))?;
    find(db, scope, &a.task_id.to_string()).await.map_err(|e| match e {
        AppError::NotFound(_) => AppError::NotFound("attachment_not_found"),
        e => e,
    })?;
    Ok(a)
}

pub async fn get(
    db: &impl ConnectionTrait,
    files: &Files<'_>,
    scope: &Scope,
    id: Uuid,
) -> Result<AttachmentView, AppError> {
    view(files, visible(db, scope, id).await?).await
}

/// A short-lived URL to download a clean file.
pub async fn download(
    db: &impl ConnectionTrait,
    files: &Files<'_>,
    scope: &Scope,
    id: Uuid,
) -> Result<PresignedRequest, AppError> {
    let a = visible(db, scope, id).await?;
    let refuse = |code: &'static str, detail: &str| AppError::conflict(code, detail.to_owned());
    match a.state.as_str() {
        state::CLEAN => {}
        state::INFECTED => return Err(refuse("attachment_infected", "the file is infected and is never served")),
        state::FAILED => return Err(refuse("attachment_failed", "the file failed its checks and is not served")),
        _ => return Err(refuse("attachment_not_scanned", "the file has not been scanned yet; try again shortly")),
    }
    let tags = files.storage.tags(&a.storage_key).await.map_err(|e| match e {
        platform::storage::StorageError::NotFound { .. } => {
            refuse("attachment_missing", "the file is gone from storage")
        }
        e => AppError::Internal(anyhow::anyhow!(e).context("reading the object's scan tag")),
    })?;
    if !tags.iter().any(|(k, v)| k == TAG_VERDICT && v == "clean") {
        return Err(refuse(
            "attachment_not_scanned",
            "the stored file changed after its scan; it is being scanned again",
        ));
    }
    let spec = GetSpec {
        expires_in: DOWNLOAD_URL_TTL,
        content_disposition: Some(content_disposition(&a)),
        response_content_type: Some(a.content_type.clone()),
    };
    Ok(files
        .storage
        .presign_get(&a.storage_key, spec)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("signing a download URL"))?)
}

/// Deletes an attachment: its uploader, or anyone who may edit the task. The stored objects go after the commit.
pub async fn delete(db: &DatabaseConnection, files: &Files<'_>, scope: &Scope, id: Uuid) -> Result<(), AppError> {
    let a = visible(db, scope, id).await?;
    if a.uploaded_by != scope.user_id() {
        require(scope, Permission::WriteTasks)?;
    }
    let tx = entities::begin_write(db).await?;
    scope.delete_many::<attachments::Entity>().filter(attachments::Column::Id.eq(id)).exec(&tx).await?;
    record(&tx, scope, "attachment.deleted", &a).await?;
    tx.commit().await?;
    let key = UploadKey::new(a.org_id, a.id);
    let mut keys = vec![a.storage_key.clone(), key.quarantine_key()];
    keys.extend(files.config.thumbnail_sizes.iter().map(|s| key.thumbnail_key(*s)));
    for k in keys {
        // The row is gone, so nothing can reach the object any more; a leftover costs space, not safety.
        if let Err(e) = files.storage.delete(&k).await {
            tracing::warn!(key = k, error = %e, "could not delete a deleted attachment's object");
        }
    }
    Ok(())
}

/// The embedded blob endpoint is about to store the bytes of `key`: the attachment moves to `scanning`, atomically,
/// so only one upload gets it. Returns whether an attachment was waiting for them (false: unknown, deleted, or
/// already received).
pub async fn upload_received(db: &impl ConnectionTrait, key: &UploadKey) -> Result<bool, AppError> {
    let result = Scope::system(key.org_id)
        .update_many::<attachments::Entity>()
        .col_expr(attachments::Column::State, sea_orm::sea_query::Expr::value(state::SCANNING))
        .col_expr(attachments::Column::UpdatedAt, sea_orm::sea_query::Expr::value(entities::now()))
        .filter(attachments::Column::Id.eq(key.attachment_id))
        .filter(attachments::Column::State.eq(state::PENDING))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The upload claimed by [`upload_received`] failed before its scan was queued: the attachment waits for its bytes
/// again.
pub async fn upload_failed(db: &impl ConnectionTrait, key: &UploadKey) -> Result<(), AppError> {
    Scope::system(key.org_id)
        .update_many::<attachments::Entity>()
        .col_expr(attachments::Column::State, sea_orm::sea_query::Expr::value(state::PENDING))
        .filter(attachments::Column::Id.eq(key.attachment_id))
        .filter(attachments::Column::State.eq(state::SCANNING))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_carry_an_ascii_name_and_the_utf8_one() {
        let mut a = attachments::Model {
            id: Uuid::nil(),
            org_id: Uuid::nil(),
            project_id: Uuid::nil(),
            task_id: Uuid::nil(),
            comment_id: None,
            uploaded_by: Uuid::nil(),
            file_name: "Rapport d'été.pdf".into(),
            content_type: "application/pdf".into(),
            size: 1,
            state: state::CLEAN.into(),
            storage_key: String::new(),
            quarantine_key: None,
            sha256: None,
            sniffed_type: None,
            scan_engine: None,
            scan_engine_version: None,
            scan_signature: None,
            failure_code: None,
            failure_detail: None,
            scanned_at: None,
            thumbnail_state: thumbnail_state::NONE.into(),
            thumbnails: None,
            thumbnail_error: None,
            created_at: entities::now(),
            updated_at: entities::now(),
        };
        assert_eq!(
            content_disposition(&a),
            "attachment; filename=\"Rapport d'_t_.pdf\"; filename*=UTF-8''Rapport%20d%27%C3%A9t%C3%A9.pdf"
        );
        a.content_type = "image/png".into();
        assert!(content_disposition(&a).starts_with("inline; "));
        a.content_type = "image/svg+xml".into();
        assert!(content_disposition(&a).starts_with("attachment; "), "SVG can carry script");
    }

    #[test]
    fn file_names_lose_paths_control_characters_and_leading_dots() {
        assert_eq!(sanitise_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitise_file_name("C:\\Users\\me\\report.pdf"), "report.pdf");
        assert_eq!(sanitise_file_name(".."), "file");
        assert_eq!(sanitise_file_name("..\u{0}hidden\r\n.txt"), "hidden.txt");
        assert_eq!(sanitise_file_name("a\"b<c>.txt"), "a_b_c_.txt");
        assert_eq!(sanitise_file_name("   "), "file");
        let long = format!("{}.jpeg", "é".repeat(200));
        let cut = sanitise_file_name(&long);
        assert!(cut.len() <= 255 && cut.ends_with(".jpeg"), "{cut}");
    }
}
