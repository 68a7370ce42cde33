//! Encodes a [`Mail`] as one RFC 5322 message: multipart/alternative with the text part first and the HTML part
//! last (clients show the last part they understand), a `Message-ID` of our own, `Date`, RFC 2047 encoded
//! non-ASCII headers, and the RFC 8058 one-click unsubscribe pair when asked for. Both adapters send these bytes.
use chrono::{DateTime, Utc};
use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::headers::url::URL;
use mail_builder::MessageBuilder;
use uuid::Uuid;

use super::address::Mailbox;
use super::{Mail, MailError};

/// Headers the encoder writes itself; a caller setting one would produce a duplicate or a broken structure.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-unsubscribe",
    "list-unsubscribe-post",
];

/// An encoded message.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// Without angle brackets: `0193…@example.com`.
    pub message_id: String,
    /// The sender's bare address (envelope sender / SES source identity).
    pub from_address: String,
    pub bytes: Vec<u8>,
}

fn check_header(name: &str, value: &str) -> Result<(), MailError> {
    let invalid = |reason| MailError::InvalidHeader { name: name.to_owned(), reason };
    // RFC 5322 field names: printable ASCII except the colon.
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(invalid("a header name is printable ASCII without a colon"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(invalid("this header is set by the mail encoder"));
    }
    if value.chars().any(|c| c == '\r' || c == '\n') {
        return Err(invalid("a header value must be one line"));
    }
    Ok(())
}

fn check_unsubscribe_url(url: &str) -> Result<(), MailError> {
    let absolute = url.starts_with("https://") || url.starts_with("http://");
    if !absolute || url.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') {
        return Err(MailError::InvalidUnsubscribeUrl(url.to_owned()));
    }
    Ok(())
}

fn address(mailbox: &Mailbox) -> Address<'_> {
    Address::new_address(mailbox.name.as_deref(), mailbox.address.as_str())
}

/// Subjects are one line: a title with a line break must not become a second header.
fn one_line(subject: &str) -> String {
    subject.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Encodes `mail` as sent at `now`.
pub(crate) fn encode(mail: &Mail, now: DateTime<Utc>) -> Result<Encoded, MailError> {
    let from = Mailbox::parse(&mail.from)?;
    if mail.to.is_empty() {
        return Err(MailError::NoRecipient);
    }
    let to = mail.to.iter().map(|t| Mailbox::parse(t)).collect::<Result<Vec<_>, _>>()?;
    for (name, value) in &mail.headers {
        check_header(name, value)?;
    }
    if let Some(url) = &mail.list_unsubscribe {
        check_unsubscribe_url(url)?;
    }

    // UUIDv7 at the sender's domain: unique without coordination, and sortable like the outbox file names.
    let message_id = format!("{}@{}", Uuid::now_v7().simple(), from.domain());
    let mut builder = MessageBuilder::new()
        .message_id(MessageId::new(message_id.as_str()))
        .date(Date::new(now.timestamp()))
        .from(address(&from))
        .to(Address::new_list(to.iter().map(address).collect()))
        .subject(Text::new(one_line(&mail.subject)));
    if let Some(url) = &mail.list_unsubscribe {
        builder = builder
            .header("List-Unsubscribe", URL::new(url.as_str()))
            .header("List-Unsubscribe-Post", Raw::new("List-Unsubscribe=One-Click"));
    }
    for (name, value) in &mail.headers {
        builder = builder.header(name.as_str(), Text::new(value.as_str()));
    }
    let bytes = builder
        .text_body(mail.text.as_str())
        .html_body(mail.html.as_str())
        .write_to_vec()
        .map_err(MailError::Encode)?;
    Ok(Encoded { message_id, from_address: from.address, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            from: "Taskforge <no-reply@taskforge.example>".into(),
            to: vec!["Bob <bob@example.com>".into()],
            subject: "Hello".into(),
            html: "<p>Hi</p>".into(),
            text: "Hi".into(),
            list_unsubscribe: None,
            headers: vec![],
        }
    }

    #[test]
    fn the_encoder_owns_its_headers() {
        let mut m = mail();
        m.headers.push(("Bcc".into(), "eve@example.com".into()));
        assert!(matches!(encode(&m, Utc::now()), Err(MailError::InvalidHeader { .. })));
        let mut m = mail();
        m.headers.push(("X-Taskforge-Notification".into(), "a\r\nBcc: eve@example.com".into()));
        assert!(matches!(encode(&m, Utc::now()), Err(MailError::InvalidHeader { .. })));
        let mut m = mail();
        m.headers.push(("X Bad".into(), "v".into()));
        assert!(matches!(encode(&m, Utc::now()), Err(MailError::InvalidHeader { .. })));
    }

    #[test]
    fn a_message_needs_a_recipient_and_an_absolute_unsubscribe_url() {
        let mut m = mail();
        m.to.clear();
        assert!(matches!(encode(&m, Utc::now()), Err(MailError::NoRecipient)));
        let mut m = mail();
        m.list_unsubscribe = Some("/unsubscribe".into());
        assert!(matches!(encode(&m, Utc::now()), Err(MailError::InvalidUnsubscribeUrl(_))));
    }

    #[test]
    fn a_subject_stays_on_one_line() {
        let mut m = mail();
        m.subject = "Title\r\nBcc: eve@example.com".into();
        let encoded = encode(&m, Utc::now()).unwrap();
        let text = String::from_utf8(encoded.bytes).unwrap();
        assert!(text.contains("Subject: Title Bcc: eve@example.com\r\n"), "{text}");
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(text.contains(&format!("Message-ID: <{}>", encoded.message_id)), "{text}");
        assert!(encoded.message_id.ends_with("@taskforge.example"));
    }
}
