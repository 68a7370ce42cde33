//! `account_mail`: the email verification and password-reset links.
#![allow(clippy::disallowed_methods)] // account tokens are not tenant rows

use async_trait::async_trait;
use entities::tables::account_tokens;
use platform::jobs::{Envelope, Job};
use platform::secret_key::purpose;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::json;

use super::{display_time, recipient, MailDeps};
use crate::handler::{Handler, HandlerError};
use crate::idempotency::mark_processed_once;

pub struct AccountMailHandler {
    db: DatabaseConnection,
    mail: MailDeps,
}

impl AccountMailHandler {
    pub fn new(db: DatabaseConnection, mail: MailDeps) -> AccountMailHandler {
        AccountMailHandler { db, mail }
    }
}

#[async_trait]
impl Handler for AccountMailHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::AccountMail { token_id } = envelope.job else {
            return Err(HandlerError::permanent("not an account_mail job"));
        };
        let tx = entities::begin_write(&self.db).await?;
        let Some(token) = account_tokens::Entity::find_by_id(token_id).one(&tx).await? else {
            return Ok(());
        };
        // A link that no longer works is not worth sending (retired by a newer request, used, or expired).
        if token.used_at.is_some() || token.expires_at <= entities::now() {
            return Ok(());
        }
        if !mark_processed_once(&tx, token_id, "account_mail").await? {
            return Ok(());
        }
        let Some(user) = recipient(&tx, token.user_id).await? else {
            return Ok(());
        };
        let (template, page, link_key) = match token.purpose.as_str() {
            purpose::VERIFY_EMAIL => ("verify_email", "/verify-email", "verify_url"),
            purpose::PASSWORD_RESET => ("password_reset", "/reset-password", "reset_url"),
            other => return Err(HandlerError::permanent(format!("unknown account token purpose `{other}`"))),
        };
        let link = self.mail.link(&format!("{page}?token={}", self.mail.secret.token(&token.purpose, token.id)));
        // The token was issued for this address; an account that changed address since gets nothing.
        let to = super::Recipient { name: user.name, email: token.email.clone() };
        let ctx = json!({ link_key: link, "expires_at": display_time(token.expires_at) });
        self.mail.send(&to, template, ctx, None).await?;
        tx.commit().await?;
        Ok(())
    }
}
