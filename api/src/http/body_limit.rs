//! Request body size limit. Unlike poem's `SizeLimit`, a request without `Content-Length` (a GET, or a chunked
//! upload) is not refused: its body is read up to the limit and refused with 413 only if it is larger.
use poem::http::StatusCode;
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tokio::io::AsyncReadExt;

use crate::problem::Problem;

fn too_large(limit: usize) -> Response {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the body exceeds {limit} bytes"))
        .into_response()
}

/// Middleware body: refuse bodies over `limit` bytes.
pub async fn limit_body<E: Endpoint>(ep: E, mut req: Request, limit: usize) -> poem::Result<Response> {
    // Blob uploads are capped by their signed length (see `http::blobs`), not by the JSON limit.
    if req.uri().path().starts_with(platform::storage::BLOB_ROUTE) {
        return ep.call(req).await.map(IntoResponse::into_response);
    }
    let declared =
        req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => return Ok(too_large(limit)),
        Some(_) => {}
        None if req.headers().contains_key("transfer-encoding") => {
            let mut buf = Vec::new();
            let mut reader = req.take_body().into_async_read().take(limit as u64 + 1);
            reader.read_to_end(&mut buf).await.map_err(poem::error::BadRequest)?;
            if buf.len() > limit {
                return Ok(too_large(limit));
            }
            req.set_body(Body::from(buf));
        }
        None => {}
    }
    ep.call(req).await.map(IntoResponse::into_response)
}
