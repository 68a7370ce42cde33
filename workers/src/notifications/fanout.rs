//! Turns published events into notifications: assignments, mentions, and comments, status and due-date changes on
//! the tasks people watch. It runs inside the transaction that marks the outbox row processed, so an event fans out
//! exactly once in effect; each row's dedupe key (`event:{outbox_id}:{user}`) covers the rest.
//!
//! Nobody is notified of their own action, and nobody who can no longer see the task's project (removed from the
//! org, or from a private project) hears about it.
use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use entities::tables::{comments, outbox, projects, statuses, tasks, users, watchers};
use entities::Scope;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, QueryFilter};
use serde_json::{json, Value};
use uuid::Uuid;

use super::create::{create, truncate, NewNotification};
use crate::handler::HandlerError;
use crate::mail_jobs::display_time;
use crate::publish_event::EventSink;
use entities::notification_kinds::Kind;

/// The [`EventSink`] that creates notifications.
pub struct NotificationSink;

#[async_trait]
impl EventSink for NotificationSink {
    async fn publish(&self, tx: &DatabaseTransaction, event: &outbox::Model) -> Result<(), HandlerError> {
        let Some(plan) = plan(tx, event).await? else {
            return Ok(());
        };
        let Some(ctx) = TaskContext::load(tx, event.org_id, plan.task_id, event.actor_id).await? else {
            // The task is gone (deleted for good) or was never there: nothing to tell anyone.
            return Ok(());
        };
        for (user_id, (kind, extra)) in plan.recipients {
            if Some(user_id) == event.actor_id || !ctx.sees_project(tx, user_id).await? {
                continue;
            }
            create(tx, ctx.notification(event, user_id, kind, extra)).await?;
        }
        Ok(())
    }
}

/// Who gets what for one event, before access checks.
struct Plan {
    task_id: Uuid,
    /// One notification per user: the most specific kind wins (assigned or mentioned over a watcher's update).
    recipients: BTreeMap<Uuid, (Kind, Value)>,
}

impl Plan {
    fn new(task_id: Uuid) -> Plan {
        Plan { task_id, recipients: BTreeMap::new() }
    }

    fn add(&mut self, users: impl IntoIterator<Item = Uuid>, kind: Kind, extra: Value) {
        for u in users {
            self.recipients.entry(u).or_insert_with(|| (kind, extra.clone()));
        }
    }
}

fn uuids(v: &Value) -> Vec<Uuid> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str()?.parse().ok()).collect()).unwrap_or_default()
}

async fn plan(tx: &DatabaseTransaction, event: &outbox::Model) -> Result<Option<Plan>, DbErr> {
    let p = &event.payload;
    match event.event_type.as_str() {
        "task.created" => {
            let mut plan = Plan::new(event.entity_id);
            plan.add(uuids(&p["assignee_ids"]), Kind::TaskAssigned, json!({}));
            Ok(Some(plan))
        }
        "task.updated" | "task.moved" => {
            let changes = &p["changes"];
            let mut plan = Plan::new(event.entity_id);
            if let Some(c) = changes.get("assignee_ids") {
                let before: HashSet<Uuid> = uuids(&c["from"]).into_iter().collect();
                plan.add(uuids(&c["to"]).into_iter().filter(|u| !before.contains(u)), Kind::TaskAssigned, json!({}));
            }
            let watching = if changes.get("status_id").is_some() || changes.get("due_at").is_some() {
                watcher_ids(tx, event.org_id, event.entity_id).await?
            } else {
                Vec::new()
            };
            if let Some(c) = changes.get("status_id") {
                let names = status_names(tx, event.org_id, &[&c["from"], &c["to"]]).await?;
                plan.add(
                    watching.iter().copied(),
                    Kind::TaskStatusChanged,
                    json!({ "from_status": names[0], "to_status": names[1] }),
                );
            }
            if let Some(c) = changes.get("due_at") {
                plan.add(
                    watching.iter().copied(),
                    Kind::TaskDueChanged,
                    json!({ "from_due": event_time(&c["from"]), "to_due": event_time(&c["to"]) }),
                );
            }
            Ok((!plan.recipients.is_empty()).then_some(plan))
        }
        "comment.created" => {
            let Some(task_id) = p["task_id"].as_str().and_then(|s| s.parse().ok()) else {
                return Ok(None);
            };
            let comment = Scope::system(event.org_id)
                .find::<comments::Entity>()
                .filter(comments::Column::Id.eq(event.entity_id))
                .one(tx)
                .await?;
            let Some(comment) = comment else { return Ok(None) };
            let excerpt = json!({ "comment_excerpt": truncate(comment.body.trim(), 280) });
            let mut plan = Plan::new(task_id);
            plan.add(uuids(&p["mentions"]), Kind::Mentioned, excerpt.clone());
            plan.add(watcher_ids(tx, event.org_id, task_id).await?, Kind::TaskCommented, excerpt);
            Ok(Some(plan))
        }
        _ => Ok(None),
    }
}

async fn watcher_ids(tx: &DatabaseTransaction, org_id: Uuid, task_id: Uuid) -> Result<Vec<Uuid>, DbErr> {
    let rows =
        Scope::system(org_id).find::<watchers::Entity>().filter(watchers::Column::TaskId.eq(task_id)).all(tx).await?;
    Ok(rows.into_iter().map(|w| w.user_id).collect())
}

/// The names of the statuses whose ids are `ids` (JSON strings), in order; an unknown one reads "(deleted)".
async fn status_names(tx: &DatabaseTransaction, org_id: Uuid, ids: &[&Value]) -> Result<Vec<String>, DbErr> {
    let wanted: Vec<Uuid> = ids.iter().filter_map(|v| v.as_str()?.parse().ok()).collect();
    let rows =
        Scope::system(org_id).find::<statuses::Entity>().filter(statuses::Column::Id.is_in(wanted)).all(tx).await?;
    Ok(ids
        .iter()
        .map(|v| {
            let id: Option<Uuid> = v.as_str().and_then(|s| s.parse().ok());
            rows.iter().find(|s| Some(s.id) == id).map_or_else(|| "(deleted)".to_owned(), |s| s.name.clone())
        })
        .collect())
}

/// An RFC 3339 time from an event as mail shows it (`2026-12-01 17:00 UTC`), or null.
fn event_time(v: &Value) -> Value {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map_or(Value::Null, |t| json!(display_time(t.with_timezone(&chrono::Utc))))
}

/// What every notification about one task needs.
pub(crate) struct TaskContext {
    org_id: Uuid,
    task: tasks::Model,
    project: projects::Model,
    actor_name: String,
    key: String,
    path: String,
}

impl TaskContext {
    pub(crate) async fn load(
        db: &impl ConnectionTrait,
        org_id: Uuid,
        task_id: Uuid,
        actor_id: Option<Uuid>,
    ) -> Result<Option<TaskContext>, DbErr> {
        let scope = Scope::system(org_id);
        let Some(task) = scope.find::<tasks::Entity>().filter(tasks::Column::Id.eq(task_id)).one(db).await? else {
            return Ok(None);
        };
        if task.deleted_at.is_some() {
            return Ok(None);
        }
        let Some(project) =
            scope.find::<projects::Entity>().filter(projects::Column::Id.eq(task.project_id)).one(db).await?
        else {
            return Ok(None);
        };
        let actor_name = match actor_id {
            Some(id) => user_name(db, id).await?.unwrap_or_else(|| "Someone".to_owned()),
            None => "Taskforge".to_owned(),
        };
        let key = format!("{}-{}", project.key, task.number);
        let path = format!("/orgs/{org_id}/tasks/{key}");
        Ok(Some(TaskContext { org_id, task, project, actor_name, key, path }))
    }

    /// Whether `user_id` may see the task's project now.
    pub(crate) async fn sees_project(&self, db: &impl ConnectionTrait, user_id: Uuid) -> Result<bool, DbErr> {
        crate::access::sees_project(db, user_id, &self.project).await
    }

    /// The template fields shared by every task notification.
    pub(crate) fn task_data(&self) -> Value {
        json!({
            "ref": self.key,
            "title": self.task.title,
            // The app path; the `notify` job makes it absolute, like every link it mails.
            "url": self.path.clone(),
            "project_name": self.project.name,
            "due_at": self.task.due_at.map(|d| display_time(entities::utc(d))),
        })
    }

    fn notification(&self, event: &outbox::Model, user_id: Uuid, kind: Kind, extra: Value) -> NewNotification {
        let (title, body) = match kind {
            Kind::TaskAssigned => (format!("{} assigned you {}", self.actor_name, self.key), self.task.title.clone()),
            Kind::Mentioned => (
                format!("{} mentioned you on {}", self.actor_name, self.key),
                extra["comment_excerpt"].as_str().unwrap_or_default().to_owned(),
            ),
            Kind::TaskCommented => (
                format!("{} commented on {}", self.actor_name, self.key),
                extra["comment_excerpt"].as_str().unwrap_or_default().to_owned(),
            ),
            Kind::TaskStatusChanged => (
                format!("{} moved {} to {}", self.actor_name, self.key, extra["to_status"].as_str().unwrap_or("?")),
                self.task.title.clone(),
            ),
            Kind::TaskDueChanged => (
                match extra["to_due"].as_str() {
                    Some(due) => format!("{} set {} due {due}", self.actor_name, self.key),
                    None => format!("{} removed the due date of {}", self.actor_name, self.key),
                },
                self.task.title.clone(),
            ),
            Kind::Reminder | Kind::ReportReady | Kind::AttachmentInfected => {
                (self.key.clone(), self.task.title.clone())
            }
        };
        let mut data = json!({ "actor_name": self.actor_name, "task": self.task_data() });
        if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        NewNotification {
            org_id: Some(self.org_id),
            user_id,
            kind,
            actor_id: event.actor_id,
            entity_type: Some("task"),
            entity_id: Some(self.task.id),
            title,
            body,
            url: self.path.clone(),
            data,
            dedupe_key: format!("event:{}:{user_id}", event.id),
        }
    }
}

#[allow(clippy::disallowed_methods)] // users are not tenant rows
async fn user_name(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<String>, DbErr> {
    use sea_orm::EntityTrait;
    Ok(users::Entity::find_by_id(id).one(db).await?.map(|u| u.name))
}
