//! The two daily digests, claimed once per user and local day by the scheduler (`daily_digests.rs`): the overdue
//! tasks assigned to the user, and the notifications they chose to receive as one daily email. The job id is the
//! idempotency key: only a redelivery of the same job can repeat one.
#![allow(clippy::disallowed_methods)] // a user's own rows across their orgs, filtered by user id and visibility

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use entities::notification_kinds::email_state;
use entities::tables::{notifications, projects, task_assignees, tasks};
use platform::jobs::{Envelope, Job};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{recipient, MailDeps};
use crate::handler::{Handler, HandlerError};
use crate::idempotency::mark_processed_once;

/// Most items one digest lists; the rest are summed up with a link to the app.
const MAX_ITEMS: usize = 50;

pub struct OverdueDigestHandler {
    db: DatabaseConnection,
    mail: MailDeps,
}

impl OverdueDigestHandler {
    pub fn new(db: DatabaseConnection, mail: MailDeps) -> OverdueDigestHandler {
        OverdueDigestHandler { db, mail }
    }

    /// The user's overdue open tasks in projects they still see, most overdue first.
    async fn overdue(&self, db: &impl sea_orm::ConnectionTrait, user_id: Uuid) -> Result<Vec<Value>, HandlerError> {
        let task_ids: Vec<Uuid> = task_assignees::Entity::find()
            .filter(task_assignees::Column::UserId.eq(user_id))
            .all(db)
            .await?
            .into_iter()
            .map(|a| a.task_id)
            .collect();
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = entities::now();
        let mut rows = Vec::new();
        // Chunks keep the IN list within every database's parameter limit.
        for chunk in task_ids.chunks(500) {
            rows.extend(
                tasks::Entity::find()
                    .filter(tasks::Column::Id.is_in(chunk.to_vec()))
                    .filter(tasks::Column::DeletedAt.is_null())
                    .filter(tasks::Column::CompletedAt.is_null())
                    .filter(tasks::Column::DueAt.lt(entities::far_date(now)))
                    .order_by_asc(tasks::Column::DueAt)
                    .all(db)
                    .await?,
            );
        }
        rows.sort_by_key(|t| t.due_at);
        let mut projects_by_id: HashMap<Uuid, Option<projects::Model>> = HashMap::new();
        let mut out = Vec::new();
        for t in rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = projects_by_id.entry(t.project_id) {
                let p = projects::Entity::find_by_id(t.project_id).one(db).await?;
                let visible = match &p {
                    Some(p) => p.archived_at.is_none() && crate::access::sees_project(db, user_id, p).await?,
                    None => false,
                };
                slot.insert(p.filter(|_| visible));
            }
            let Some(Some(project)) = projects_by_id.get(&t.project_id) else { continue };
            let key = format!("{}-{}", project.key, t.number);
            out.push(json!({
                "ref": key,
                "title": t.title,
                "url": self.mail.link(&format!("/orgs/{}/tasks/{key}", t.org_id)),
                "project_name": project.name,
                "due_at": t.due_at.map(|d| super::display_time(entities::utc(d))),
            }));
        }
        Ok(out)
    }
}

#[async_trait]
impl Handler for OverdueDigestHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::OverdueDigest { user_id, local_date } = envelope.job else {
            return Err(HandlerError::permanent("not an overdue_digest job"));
        };
        let tx = entities::begin_write(&self.db).await?;
        let mut tasks = self.overdue(&tx, user_id).await?;
        if tasks.is_empty() {
            return Ok(()); // nothing overdue: no email
        }
        if !mark_processed_once(&tx, envelope.job_id, "overdue_digest").await? {
            return Ok(());
        }
        let Some(user) = recipient(&tx, user_id).await? else { return Ok(()) };
        tasks.truncate(MAX_ITEMS);
        let ctx = json!({ "date": day(local_date), "tasks": tasks });
        self.mail.send(&user, "overdue_digest", ctx, None).await?;
        tx.commit().await?;
        Ok(())
    }
}

pub struct NotificationDigestHandler {
    db: DatabaseConnection,
    mail: MailDeps,
}

impl NotificationDigestHandler {
    pub fn new(db: DatabaseConnection, mail: MailDeps) -> NotificationDigestHandler {
        NotificationDigestHandler { db, mail }
    }
}

#[async_trait]
impl Handler for NotificationDigestHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::NotificationDigest { user_id, local_date } = envelope.job else {
            return Err(HandlerError::permanent("not a notification_digest job"));
        };
        let tx = entities::begin_write(&self.db).await?;
        let waiting = notifications::Entity::find()
            .filter(notifications::Column::UserId.eq(user_id))
            .filter(notifications::Column::EmailState.eq(email_state::DIGEST))
            .order_by_asc(notifications::Column::Id)
            .all(&tx)
            .await?;
        if waiting.is_empty() {
            return Ok(());
        }
        let Some(user) = recipient(&tx, user_id).await? else { return Ok(()) };
        // A day with more than fits lists the oldest; the rest wait for the next digest rather than vanish.
        let ids: Vec<Uuid> = waiting.iter().take(MAX_ITEMS).map(|n| n.id).collect();
        let items: Vec<Value> = waiting
            .iter()
            .take(MAX_ITEMS)
            .map(|n| json!({ "title": n.title, "body": n.body, "url": self.mail.link(&n.url) }))
            .collect();
        let ctx = json!({ "date": day(local_date), "items": items });
        self.mail.send(&user, "digest", ctx, None).await?;
        // Marking the rows sent is the idempotency record: a redelivered job finds none waiting.
        for chunk in ids.chunks(500) {
            notifications::Entity::update_many()
                .col_expr(notifications::Column::EmailState, Expr::value(email_state::SENT))
                .col_expr(notifications::Column::EmailedAt, Expr::value(Some(entities::now())))
                .filter(notifications::Column::Id.is_in(chunk.to_vec()))
                .filter(notifications::Column::EmailState.eq(email_state::DIGEST))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn day(d: NaiveDate) -> String {
    d.format("%A %-d %B %Y").to_string()
}
