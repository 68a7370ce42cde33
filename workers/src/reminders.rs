//! Firing due reminders, exactly once however many schedulers tick at the same moment.
//!
//! A scheduler run finds reminders with `fired_at IS NULL AND fire_at <= now` and takes each with a conditional
//! update that sets a lease (`claim_token`, `claimed_until`) only where none is held: one update affects the row, the
//! others affect nothing and move on. The holder writes one `notifications` row per recipient and enqueues a
//! `Notify` job for each ([`deliver`]), then sets `fired_at`. The queue may be another system than the database, so
//! the notification rows and the jobs cannot commit together: a run that dies half-way leaves its lease to expire,
//! and the next run delivers again, which the notifications' unique `dedupe_key` turns into the same rows (and the
//! `Notify` handler, idempotent per row, into the same emails).
//!
//! At firing time a reminder goes to its listed recipients, or to the task's assignees when it has none listed,
//! minus anyone who has since lost sight of the project. A reminder of a deleted task, or a due-date reminder of a
//! completed task, fires silently: it is marked fired with nobody notified.
#![allow(clippy::disallowed_methods)] // the scheduler works across orgs; each query names the reminder's org

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entities::tables::{memberships, notifications, project_members, projects, reminders, task_assignees, tasks};
use entities::Role;
use platform::jobs::{Clock, Envelope, Job, Queue};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::handler::HandlerError;
use crate::notifications::{create, email_state, Kind, NewNotification};

/// How long a run may take to deliver one reminder before another run may take it over.
pub const CLAIM_LEASE: Duration = Duration::from_secs(60);

/// The notification kind of reminders.
pub const KIND: &str = "reminder";

/// What one reminder tells its recipients; the same for each of them.
#[derive(Clone, Debug, PartialEq)]
pub struct ReminderNotice {
    pub org_id: Uuid,
    pub reminder_id: Uuid,
    pub task_id: Uuid,
    /// Who set the reminder.
    pub actor_id: Uuid,
    /// The firing this notice is for: with the reminder id, it names the notifications (`dedupe_key`), so a
    /// re-armed reminder notifies again and a repeated delivery does not.
    pub fire_at: DateTime<Utc>,
    /// `Reminder: WEB-42 Title`.
    pub title: String,
    /// The reminder's note, or empty.
    pub body: String,
    /// `/orgs/{org}/tasks/WEB-42`.
    pub url: String,
    /// Template fields: task key and title, note, due date, fire time.
    pub data: Value,
}

impl ReminderNotice {
    /// The `dedupe_key` of the notice's notification for `user_id`.
    pub fn dedupe_key(&self, user_id: Uuid) -> String {
        format!("{KIND}:{}:{}:{user_id}", self.reminder_id, self.fire_at.timestamp_micros())
    }
}

/// Delivers a reminder: one `notifications` row per recipient (email state `pending`) and a `Notify` job for each.
/// Idempotent: a repeated call finds the rows by `dedupe_key` and enqueues their jobs again, which the `Notify`
/// handler absorbs. Returns the notification ids.
///
/// Recipients' preferences apply as for every notification: reminders turned off create nothing, in-app only
/// creates the row without a job, a daily digest leaves the email to the digest.
pub async fn deliver(
    db: &DatabaseConnection,
    queue: &dyn Queue,
    notice: &ReminderNotice,
    recipients: &[Uuid],
) -> Result<Vec<Uuid>, HandlerError> {
    if recipients.is_empty() {
        return Ok(Vec::new());
    }
    let tx = entities::begin_write(db).await?;
    let mut ids = Vec::with_capacity(recipients.len());
    for user_id in recipients {
        let key = notice.dedupe_key(*user_id);
        if let Some((id, state)) = notification_by_key(&tx, &key).await? {
            if state == email_state::PENDING {
                ids.push(id);
            }
            continue;
        }
        let new = NewNotification {
            org_id: Some(notice.org_id),
            user_id: *user_id,
            kind: Kind::Reminder,
            actor_id: Some(notice.actor_id),
            entity_type: Some("task"),
            entity_id: Some(notice.task_id),
            title: notice.title.clone(),
            body: notice.body.clone(),
            url: notice.url.clone(),
            data: notice.data.clone(),
            dedupe_key: key,
        };
        // `None`: the recipient turned reminders off, or a concurrent run (after a lease expired mid-delivery)
        // wrote the row first and enqueues its own job.
        if let Some(row) = create(&tx, new).await? {
            if row.email_state == email_state::PENDING {
                ids.push(row.id);
            }
        }
    }
    tx.commit().await?;
    let jobs: Vec<Envelope> =
        ids.iter().map(|id| Envelope::new(Job::Notify { notification_id: *id }, Some(notice.org_id))).collect();
    queue.enqueue(&jobs, Duration::ZERO).await.map_err(HandlerError::retryable)?;
    Ok(ids)
}

async fn notification_by_key(db: &impl sea_orm::ConnectionTrait, key: &str) -> Result<Option<(Uuid, String)>, DbErr> {
    notifications::Entity::find()
        .select_only()
        .column(notifications::Column::Id)
        .column(notifications::Column::EmailState)
        .filter(notifications::Column::DedupeKey.eq(key))
        .into_tuple()
        .one(db)
        .await
}

/// Fires due reminders in batches.
#[derive(Clone)]
pub struct ReminderFiring {
    db: DatabaseConnection,
    /// Leases and `fired_at` are real time; which reminders are due is decided by the tick's own time.
    clock: Clock,
    /// Reminders looked at per query.
    pub batch_size: u64,
}

impl ReminderFiring {
    pub fn new(db: DatabaseConnection, clock: Clock) -> ReminderFiring {
        ReminderFiring { db, clock, batch_size: 100 }
    }

    /// Claims and delivers up to one batch of the reminders due at `now`; returns how many this run fired and
    /// whether the batch was full (more may be due).
    pub async fn fire_batch(&self, queue: &dyn Queue, now: DateTime<Utc>) -> Result<(usize, bool), HandlerError> {
        let wall = self.clock.now();
        let due: Vec<Uuid> = reminders::Entity::find()
            .select_only()
            .column(reminders::Column::Id)
            .filter(reminders::Column::FiredAt.is_null())
            .filter(reminders::Column::FireAt.lte(entities::far_date(now)))
            .filter(lease_free(wall))
            .order_by_asc(reminders::Column::FireAt)
            .limit(self.batch_size)
            .into_tuple()
            .all(&self.db)
            .await?;
        let full = due.len() as u64 >= self.batch_size;
        let mut fired = 0;
        for id in due {
            let token = entities::new_id();
            if !self.claim(id, token, now).await? {
                continue;
            }
            match self.fire(queue, id, token).await {
                Ok(true) => fired += 1,
                Ok(false) => {}
                Err(e) => {
                    // Give the reminder back now rather than when the lease runs out.
                    self.release(id, token).await.ok();
                    return Err(e);
                }
            }
        }
        Ok((fired, full))
    }

    /// Takes the lease on a reminder that is still due and free; true when this run holds it.
    async fn claim(&self, id: Uuid, token: Uuid, now: DateTime<Utc>) -> Result<bool, DbErr> {
        let wall = self.clock.now();
        let until = wall + chrono::Duration::from_std(CLAIM_LEASE).expect("a minute fits a chrono duration");
        let claimed = reminders::Entity::update_many()
            .col_expr(reminders::Column::ClaimToken, Expr::value(token))
            .col_expr(reminders::Column::ClaimedUntil, Expr::value(until))
            .filter(reminders::Column::Id.eq(id))
            .filter(reminders::Column::FiredAt.is_null())
            .filter(reminders::Column::FireAt.lte(entities::far_date(now)))
            .filter(lease_free(wall))
            .exec(&self.db)
            .await?;
        Ok(claimed.rows_affected == 1)
    }

    /// Delivers a claimed reminder and marks it fired; false when it turned out to fire silently or to have been
    /// moved meanwhile.
    async fn fire(&self, queue: &dyn Queue, id: Uuid, token: Uuid) -> Result<bool, HandlerError> {
        let Some(reminder) = reminders::Entity::find_by_id(id).one(&self.db).await? else {
            return Ok(false); // deleted since it was claimed
        };
        let Some(fire_at) = reminder.fire_at else {
            self.release(id, token).await?;
            return Ok(false);
        };
        let task = tasks::Entity::find_by_id(reminder.task_id)
            .filter(tasks::Column::OrgId.eq(reminder.org_id))
            .one(&self.db)
            .await?;
        let silent = match &task {
            None => true,
            Some(t) => t.deleted_at.is_some() || (reminder.remind_at.is_none() && t.completed_at.is_some()),
        };
        let mut delivered = false;
        if let (false, Some(task)) = (silent, task) {
            let project = projects::Entity::find_by_id(task.project_id)
                .filter(projects::Column::OrgId.eq(reminder.org_id))
                .one(&self.db)
                .await?
                .ok_or_else(|| HandlerError::permanent(format!("task {} has no project", task.id)))?;
            let recipients = self.recipients(&reminder, &task, &project).await?;
            let notice = notice(&reminder, &task, &project, entities::utc(fire_at));
            delivered = !deliver(&self.db, queue, &notice, &recipients).await?.is_empty();
        }
        // Fired, unless the reminder was moved while it was being delivered: then it waits for its new time.
        let marked = reminders::Entity::update_many()
            .col_expr(reminders::Column::FiredAt, Expr::value(self.clock.now()))
            .col_expr(reminders::Column::ClaimToken, Expr::value(Option::<Uuid>::None))
            .col_expr(reminders::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(reminders::Column::Id.eq(id))
            .filter(reminders::Column::ClaimToken.eq(token))
            .filter(reminders::Column::FireAt.eq(fire_at))
            .exec(&self.db)
            .await?;
        if marked.rows_affected == 0 {
            self.release(id, token).await?;
        }
        Ok(delivered)
    }

    async fn release(&self, id: Uuid, token: Uuid) -> Result<(), DbErr> {
        reminders::Entity::update_many()
            .col_expr(reminders::Column::ClaimToken, Expr::value(Option::<Uuid>::None))
            .col_expr(reminders::Column::ClaimedUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(reminders::Column::Id.eq(id))
            .filter(reminders::Column::ClaimToken.eq(token))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The listed recipients or the task's assignees, keeping only members who still see the project.
    async fn recipients(
        &self,
        reminder: &reminders::Model,
        task: &tasks::Model,
        project: &projects::Model,
    ) -> Result<Vec<Uuid>, HandlerError> {
        let wanted: Vec<Uuid> = match &reminder.recipients {
            Some(list) => serde_json::from_value(list.clone())
                .map_err(|e| HandlerError::permanent(format!("reminder {} recipients: {e}", reminder.id)))?,
            None => {
                task_assignees::Entity::find()
                    .select_only()
                    .column(task_assignees::Column::UserId)
                    .filter(task_assignees::Column::OrgId.eq(reminder.org_id))
                    .filter(task_assignees::Column::TaskId.eq(task.id))
                    .order_by_asc(task_assignees::Column::UserId)
                    .into_tuple()
                    .all(&self.db)
                    .await?
            }
        };
        if wanted.is_empty() {
            return Ok(wanted);
        }
        let roles: Vec<(Uuid, String)> = memberships::Entity::find()
            .select_only()
            .column(memberships::Column::UserId)
            .column(memberships::Column::Role)
            .filter(memberships::Column::OrgId.eq(reminder.org_id))
            .filter(memberships::Column::UserId.is_in(wanted.clone()))
            .into_tuple()
            .all(&self.db)
            .await?;
        let in_project: HashSet<Uuid> = project_members::Entity::find()
            .select_only()
            .column(project_members::Column::UserId)
            .filter(project_members::Column::OrgId.eq(reminder.org_id))
            .filter(project_members::Column::ProjectId.eq(project.id))
            .filter(project_members::Column::UserId.is_in(wanted.clone()))
            .into_tuple::<Uuid>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        let org_wide = project.visibility == "org";
        let seeing: HashSet<Uuid> = roles
            .into_iter()
            .filter(|(user, role)| {
                role.parse::<Role>().is_ok_and(|r| r.sees_project(org_wide, in_project.contains(user)))
            })
            .map(|(user, _)| user)
            .collect();
        Ok(wanted.into_iter().filter(|u| seeing.contains(u)).collect())
    }
}

/// No run holds the lease, or its holder's lease ran out.
fn lease_free(wall: DateTime<Utc>) -> Condition {
    Condition::any().add(reminders::Column::ClaimedUntil.is_null()).add(reminders::Column::ClaimedUntil.lte(wall))
}

/// What a reminder of `task` says.
fn notice(
    reminder: &reminders::Model,
    task: &tasks::Model,
    project: &projects::Model,
    fire_at: DateTime<Utc>,
) -> ReminderNotice {
    let key = format!("{}-{}", project.key, task.number);
    ReminderNotice {
        org_id: reminder.org_id,
        reminder_id: reminder.id,
        task_id: task.id,
        actor_id: reminder.created_by,
        fire_at,
        title: format!("Reminder: {key} {}", task.title),
        body: reminder.note.clone().unwrap_or_default(),
        url: format!("/orgs/{}/tasks/{key}", reminder.org_id),
        // The template's fields; the `notify` job makes `task.url` absolute from the notification's `url`.
        data: json!({
            "task": {
                "ref": key,
                "title": task.title,
                "url": format!("/orgs/{}/tasks/{key}", reminder.org_id),
                "project_name": project.name,
                "due_at": task.due_at.map(|d| crate::mail_jobs::display_time(entities::utc(d))),
            },
            "note": reminder.note,
            "reminder_id": reminder.id,
            "fire_at": fire_at,
        }),
    }
}
