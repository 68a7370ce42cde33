//! The jobs that write email: a notification (`notify`), account links (`account_mail`), invitations
//! (`invitation_mail`) and the two daily digests. Each is idempotent: the row it mails records that it was sent
//! (or `processed_jobs` does, in the transaction that spans the send), so a second delivery of the job sends nothing.
//! A send can still repeat if the process dies between the mail service accepting the message and the commit;
//! that is the at-least-once edge every mail system has, and it needs a crash at that instant.
mod account;
mod digests;
mod invitation;
mod notify;

use std::sync::Arc;

use entities::tables::users;
use platform::mail::{unsubscribe_message, Mail, MailError, Mailer, Templates};
use platform::secret_key::{purpose, SecretKey};
use platform::Config;
use serde_json::Value;
use uuid::Uuid;

pub use account::AccountMailHandler;
pub use digests::{NotificationDigestHandler, OverdueDigestHandler};
pub use invitation::InvitationMailHandler;
pub use notify::NotifyHandler;

use crate::handler::HandlerError;

/// What every mail job needs.
#[derive(Clone)]
pub struct MailDeps {
    pub mailer: Arc<dyn Mailer>,
    pub templates: Arc<Templates>,
    pub secret: SecretKey,
    /// Base of every link, without a trailing slash.
    pub public_url: String,
    pub from: String,
}

impl std::fmt::Debug for MailDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailDeps").field("public_url", &self.public_url).field("from", &self.from).finish()
    }
}

/// The mail dependencies could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Secret(#[from] platform::secret_key::SecretKeyError),
}

impl MailDeps {
    /// The configured mail adapter, the templates and the secret key.
    pub async fn from_config(config: &Config) -> Result<MailDeps, MailSetupError> {
        Ok(MailDeps {
            mailer: platform::mail::mailer_from_config(config).await?,
            templates: Arc::new(Templates::new()),
            secret: SecretKey::load(config)?,
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            from: config.mail_from.clone(),
        })
    }

    /// `path` below the public URL.
    fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// Where people change what they receive (a page of the web app).
    fn preferences_url(&self) -> String {
        self.link("/settings/notifications")
    }

    /// The one-click unsubscribe endpoint for one kind (RFC 8058: mail providers POST to it).
    fn unsubscribe_url(&self, user_id: Uuid, kind: &str) -> String {
        let sig = self.secret.sign(purpose::UNSUBSCRIBE, unsubscribe_message(user_id, kind).as_bytes());
        self.link(&format!("/api/v1/notification-preferences/unsubscribe?user={user_id}&kind={kind}&sig={sig}"))
    }

    /// Renders `template` for `user` with `ctx` (plus the common fields) and sends it.
    async fn send(
        &self,
        user: &Recipient,
        template: &str,
        mut ctx: Value,
        list_unsubscribe: Option<String>,
    ) -> Result<(), HandlerError> {
        if let Some(map) = ctx.as_object_mut() {
            let name = if user.name.trim().is_empty() { &user.email } else { &user.name };
            map.insert("recipient_name".into(), name.clone().into());
            map.insert("app_url".into(), self.public_url.clone().into());
            map.insert("preferences_url".into(), self.preferences_url().into());
            map.entry("unsubscribe_url").or_insert(Value::Null);
        }
        // A template that does not render is a bug or bad stored data: retrying will not fix it.
        let rendered = self.templates.render(template, &ctx).map_err(HandlerError::permanent)?;
        let mail = Mail {
            from: self.from.clone(),
            to: vec![user.mailbox()],
            subject: rendered.subject,
            html: rendered.html,
            text: rendered.text,
            list_unsubscribe,
            headers: vec![("X-Taskforge-Template".into(), template.into())],
        };
        self.mailer.send(&mail).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                HandlerError::permanent(format!("mail to {} refused: {e}", user.email))
            } else {
                HandlerError::retryable(format!("mail service: {e}"))
            }
        })
    }
}

/// Who a message goes to.
struct Recipient {
    name: String,
    email: String,
}

impl Recipient {
    fn mailbox(&self) -> String {
        // Quotes and angle brackets in a display name would break the address header; keep the name readable.
        let name: String = self.name.chars().filter(|c| !matches!(c, '"' | '<' | '>' | '\\' | '\r' | '\n')).collect();
        if name.trim().is_empty() {
            self.email.clone()
        } else {
            format!("{} <{}>", name.trim(), self.email)
        }
    }
}

#[allow(clippy::disallowed_methods)] // users are not tenant rows
async fn recipient(db: &impl sea_orm::ConnectionTrait, user_id: Uuid) -> Result<Option<Recipient>, HandlerError> {
    use sea_orm::EntityTrait;
    Ok(users::Entity::find_by_id(user_id).one(db).await?.map(|u| Recipient { name: u.name, email: u.email }))
}

/// A time as mail and notifications show it (`2026-12-01 17:00 UTC`).
pub(crate) fn display_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}
