//! The outermost middleware: request id, tracing span, access log, Prometheus metrics, and the rewrite of every
//! framework error into a problem document.
use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::OperationId;
use tracing::Instrument;

use super::request_id;
use crate::problem::problem_for_framework_error;

/// Serves `req` through `ep` with observability around it.
pub async fn observe<E: Endpoint>(ep: E, req: Request) -> poem::Result<Response> {
    let id = request_id::accept_or_generate(req.headers().get("x-request-id").and_then(|v| v.to_str().ok()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = tracing::field::Empty,
        org_id = tracing::field::Empty,
        user_id = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = request_id::scope(id.clone(), ep.call(req).instrument(span.clone())).await;
    let (mut resp, route) = match result {
        Ok(r) => {
            let resp = r.into_response();
            let route = resp.data::<OperationId>().map(|o| o.0);
            (resp, route)
        }
        Err(err) => {
            let route = err.data::<OperationId>().map(|o| o.0);
            let resp = request_id::scope(id.clone(), async move { problem_for_framework_error(err) }).await;
            (resp, route)
        }
    };
    let route = route.unwrap_or(if path.starts_with("/api/") { "unmatched" } else { "static" });
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    span.record("route", route);
    span.record("status", status);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let labels = [("method", method.to_string()), ("route", route.to_owned()), ("status", status.to_string())];
    metrics::counter!("taskforge_http_requests_total", &labels).increment(1);
    metrics::histogram!("taskforge_http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(latency_ms = elapsed.as_secs_f64() * 1000.0, path = %path, "request served");
    });
    Ok(resp)
}
