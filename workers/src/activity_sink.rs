//! The [`EventSink`] that writes each published outbox row to the event store (the activity log and its daily
//! counters, see `platform::events`).
//!
//! Before recording it adds what the outbox row does not say but the store needs, read in the publishing
//! transaction: the project of an event that names only its task (comments, task updates), and the category of a
//! task's statuses (`status_category`), which decides whether a move completed or reopened the task. The outbox row
//! itself is left as it is.
//!
//! A database store writes inside the publishing transaction; DynamoDB cannot take part in it, which is safe
//! because recording is idempotent on the outbox id: if the commit fails after DynamoDB took the event, the retry
//! finds it there and counts nothing twice. A store that is down fails the job, which is retried; the event waits.
use std::sync::Arc;

use async_trait::async_trait;
use entities::tables::{outbox, statuses, tasks};
use entities::Scope;
use platform::events::{counters_for, ActivityEvent, EventStore, Recorded};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, QueryFilter, QuerySelect};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::handler::HandlerError;
use crate::publish_event::EventSink;

/// Records published events in the event store.
pub struct ActivitySink {
    store: Arc<dyn EventStore>,
}

impl ActivitySink {
    pub fn new(store: Arc<dyn EventStore>) -> ActivitySink {
        ActivitySink { store }
    }
}

#[async_trait]
impl EventSink for ActivitySink {
    async fn publish(&self, tx: &DatabaseTransaction, row: &outbox::Model) -> Result<(), HandlerError> {
        let event = activity_event(tx, row).await?;
        let counters = counters_for(&event);
        match self.store.record_in(tx, &event, &counters).await {
            Ok(Recorded::Inserted) => Ok(()),
            Ok(Recorded::AlreadyRecorded) => {
                tracing::info!(event_id = %event.id, "event already in the activity log; counters left as they are");
                Ok(())
            }
            // Every failure is retried: the job runtime dead-letters it after the pool's attempts, from where an
            // operator replays it, and a replay is harmless.
            Err(e) => Err(HandlerError::retryable(format!("recording event {} in the activity log: {e}", event.id))),
        }
    }
}

/// The activity event of `row`, with its project and its statuses' categories looked up.
pub async fn activity_event(tx: &impl ConnectionTrait, row: &outbox::Model) -> Result<ActivityEvent, DbErr> {
    let mut event = ActivityEvent::from_outbox(row);
    let scope = Scope::system(row.org_id);
    if let (Some(task_id), None) = (event.task_id, event.project_id) {
        event.project_id = scope
            .find::<tasks::Entity>()
            .filter(tasks::Column::Id.eq(task_id))
            .select_only()
            .column(tasks::Column::ProjectId)
            .into_tuple::<Uuid>()
            .one(tx)
            .await?;
    }
    match event.event_type.as_str() {
        "task.created" => {
            if let Some(category) = category_of(tx, &scope, &event.payload["status_id"]).await? {
                event.payload["status_category"] = json!(category);
            }
        }
        "task.updated" | "task.moved" => {
            let change = &event.payload["changes"]["status_id"];
            let from = category_of(tx, &scope, &change["from"]).await?;
            let to = category_of(tx, &scope, &change["to"]).await?;
            if let (Some(from), Some(to)) = (from, to) {
                event.payload["changes"]["status_category"] = json!({ "from": from, "to": to });
            }
        }
        // A deleted task leaves the cumulative flow and a restored one re-enters it, in its status's category.
        "task.deleted" | "task.restored" => {
            let status_id = scope
                .find::<tasks::Entity>()
                .filter(tasks::Column::Id.eq(event.entity_id))
                .select_only()
                .column(tasks::Column::StatusId)
                .into_tuple::<Uuid>()
                .one(tx)
                .await?;
            if let Some(status_id) = status_id {
                if let Some(category) = category_of(tx, &scope, &json!(status_id)).await? {
                    event.payload["status_category"] = json!(category);
                }
            }
        }
        _ => {}
    }
    Ok(event)
}

/// The category of the status whose id is the JSON string `id`; `None` when there is none (or it was deleted).
async fn category_of(tx: &impl ConnectionTrait, scope: &Scope, id: &Value) -> Result<Option<String>, DbErr> {
    let Some(id) = id.as_str().and_then(|s| s.parse::<Uuid>().ok()) else {
        return Ok(None);
    };
    scope
        .find::<statuses::Entity>()
        .filter(statuses::Column::Id.eq(id))
        .select_only()
        .column(statuses::Column::Category)
        .into_tuple::<String>()
        .one(tx)
        .await
}
