//! `notify`: emails one notification, if it still should be when the job runs.
#![allow(clippy::disallowed_methods)] // notifications belong to a user, looked up by id from the job

use async_trait::async_trait;
use entities::notification_kinds::{email_state, Channel, Kind};
use entities::tables::notifications;
use platform::jobs::{Envelope, Job};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use serde_json::Value;

use super::{recipient, MailDeps};
use crate::handler::{Handler, HandlerError};
use crate::notifications::preference;

pub struct NotifyHandler {
    db: DatabaseConnection,
    mail: MailDeps,
}

impl NotifyHandler {
    pub fn new(db: DatabaseConnection, mail: MailDeps) -> NotifyHandler {
        NotifyHandler { db, mail }
    }
}

#[async_trait]
impl Handler for NotifyHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::Notify { notification_id } = envelope.job else {
            return Err(HandlerError::permanent("not a notify job"));
        };
        let tx = entities::begin_write(&self.db).await?;
        // The row lock (MySQL) makes a concurrent duplicate wait here and then see `sent`.
        let Some(n) = notifications::Entity::find_by_id(notification_id).lock_exclusive().one(&tx).await? else {
            return Ok(()); // deleted with its user: nothing to send
        };
        if n.email_state != email_state::PENDING {
            return Ok(());
        }
        let set_state = |state: &'static str| {
            notifications::Entity::update_many()
                .col_expr(notifications::Column::EmailState, Expr::value(state))
                .col_expr(notifications::Column::EmailedAt, Expr::value(Some(entities::now())))
                .filter(notifications::Column::Id.eq(n.id))
        };
        // The preference may have changed since the notification was made.
        let kind: Option<Kind> = n.kind.parse().ok();
        if let Some(kind) = kind {
            match preference(&tx, n.user_id, kind).await? {
                (Channel::Email, false) => {}
                (Channel::Email, true) => {
                    set_state(email_state::DIGEST)
                        .col_expr(notifications::Column::EmailedAt, Expr::value(None::<chrono::DateTime<chrono::Utc>>))
                        .exec(&tx)
                        .await?;
                    tx.commit().await?;
                    return Ok(());
                }
                _ => {
                    set_state(email_state::SKIPPED).exec(&tx).await?;
                    tx.commit().await?;
                    return Ok(());
                }
            }
        }
        let Some(user) = recipient(&tx, n.user_id).await? else {
            set_state(email_state::SKIPPED).exec(&tx).await?;
            tx.commit().await?;
            return Ok(());
        };
        let mut ctx = n.data.clone();
        if let Some(task) = ctx.get_mut("task").and_then(Value::as_object_mut) {
            task.insert("url".into(), self.mail.link(&n.url).into());
        }
        // A report's link is its page in the app, stored as a path like a task's.
        if let Some(Value::String(path)) = ctx.get_mut("download_url") {
            if path.starts_with('/') {
                *path = self.mail.link(path);
            }
        }
        let unsubscribe = self.mail.unsubscribe_url(n.user_id, &n.kind);
        // Shown in the footer too: the same one-click endpoint answers a browser's GET with a confirmation.
        if let Some(map) = ctx.as_object_mut() {
            map.insert("unsubscribe_url".into(), unsubscribe.clone().into());
        }
        self.mail.send(&user, &n.kind, ctx, Some(unsubscribe)).await?;
        set_state(email_state::SENT).exec(&tx).await?;
        tx.commit().await?;
        Ok(())
    }
}
