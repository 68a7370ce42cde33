//! A Server-Sent Events client for the live-update tests: reads one stream message by message with a deadline.
use std::time::Duration;

/// One message of a stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SseMessage {
    /// The `id:` field, which the client sends back as `Last-Event-ID` to resume.
    pub id: Option<String>,
    /// The `data:` lines, joined with newlines.
    pub data: String,
}

impl SseMessage {
    /// The data as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("stream data is not JSON ({e}): {}", self.data))
    }
}

/// An open stream.
pub struct SseStream {
    response: reqwest::Response,
    buffer: String,
    /// Keep-alive comments seen so far.
    pub comments: usize,
}

impl SseStream {
    /// Opens `url` with a bearer `token` and the optional `last_event_id`; panics unless it answers 200 with
    /// `text/event-stream`.
    pub async fn open(client: &reqwest::Client, url: &str, token: &str, last_event_id: Option<&str>) -> SseStream {
        let mut request = client.get(url).bearer_auth(token).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("opening the stream {url}: {e}"));
        let status = response.status();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        if status != 200 || !content_type.starts_with("text/event-stream") {
            let body = response.text().await.unwrap_or_default();
            panic!("the stream {url} answered {status} ({content_type}): {body}");
        }
        SseStream { response, buffer: String::new(), comments: 0 }
    }

    /// The next message, or `None` when none arrives within `wait` (or the stream ends).
    pub async fn next_within(&mut self, wait: Duration) -> Option<SseMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(message) = self.take_message() {
                return Some(message);
            }
            let chunk = match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return None,
                Ok(Err(e)) => panic!("reading the stream: {e}"),
                Ok(Ok(None)) => return None,
                Ok(Ok(Some(chunk))) => chunk,
            };
            self.buffer.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n"));
        }
    }

    /// The next message; panics when none arrives within `wait`.
    pub async fn next(&mut self, wait: Duration) -> SseMessage {
        self.next_within(wait).await.unwrap_or_else(|| panic!("no stream message within {wait:?}"))
    }

    /// Messages until one satisfies `pred` (returned with the ones before it); panics after `wait`.
    pub async fn until(&mut self, wait: Duration, mut pred: impl FnMut(&SseMessage) -> bool) -> Vec<SseMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(message) = self.next_within(left).await else {
                panic!("no matching stream message within {wait:?}; saw {seen:?}");
            };
            let done = pred(&message);
            seen.push(message);
            if done {
                return seen;
            }
        }
    }

    /// Parses one complete message off the buffer, counting and skipping comment-only blocks.
    fn take_message(&mut self) -> Option<SseMessage> {
        loop {
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut message = SseMessage::default();
            let mut data = Vec::new();
            for line in block.lines() {
                if line.starts_with(':') {
                    self.comments += 1;
                    continue;
                }
                let (field, value) =
                    line.split_once(':').map(|(f, v)| (f, v.strip_prefix(' ').unwrap_or(v))).unwrap_or((line, ""));
                match field {
                    "id" => message.id = Some(value.to_owned()),
                    "data" => data.push(value.to_owned()),
                    _ => {}
                }
            }
            if !data.is_empty() {
                message.data = data.join("\n");
                return Some(message);
            }
        }
    }
}
