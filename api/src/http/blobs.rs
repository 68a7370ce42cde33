//! The embedded storage's blob endpoint, `/api/v1/blobs/{key}`: uploads and downloads through the URLs the local
//! storage adapter signs (`platform::storage::LocalStorage`). Authorised by the URL's signature alone, like an S3
//! presigned request, so it sits outside the session and token authentication and outside the JSON body limit (an
//! upload is capped at its signed length instead).
//!
//! An upload to an attachment's key is accepted once, while the attachment waits for its bytes; it then enqueues
//! the in-process scan, so the embedded mode follows the same flow as S3 with the scan Lambda.
use std::time::Duration;

use lambdas::keys::UploadKey;
use platform::jobs::{Envelope, Job};
use platform::storage::{BlobQuery, LocalStorage, Refusal, StorageError, BLOB_ROUTE};
use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{handler, Body, IntoResponse, Request, Response};

use crate::domain::attachments;
use crate::problem::Problem;
use crate::state::AppState;

fn problem(status: StatusCode, code: &str, detail: impl Into<String>) -> Response {
    Problem::new(status, code, detail.into()).into_response()
}

/// The storage error as S3 would answer it: 403 for anything about the signature or its terms.
fn refused(e: StorageError) -> Response {
    match e {
        StorageError::Expired { .. } => problem(StatusCode::FORBIDDEN, "url_expired", e.to_string()),
        StorageError::Forbidden(Refusal::ContentLengthMismatch { .. }) => {
            problem(StatusCode::BAD_REQUEST, "upload_length_mismatch", e.to_string())
        }
        StorageError::Forbidden(Refusal::ContentTypeMismatch { .. }) => {
            problem(StatusCode::FORBIDDEN, "upload_type_mismatch", e.to_string())
        }
        StorageError::Forbidden(_) => problem(StatusCode::FORBIDDEN, "signature_invalid", e.to_string()),
        StorageError::InvalidKey { .. } | StorageError::NotFound { .. } => {
            problem(StatusCode::NOT_FOUND, "blob_not_found", "no such blob")
        }
        e => {
            tracing::error!(error = %e, "the blob store failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "an internal error occurred; quote the request id",
            )
        }
    }
}

/// The key from the request path (percent-decoded per segment) and the local store, or the response to give.
fn target<'a>(state: &'a AppState, req: &Request) -> Result<(&'a LocalStorage, String, BlobQuery), Box<Response>> {
    let blobs = state.blobs.as_ref().ok_or_else(|| {
        Box::new(problem(StatusCode::NOT_FOUND, "blob_not_found", "blobs are served by the object store"))
    })?;
    let raw = req.uri().path().strip_prefix(BLOB_ROUTE).and_then(|p| p.strip_prefix('/')).unwrap_or("");
    let key = raw
        .split('/')
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8().map(|s| s.into_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Box::new(problem(StatusCode::NOT_FOUND, "blob_not_found", "no such blob")))?
        .join("/");
    let query = BlobQuery::parse(req.uri().query().unwrap_or("")).map_err(|e| Box::new(refused(e)))?;
    Ok((blobs, key, query))
}

fn header_str(req: &Request, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Gives a failed upload's claim back, so the client can try again with the same URL.
async fn release(state: &AppState, upload: Option<&UploadKey>, key: &str) {
    if let Some(upload) = upload {
        if let Err(e) = attachments::upload_failed(&state.db, upload).await {
            tracing::warn!(error = %e, key, "could not reopen an attachment after its upload failed");
        }
    }
}

#[handler]
pub async fn put_blob(req: &Request, body: Body, state: Data<&AppState>) -> Response {
    let (blobs, key, query) = match target(&state, req) {
        Ok(t) => t,
        Err(response) => return *response,
    };
    let grant = match blobs.verify_put(&key, &query, entities::now()) {
        Ok(grant) => grant,
        Err(e) => return refused(e),
    };
    let length = header_str(req, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if let Err(e) = grant.check(header_str(req, header::CONTENT_TYPE), length) {
        return refused(e);
    }
    let upload = UploadKey::parse(&key).ok();
    if let Some(upload) = &upload {
        // An attachment takes its bytes once, and claims them (pending → scanning) before they are written: a second
        // or concurrent PUT can never replace bytes that are being, or have been, scanned.
        match attachments::upload_received(&state.db, upload).await {
            Ok(true) => {}
            Ok(false) => {
                return problem(
                    StatusCode::CONFLICT,
                    "upload_not_expected",
                    "this attachment is not waiting for an upload",
                )
            }
            Err(e) => return crate::problem::ApiError::from(e).problem().into_response(),
        }
    }
    let mut reader = body.into_async_read();
    if let Err(e) = blobs.put_granted(&key, &grant, &mut reader).await {
        release(&state, upload.as_ref(), &key).await;
        return refused(e);
    }
    if let Some(upload) = upload {
        let scan = Envelope::new(Job::ScanUpload { key: key.clone() }, Some(upload.org_id));
        if let Err(e) = state.queue.enqueue(&[scan], Duration::ZERO).await {
            tracing::warn!(error = %e, key, "could not enqueue the scan of an upload");
            release(&state, Some(&upload), &key).await;
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_unavailable",
                "the upload could not be queued for its scan; upload it again shortly",
            );
        }
    }
    StatusCode::OK.into_response()
}

#[handler]
pub async fn get_blob(req: &Request, state: Data<&AppState>) -> Response {
    let (blobs, key, query) = match target(&state, req) {
        Ok(t) => t,
        Err(response) => return *response,
    };
    let grant = match blobs.verify_get(&key, &query, entities::now()) {
        Ok(grant) => grant,
        Err(e) => return refused(e),
    };
    let object = match platform::storage::Storage::open(blobs, &key).await {
        Ok(object) => object,
        Err(e) => return refused(e),
    };
    let content_type = grant.response_content_type.unwrap_or(object.meta.content_type);
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, object.meta.size)
        .header("x-content-type-options", "nosniff")
        // Even if a browser renders the response, it runs nothing and reaches nothing.
        .header("content-security-policy", "default-src 'none'; img-src 'self'; sandbox")
        .header(header::CACHE_CONTROL, "private, max-age=300");
    if let Some(disposition) = grant.content_disposition {
        response = response.header(header::CONTENT_DISPOSITION, disposition);
    }
    response.body(Body::from_async_read(object.body))
}
