//! The mail port: a rendered message ([`Mail`]) goes out through a [`Mailer`].
//!
//! Two adapters share one MIME encoder (`mime.rs`, multipart/alternative text + HTML), so what lands in the embedded
//! outbox is byte for byte what SES would be handed: [`OutboxMailer`] writes `.eml` files under
//! `{data_dir}/outbox/`, [`SesMailer`] sends the same bytes as SES v2 raw content. Bodies come from
//! [`templates::Templates`]; callers never build MIME or talk to an SDK themselves.
//!
//! Errors say whether retrying can help ([`MailError::is_permanent`]): a malformed address or a message SES refuses
//! will fail the same way every time, while a full disk, a network error or throttling may pass on the next attempt.
mod address;
mod mime;
mod outbox;
mod ses;
pub mod templates;
#[cfg(feature = "mail-readback")]
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::MailKind;
use crate::Config;

pub use outbox::{outbox_dir, OutboxMailer};
pub use ses::SesMailer;
pub use templates::{Rendered, TemplateError, Templates};

/// One message, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// `"Taskforge <no-reply@example.com>"` (`Config::mail_from`) or a bare address.
    pub from: String,
    /// `"Name <addr>"` or bare addresses; at least one.
    pub to: Vec<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// An absolute URL; adds `List-Unsubscribe: <url>` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
    /// (RFC 8058), which mailbox providers turn into a one-click unsubscribe button.
    pub list_unsubscribe: Option<String>,
    /// Extra headers, e.g. `X-Taskforge-Notification`. Headers the encoder sets itself are refused.
    pub headers: Vec<(String, String)>,
}

/// The text an unsubscribe link signs (purpose `unsubscribe`): one user and one notification kind.
pub fn unsubscribe_message(user_id: uuid::Uuid, kind: &str) -> String {
    format!("{user_id}:{kind}")
}

/// What the mail service answered for a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    /// The id bounces and complaints refer to: SES's `MessageId`, or for the outbox the `Message-ID` header
    /// (without angle brackets).
    pub message_id: String,
}

/// A message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail address `{address}`: {reason}")]
    InvalidAddress { address: String, reason: &'static str },
    #[error("the message has no recipient")]
    NoRecipient,
    #[error("invalid mail header `{name}`: {reason}")]
    InvalidHeader { name: String, reason: &'static str },
    #[error("invalid List-Unsubscribe URL `{0}`: expected an absolute http(s) URL without spaces or angle brackets")]
    InvalidUnsubscribeUrl(String),
    #[error("encoding the message: {0}")]
    Encode(#[source] std::io::Error),
    #[error("writing to the mail outbox {path}: {source}")]
    Outbox {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The service looked at the message and refused it; sending it again will not change that.
    #[error("the mail service refused the message ({code}): {message}")]
    Rejected { code: String, message: String },
    /// The service could not be reached, timed out, failed, or is throttling; a later attempt may succeed.
    #[error("the mail service is unavailable ({code}): {message}")]
    Unavailable { code: String, message: String },
}

impl MailError {
    /// True when sending the same message again cannot succeed (bad address or header, refused content);
    /// false for transient failures (network, throttling, a full disk), which a retry with backoff may overcome.
    pub fn is_permanent(&self) -> bool {
        match self {
            MailError::InvalidAddress { .. }
            | MailError::NoRecipient
            | MailError::InvalidHeader { .. }
            | MailError::InvalidUnsubscribeUrl(_)
            | MailError::Encode(_)
            | MailError::Rejected { .. } => true,
            MailError::Outbox { .. } | MailError::Unavailable { .. } => false,
        }
    }
}

/// Sends rendered mail. Implementations are cheap to share (`Arc<dyn Mailer>`).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message. Delivery is at least once from the caller's side: a retry after an ambiguous failure
    /// (a timeout after SES accepted the message) can send it twice.
    async fn send(&self, mail: &Mail) -> Result<SentMail, MailError>;
}

/// The mailer `config` selects: the outbox under `data_dir` (created now, so an unwritable directory stops
/// start-up) or SES v2 in `aws_region`, through the shared SDK configuration.
pub async fn mailer_from_config(config: &Config) -> Result<Arc<dyn Mailer>, MailError> {
    address::Mailbox::parse(&config.mail_from)?;
    match config.mail {
        MailKind::Outbox => {
            let mailer = OutboxMailer::new(&config.data_dir);
            mailer.ensure_dir()?;
            Ok(Arc::new(mailer))
        }
        MailKind::Ses => {
            let sdk = crate::aws::sdk_config(config).await;
            Ok(Arc::new(SesMailer::new(&sdk, config.ses_configuration_set.clone())))
        }
    }
}

/// Checks that `value` is a usable sender or recipient (`"Name <addr>"` or a bare address); for configuration.
pub fn validate_address(value: &str) -> Result<(), MailError> {
    address::Mailbox::parse(value).map(|_| ())
}
