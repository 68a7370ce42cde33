//! The event store port: the activity log (feeds per org, project, task and user) and daily counters, written
//! once per published outbox row and read by the activity and analytics endpoints.
//!
//! Two adapters behind one trait, so the code above it is one code path: [`DbEventStore`] (the `activity_events`
//! and `activity_counters` tables, the embedded default) and [`DynamoEventStore`] (one DynamoDB table, production).
//! Both make [`EventStore::record`] idempotent on the event id: the event and its counter increments are written
//! together or not at all, and a replayed outbox row finds its event present and changes nothing, counters
//! included. When the store is down, recording fails with [`EventStoreError::Unavailable`], the publishing job is
//! retried, and the event waits; nothing is lost.
//!
//! Feeds are newest first (time, then id: ids are UUIDv7, so the outbox order breaks ties) and paged with an
//! opaque cursor that both adapters read the same way (see [`cursor`]).
mod counters;
mod cursor;
mod db;
mod dynamo;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use entities::tables::outbox;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::config::EventsKind;
use crate::Config;

pub use counters::{counters_for, names as counter_names};
pub use db::DbEventStore;
pub use dynamo::{DynamoEventStore, TTL_ATTRIBUTE};

/// The most events one feed page holds.
pub const MAX_PAGE: u32 = 200;
/// The longest range of days one counters query covers.
pub const MAX_COUNTER_DAYS: i64 = 366;

/// One published domain event as the activity log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityEvent {
    /// The outbox row's id (UUIDv7): the idempotency key of [`EventStore::record`].
    pub id: Uuid,
    pub org_id: Uuid,
    /// When the change committed (the outbox row's `created_at`), to the microsecond.
    pub occurred_at: DateTime<Utc>,
    /// Dotted name, e.g. `task.created`.
    pub event_type: String,
    /// Who made the change; `None` for the system (a scan verdict).
    pub actor_id: Option<Uuid>,
    pub entity_type: String,
    pub entity_id: Uuid,
    /// The project the event belongs to, when it belongs to one (its project feed).
    pub project_id: Option<Uuid>,
    /// The task the event belongs to, when it belongs to one (the task's history).
    pub task_id: Option<Uuid>,
    pub payload: Value,
}

impl ActivityEvent {
    /// The event of an outbox row. The task and project come from the row alone: a task event's task is its
    /// entity, a project event's project likewise, other events name them in the payload (`task_id`,
    /// `project_id`). Where the payload does not name the project (a comment, a task update), the caller that
    /// can read the task fills it in (see the workers' activity sink).
    pub fn from_outbox(row: &outbox::Model) -> ActivityEvent {
        let named = |key: &str| row.payload.get(key).and_then(Value::as_str).and_then(|s| s.parse::<Uuid>().ok());
        let (project_id, task_id) = match row.entity_type.as_str() {
            "project" => (Some(row.entity_id), None),
            "task" => (named("project_id"), Some(row.entity_id)),
            _ => (named("project_id"), named("task_id")),
        };
        ActivityEvent {
            id: row.id,
            org_id: row.org_id,
            occurred_at: row.created_at.trunc_subsecs(6),
            event_type: row.event_type.clone(),
            actor_id: row.actor_id,
            entity_type: row.entity_type.clone(),
            entity_id: row.entity_id,
            project_id,
            task_id,
            payload: row.payload.clone(),
        }
    }
}

/// Which feed to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Everything in the org.
    Org,
    /// The events of one project.
    Project(Uuid),
    /// One task's history.
    Task(Uuid),
    /// What one user did.
    User(Uuid),
}

/// One page of a feed, with optional filters.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedQuery {
    pub feed: Feed,
    /// Only these event types; empty for all.
    pub event_types: Vec<String>,
    /// Only events by this user.
    pub actor_id: Option<Uuid>,
    /// Events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Events per page, 1 to [`MAX_PAGE`].
    pub limit: u32,
    /// Where the previous page ended ([`FeedPage::next_cursor`]).
    pub cursor: Option<String>,
}

impl FeedQuery {
    /// The first page of `feed`, unfiltered.
    pub fn new(feed: Feed, limit: u32) -> FeedQuery {
        FeedQuery { feed, event_types: Vec::new(), actor_id: None, since: None, until: None, limit, cursor: None }
    }

    /// Checks the limit and the range, and decodes the cursor.
    fn validate(&self) -> Result<Option<cursor::Position>, EventStoreError> {
        if !(1..=MAX_PAGE).contains(&self.limit) {
            return Err(EventStoreError::InvalidQuery(format!("limit must be between 1 and {MAX_PAGE}")));
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since >= until {
                return Err(EventStoreError::InvalidQuery("since must be before until".into()));
            }
        }
        self.cursor.as_deref().map(cursor::Position::decode).transpose()
    }
}

/// A page of events, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedPage {
    pub events: Vec<ActivityEvent>,
    /// The cursor of the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

/// A change to one daily counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterDelta {
    /// The UTC day of the event.
    pub date: NaiveDate,
    /// The project; `None` for the org total.
    pub project_id: Option<Uuid>,
    pub name: String,
    pub delta: i64,
}

/// One counter's value on one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyCounter {
    pub date: NaiveDate,
    /// The project; `None` for the org total.
    pub project_id: Option<Uuid>,
    pub name: String,
    pub value: i64,
}

/// What [`EventStore::record`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The event and its counter increments were written.
    Inserted,
    /// The event was there already; nothing changed.
    AlreadyRecorded,
}

/// The event store failed.
#[derive(Debug, thiserror::Error)]
pub enum EventStoreError {
    /// The cursor was not made by this store (or was altered).
    #[error("the activity cursor is not valid")]
    BadCursor,
    /// The query asks for something the store does not serve (a page too large, an empty range).
    #[error("invalid activity query: {0}")]
    InvalidQuery(String),
    /// The store cannot be reached or is overloaded: try again later.
    #[error("the event store ({store}) is unavailable: {detail}")]
    Unavailable { store: &'static str, detail: String },
    /// The store refused the request (a missing table, a malformed request).
    #[error("the event store ({store}) refused the request: {detail}")]
    Rejected { store: &'static str, detail: String },
    /// A stored item could not be read back.
    #[error("stored activity is malformed: {0}")]
    Corrupt(String),
}

impl EventStoreError {
    /// Whether trying the same request again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, EventStoreError::Unavailable { .. })
    }
}

/// The activity log and its daily counters.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Records `event` and applies `counters`, atomically. Idempotent on `event.id`: when the event is present
    /// already nothing changes, counters included, and the answer is [`Recorded::AlreadyRecorded`].
    async fn record(&self, event: &ActivityEvent, counters: &[CounterDelta]) -> Result<Recorded, EventStoreError>;

    /// [`EventStore::record`] from inside the caller's database transaction. A store that lives in that database
    /// writes within it, so the event commits or rolls back with the caller's work (and, on SQLite's single
    /// connection, does not wait for a second one); any other store ignores `tx`.
    async fn record_in(
        &self,
        tx: &DatabaseTransaction,
        event: &ActivityEvent,
        counters: &[CounterDelta],
    ) -> Result<Recorded, EventStoreError> {
        let _ = tx;
        self.record(event, counters).await
    }

    /// Deletes the raw events that expired before `now` (counters are kept) and says how many. A store whose
    /// backend expires items itself (DynamoDB's TTL) has nothing to do.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, EventStoreError> {
        let _ = now;
        Ok(0)
    }

    /// One page of a feed of `org_id`, newest first.
    async fn feed(&self, org_id: Uuid, query: &FeedQuery) -> Result<FeedPage, EventStoreError>;

    /// The counters of `org_id` from `from` to `to` (both included), of one project or (`None`) the org totals,
    /// ordered by day and name. Days and names never counted are absent.
    async fn counters(
        &self,
        org_id: Uuid,
        project_id: Option<Uuid>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyCounter>, EventStoreError>;
}

impl std::fmt::Debug for dyn EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStore")
    }
}

/// Checks a counters range: `from` ≤ `to`, at most [`MAX_COUNTER_DAYS`] days.
fn check_days(from: NaiveDate, to: NaiveDate) -> Result<(), EventStoreError> {
    if from > to {
        return Err(EventStoreError::InvalidQuery("from must not be after to".into()));
    }
    if (to - from).num_days() >= MAX_COUNTER_DAYS {
        return Err(EventStoreError::InvalidQuery(format!("at most {MAX_COUNTER_DAYS} days per query")));
    }
    Ok(())
}

/// The configured event store: the database's tables (`events = database`) or the DynamoDB table
/// (`events = dynamodb`, `dynamodb_table`). Raw events expire after `event_ttl_days`.
pub async fn event_store_from_config(
    config: &Config,
    db: &DatabaseConnection,
) -> Result<Arc<dyn EventStore>, EventStoreError> {
    let ttl = chrono::Duration::days(i64::from(config.event_ttl_days));
    Ok(match config.events {
        EventsKind::Database => Arc::new(DbEventStore::new(db.clone(), ttl)),
        EventsKind::DynamoDb => {
            let sdk = crate::aws::sdk_config(config).await;
            Arc::new(DynamoEventStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.dynamodb_table, ttl))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(event_type: &str, entity_type: &str, payload: Value) -> outbox::Model {
        outbox::Model {
            id: Uuid::now_v7(),
            org_id: Uuid::now_v7(),
            event_type: event_type.into(),
            actor_id: Some(Uuid::now_v7()),
            entity_type: entity_type.into(),
            entity_id: Uuid::now_v7(),
            payload,
            created_at: "2026-11-25T10:00:00.123456789Z".parse().unwrap(),
            published_at: None,
            claimed_until: None,
        }
    }

    #[test]
    fn the_task_and_project_come_from_the_entity_or_the_payload() {
        let project = Uuid::now_v7();
        let task = Uuid::now_v7();
        let created = row("task.created", "task", json!({ "project_id": project }));
        let e = ActivityEvent::from_outbox(&created);
        assert_eq!((e.project_id, e.task_id), (Some(project), Some(created.entity_id)));
        assert_eq!(e.occurred_at, "2026-11-25T10:00:00.123456Z".parse::<DateTime<Utc>>().unwrap());
        let comment = ActivityEvent::from_outbox(&row("comment.created", "comment", json!({ "task_id": task })));
        assert_eq!((comment.project_id, comment.task_id), (None, Some(task)));
        let p = row("project.archived", "project", json!({}));
        assert_eq!(ActivityEvent::from_outbox(&p).project_id, Some(p.entity_id));
        let org = ActivityEvent::from_outbox(&row("org.renamed", "org", json!({ "changes": {} })));
        assert_eq!((org.project_id, org.task_id), (None, None));
    }

    #[test]
    fn a_query_out_of_bounds_is_refused() {
        for limit in [0, MAX_PAGE + 1] {
            assert!(matches!(FeedQuery::new(Feed::Org, limit).validate(), Err(EventStoreError::InvalidQuery(_))));
        }
        let mut q = FeedQuery::new(Feed::Org, 10);
        q.since = Some(Utc::now());
        q.until = q.since;
        assert!(matches!(q.validate(), Err(EventStoreError::InvalidQuery(_))));
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert!(check_days(day, day).is_ok());
        assert!(check_days(day, day + chrono::Duration::days(MAX_COUNTER_DAYS)).is_err());
        assert!(check_days(day, day - chrono::Duration::days(1)).is_err());
    }
}
