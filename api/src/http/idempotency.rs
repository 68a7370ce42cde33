//! The `Idempotency-Key` middleware for POST requests of authenticated callers (see `domain::idempotency`).
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use sha2::{Digest, Sha256};

use crate::auth::Actor;
use crate::domain::idempotency::{self, Claim};
use crate::error::AppError;
use crate::problem::{ApiError, PROBLEM_JSON};
use crate::state::AppState;

pub async fn idempotent<E: Endpoint>(ep: E, mut req: Request) -> poem::Result<Response> {
    let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let actor = req.extensions().get::<Actor>().cloned();
    let (Some(key), Some(actor), true) = (key, actor, req.method() == Method::POST) else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    if key.is_empty() || key.len() > 255 {
        return Ok(ApiError(AppError::invalid("Idempotency-Key", "must be 1 to 255 characters")).into_response());
    }
    let state = req.data::<AppState>().expect("AppState is attached").clone();
    let body = req.take_body().into_bytes().await?;
    let mut hasher = Sha256::new();
    hasher.update(req.uri().path().as_bytes());
    hasher.update([0]);
    hasher.update(&body);
    let hash = hex::encode(hasher.finalize());
    match idempotency::claim(&state.db, actor.user_id, &key, &hash).await {
        Err(e) => return Ok(ApiError(e).into_response()),
        Ok(Claim::Replay { status, body }) => {
            let ct = if status >= 400 { PROBLEM_JSON } else { "application/json; charset=utf-8" };
            let mut resp = Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
                .content_type(ct)
                .body(body);
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(resp);
        }
        Ok(Claim::Fresh) => {}
    }
    req.set_body(Body::from(body));
    let result = ep.call(req).await.map(IntoResponse::into_response);
    match result {
        Ok(resp) if !resp.status().is_server_error() => {
            let (parts, body) = resp.into_parts();
            let bytes = body.into_bytes().await?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Err(e) = idempotency::complete(&state.db, actor.user_id, &key, parts.status.as_u16(), text).await {
                tracing::error!(error = %e, "could not store an idempotent response");
            }
            Ok(Response::from_parts(parts, Body::from(bytes)))
        }
        other => {
            if let Err(e) = idempotency::release(&state.db, actor.user_id, &key).await {
                tracing::error!(error = %e, "could not release an idempotency key");
            }
            other
        }
    }
}
