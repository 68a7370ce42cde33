//! Reading sent mail back, for tests (feature `mail-readback`): the `.eml` files of an outbox directory, and the
//! raw messages a moto server's SES recorded (`GET /moto-api/data.json`, key `ses` → `RawMessage`).
//!
//! These helpers panic with a message on anything unexpected (an unreadable file, an unparsable message, moto
//! unreachable), since a test should stop right there.
use std::path::Path;

use mail_parser::{MessageParser, MimeHeaders, PartType};

/// One message as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMail {
    /// The sender's address (without display name).
    pub from: String,
    pub from_name: Option<String>,
    /// The `To` addresses (without display names), in header order.
    pub to: Vec<String>,
    /// Decoded (RFC 2047) subject.
    pub subject: String,
    /// The decoded `text/html` part; empty when the message has none.
    pub html: String,
    /// The decoded `text/plain` part; empty when the message has none.
    pub text: String,
    /// Every header as `(name, value)` in message order, values unfolded but not decoded.
    pub headers: Vec<(String, String)>,
    /// Content types of all MIME parts in order, e.g. `["multipart/alternative", "text/plain", "text/html"]`.
    pub content_types: Vec<String>,
}

impl ParsedMail {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `Message-ID` without angle brackets.
    pub fn message_id(&self) -> Option<&str> {
        self.header("Message-ID").map(|v| v.trim().trim_start_matches('<').trim_end_matches('>'))
    }

    /// The targets of every `href="…"` in the HTML part, with HTML entities decoded.
    pub fn links(&self) -> Vec<String> {
        self.html
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split_once('"').map(|(url, _)| unescape_html(url)))
            .collect()
    }
}

fn unescape_html(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Parses one RFC 5322 message.
///
/// # Panics
/// When the bytes are not a message with a `From` address.
pub fn parse_mail(raw: &[u8]) -> ParsedMail {
    let message = MessageParser::default().parse(raw).expect("the bytes parse as a mail message");
    let from = message.from().and_then(|a| a.first()).expect("the message has a From address");
    let to = message
        .to()
        .map(|list| list.iter().filter_map(|a| a.address()).map(str::to_owned).collect())
        .unwrap_or_default();
    let headers = message
        .headers_raw()
        .map(|(name, value)| (name.to_owned(), value.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    let (mut html, mut text) = (None, None);
    let mut content_types = Vec::new();
    for part in &message.parts {
        if let Some(ct) = part.content_type() {
            content_types.push(format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")));
        }
        match &part.body {
            PartType::Html(body) => {
                html.get_or_insert_with(|| body.to_string());
            }
            PartType::Text(body) => {
                text.get_or_insert_with(|| body.to_string());
            }
            _ => {}
        }
    }
    ParsedMail {
        from: from.address().expect("the From mailbox has an address").to_owned(),
        from_name: from.name().map(str::to_owned),
        to,
        subject: message.subject().unwrap_or_default().to_owned(),
        html: html.unwrap_or_default(),
        text: text.unwrap_or_default(),
        headers,
        content_types,
    }
}

/// Every `.eml` file in `outbox_dir` (see [`super::outbox_dir`]), oldest first; none when the directory does not
/// exist yet.
///
/// # Panics
/// When the directory or a file cannot be read.
pub fn read_outbox(outbox_dir: &Path) -> Vec<ParsedMail> {
    let entries = match std::fs::read_dir(outbox_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("reading the outbox {}: {e}", outbox_dir.display()),
    };
    let mut paths: Vec<_> = entries
        .map(|e| e.expect("listing the outbox").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    // File names start with a UTC timestamp, so name order is send order.
    paths.sort();
    paths
        .iter()
        .map(|p| parse_mail(&std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))))
        .collect()
}

/// A raw message as moto's SES recorded it.
#[derive(Debug, Clone)]
pub struct MotoSentMail {
    /// SES's message id.
    pub id: String,
    /// `FromEmailAddress` of the request.
    pub source: String,
    /// The recipients SES derived from the request and the `To`/`Cc`/`Bcc` headers.
    pub destinations: Vec<String>,
    /// The MIME bytes SES received, parsed.
    pub mail: ParsedMail,
}

/// Every raw message a moto server at `moto_url` has sent through SES (v1 or v2), across all tests using it.
///
/// # Panics
/// When moto cannot be reached or its answer has an unexpected shape.
pub async fn read_moto_ses(moto_url: &str) -> Vec<MotoSentMail> {
    let url = format!("{}/moto-api/data.json", moto_url.trim_end_matches('/'));
    let data: serde_json::Value = reqwest::get(&url)
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"));
    let Some(raw_messages) = data.pointer("/ses/RawMessage").and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    let text = |entry: &serde_json::Value, key: &str| {
        entry.get(key).and_then(|v| v.as_str()).unwrap_or_else(|| panic!("moto RawMessage without `{key}`")).to_owned()
    };
    raw_messages
        .iter()
        .map(|entry| MotoSentMail {
            id: text(entry, "id"),
            source: text(entry, "source"),
            destinations: entry
                .get("destinations")
                .and_then(|v| v.as_array())
                .map(|list| list.iter().filter_map(|d| d.as_str()).map(str::to_owned).collect())
                .unwrap_or_default(),
            mail: parse_mail(text(entry, "raw_data").as_bytes()),
        })
        .collect()
}
