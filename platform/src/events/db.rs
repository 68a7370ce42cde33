//! The embedded event store: the `activity_events` and `activity_counters` tables of the application database
//! (SQLite or MySQL), shaped like the DynamoDB table so the same queries are cheap: the org feed walks
//! `(org_id, occurred_at, id)` backwards, the project, task and user feeds their own `(org_id, …, occurred_at)`
//! indexes, and counters are one row per org, day, project (nil UUID for the org total) and name.
//!
//! Recording is one transaction: insert the event, and only when that succeeded add the counter increments with
//! an upsert. A duplicate id ends it with the unique violation (a plain insert, not `ON CONFLICT DO NOTHING`, whose
//! affected-row count on MySQL depends on connection flags), so a replay never counts twice.
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use entities::tables::{activity_counters, activity_events};
use entities::Scope;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
};
use uuid::Uuid;

use super::cursor::Position;
use super::{
    check_days, ActivityEvent, CounterDelta, DailyCounter, EventStore, EventStoreError, Feed, FeedPage, FeedQuery,
    Recorded,
};

const STORE: &str = "database";

/// The event store in the application database.
#[derive(Clone)]
pub struct DbEventStore {
    db: DatabaseConnection,
    ttl: chrono::Duration,
}

impl DbEventStore {
    /// A store over `db`; raw events expire `ttl` after they happened.
    pub fn new(db: DatabaseConnection, ttl: chrono::Duration) -> DbEventStore {
        DbEventStore { db, ttl }
    }

    /// Inserts the event and applies the counters with `conn`, which must be a transaction: on a duplicate the
    /// caller drops it, so nothing of this call remains.
    async fn write(
        &self,
        conn: &impl ConnectionTrait,
        event: &ActivityEvent,
        counters: &[CounterDelta],
    ) -> Result<Recorded, DbErr> {
        let row = activity_events::ActiveModel {
            id: Set(event.id),
            org_id: Set(event.org_id),
            occurred_at: Set(event.occurred_at),
            event_type: Set(event.event_type.clone()),
            actor_id: Set(event.actor_id),
            entity_type: Set(event.entity_type.clone()),
            entity_id: Set(event.entity_id),
            project_id: Set(event.project_id),
            task_id: Set(event.task_id),
            payload: Set(event.payload.clone()),
            expires_at: Set(event.occurred_at + self.ttl),
        };
        match activity_events::Entity::insert(row).exec_without_returning(conn).await {
            Ok(_) => {}
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Ok(Recorded::AlreadyRecorded)
            }
            Err(e) => return Err(e),
        }
        for c in counters.iter().filter(|c| c.delta != 0) {
            use activity_counters::Column;
            let row = activity_counters::ActiveModel {
                org_id: Set(event.org_id),
                day: Set(c.date),
                project_id: Set(c.project_id.unwrap_or(Uuid::nil())),
                name: Set(c.name.clone()),
                value: Set(c.delta),
            };
            activity_counters::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([Column::OrgId, Column::Day, Column::ProjectId, Column::Name])
                        .value(Column::Value, Expr::col(Column::Value).add(c.delta))
                        .to_owned(),
                )
                .exec_without_returning(conn)
                .await?;
        }
        Ok(Recorded::Inserted)
    }
}

/// Lost or unobtainable connections are worth a retry; anything else is the store refusing the request.
fn db_error(e: DbErr) -> EventStoreError {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
            EventStoreError::Unavailable { store: STORE, detail: e.to_string() }
        }
        e if crate::db::is_lock_conflict(&e) => EventStoreError::Unavailable { store: STORE, detail: e.to_string() },
        e => EventStoreError::Rejected { store: STORE, detail: e.to_string() },
    }
}

#[async_trait]
impl EventStore for DbEventStore {
    /// Deletes the events that expired before `now` (counters are kept); returns how many.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, EventStoreError> {
        #[allow(clippy::disallowed_methods)] // expiry is across orgs by design; it reads no tenant data
        let done = activity_events::Entity::delete_many()
            .filter(activity_events::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected)
    }

    async fn record(&self, event: &ActivityEvent, counters: &[CounterDelta]) -> Result<Recorded, EventStoreError> {
        let tx = entities::begin_write(&self.db).await.map_err(db_error)?;
        let recorded = self.write(&tx, event, counters).await.map_err(db_error)?;
        if recorded == Recorded::Inserted {
            tx.commit().await.map_err(db_error)?;
        }
        Ok(recorded)
    }

    async fn record_in(
        &self,
        tx: &DatabaseTransaction,
        event: &ActivityEvent,
        counters: &[CounterDelta],
    ) -> Result<Recorded, EventStoreError> {
        // A savepoint, so a duplicate leaves the caller's transaction exactly as it was.
        let savepoint = tx.begin().await.map_err(db_error)?;
        let recorded = self.write(&savepoint, event, counters).await.map_err(db_error)?;
        if recorded == Recorded::Inserted {
            savepoint.commit().await.map_err(db_error)?;
        }
        Ok(recorded)
    }

    async fn feed(&self, org_id: Uuid, query: &FeedQuery) -> Result<FeedPage, EventStoreError> {
        use activity_events::Column;
        let after = query.validate()?;
        let mut select = Scope::system(org_id).find::<activity_events::Entity>();
        select = match query.feed {
            Feed::Org => select,
            Feed::Project(id) => select.filter(Column::ProjectId.eq(id)),
            Feed::Task(id) => select.filter(Column::TaskId.eq(id)),
            Feed::User(id) => select.filter(Column::ActorId.eq(id)),
        };
        if !query.event_types.is_empty() {
            select = select.filter(Column::EventType.is_in(query.event_types.iter().cloned()));
        }
        if let Some(actor) = query.actor_id {
            select = select.filter(Column::ActorId.eq(actor));
        }
        if let Some(since) = query.since {
            select = select.filter(Column::OccurredAt.gte(since));
        }
        if let Some(until) = query.until {
            select = select.filter(Column::OccurredAt.lt(until));
        }
        if let Some(p) = after {
            let at = p.time();
            select = select.filter(
                Condition::any()
                    .add(Column::OccurredAt.lt(at))
                    .add(Condition::all().add(Column::OccurredAt.eq(at)).add(Column::Id.lt(p.id))),
            );
        }
        let mut rows = select
            .order_by_desc(Column::OccurredAt)
            .order_by_desc(Column::Id)
            .limit(u64::from(query.limit) + 1)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let more = rows.len() > query.limit as usize;
        rows.truncate(query.limit as usize);
        let next_cursor = match rows.last() {
            Some(last) if more => Some(Position::of(last.occurred_at, last.id).encode()),
            _ => None,
        };
        let events = rows
            .into_iter()
            .map(|r| ActivityEvent {
                id: r.id,
                org_id: r.org_id,
                occurred_at: r.occurred_at,
                event_type: r.event_type,
                actor_id: r.actor_id,
                entity_type: r.entity_type,
                entity_id: r.entity_id,
                project_id: r.project_id,
                task_id: r.task_id,
                payload: r.payload,
            })
            .collect();
        Ok(FeedPage { events, next_cursor })
    }

    async fn counters(
        &self,
        org_id: Uuid,
        project_id: Option<Uuid>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyCounter>, EventStoreError> {
        use activity_counters::Column;
        check_days(from, to)?;
        let rows = Scope::system(org_id)
            .find::<activity_counters::Entity>()
            .filter(Column::ProjectId.eq(project_id.unwrap_or(Uuid::nil())))
            .filter(Column::Day.between(from, to))
            .order_by_asc(Column::Day)
            .order_by_asc(Column::Name)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|r| DailyCounter { date: r.day, project_id, name: r.name, value: r.value }).collect())
    }
}
