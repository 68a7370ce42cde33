//! Request ids: taken from `X-Request-Id` when the caller sends a sane one, generated otherwise, echoed on the
//! response, attached to the request's tracing span and to every problem document. Held in a task-local so error
//! mapping deep in a handler can read it without threading it through every call.
use uuid::Uuid;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Accepts a caller's id if it is short and printable (it ends up in logs), else makes a new one.
pub fn accept_or_generate(incoming: Option<&str>) -> String {
    match incoming {
        Some(id) if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) => id.to_owned(),
        _ => Uuid::now_v7().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_request_ids_are_replaced() {
        assert_eq!(accept_or_generate(Some("abc-123")), "abc-123");
        assert_ne!(accept_or_generate(Some("bad id\n")), "bad id\n");
        assert_eq!(accept_or_generate(Some(&"x".repeat(500))).len(), 36);
        assert_eq!(accept_or_generate(None).len(), 36);
    }
}
