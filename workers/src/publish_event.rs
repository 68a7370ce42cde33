//! The `PublishEvent` handler: delivers one outbox event to its consumers, once in effect per outbox row.
//!
//! The relay may enqueue a row twice (crash between enqueue and mark) and the queue may deliver a job twice, so the
//! handler keys its idempotency record on the outbox id, not the job id. Consumers are [`EventSink`]s run inside
//! that record's transaction (a log line, the notification fan-out; the event store and the live bus join later).
//!
//! Live updates go on the bus after the commit, so no stream shows a change whose publication then rolled back;
//! a bus that refuses fails the job, whose retry (finding the event processed) publishes again. Streams drop the
//! duplicate by event id.
//!
//! Notifications to email get their `notify` jobs after the commit, because a queue such as SQS cannot take part
//! in the transaction. Should that enqueue fail, the job is retried: the retry finds the event already processed
//! and enqueues the event's still-pending notifications again (the `notify` handler ignores a repeat).
#![allow(clippy::disallowed_methods)] // the event is looked up by id and the org of the job envelope

use std::sync::Arc;

use async_trait::async_trait;
use std::time::Duration;

use entities::tables::{notifications, outbox};
use platform::bus::Bus;
use platform::jobs::{Envelope, Job, Queue};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::handler::{Handler, HandlerError};
use crate::idempotency::mark_processed_once;

/// Where published events go. Called inside the transaction that records the event as processed, so a failing
/// sink rolls the record back and the job is retried.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    async fn publish(&self, tx: &DatabaseTransaction, event: &outbox::Model) -> Result<(), HandlerError>;
}

/// Logs each event.
pub struct LogSink;

#[async_trait]
impl EventSink for LogSink {
    async fn publish(&self, _tx: &DatabaseTransaction, event: &outbox::Model) -> Result<(), HandlerError> {
        tracing::info!(
            event_id = %event.id,
            event_type = %event.event_type,
            entity_type = %event.entity_type,
            entity_id = %event.entity_id,
            "event published"
        );
        Ok(())
    }
}

/// Handles `publish_event` jobs.
pub struct PublishEventHandler {
    db: DatabaseConnection,
    queue: Arc<dyn Queue>,
    sinks: Vec<Arc<dyn EventSink>>,
    bus: Option<Arc<dyn Bus>>,
}

impl PublishEventHandler {
    pub fn new(db: DatabaseConnection, queue: Arc<dyn Queue>, sinks: Vec<Arc<dyn EventSink>>) -> PublishEventHandler {
        PublishEventHandler { db, queue, sinks, bus: None }
    }

    /// Also puts every published event on `bus` for the live streams.
    pub fn with_bus(mut self, bus: Arc<dyn Bus>) -> PublishEventHandler {
        self.bus = Some(bus);
        self
    }

    /// Puts the event on the bus, if there is one.
    async fn publish_live(&self, conn: &impl ConnectionTrait, event: &outbox::Model) -> Result<(), HandlerError> {
        let Some(bus) = &self.bus else {
            return Ok(());
        };
        let live = crate::live_updates::live_event(conn, event).await?;
        bus.publish(&live).await.map_err(|e| HandlerError::retryable(format!("live update of {}: {e}", event.id)))
    }

    /// Enqueues the mail an event calls for: a `notify` job for each of its notifications still waiting to be
    /// emailed, and the invitation email of a new invitation. Each of those jobs tolerates a repeat.
    async fn enqueue_pending_mail(&self, event: &outbox::Model) -> Result<(), HandlerError> {
        let pending = notifications::Entity::find()
            .filter(notifications::Column::DedupeKey.starts_with(format!("event:{}:", event.id)))
            .filter(notifications::Column::EmailState.eq(crate::notifications::email_state::PENDING))
            .all(&self.db)
            .await?;
        let mut jobs: Vec<Envelope> =
            pending.into_iter().map(|n| Envelope::new(Job::Notify { notification_id: n.id }, n.org_id)).collect();
        if event.event_type == "invitation.created" {
            jobs.push(Envelope::new(Job::InvitationMail { invitation_id: event.entity_id }, Some(event.org_id)));
        }
        if !jobs.is_empty() {
            self.queue.enqueue(&jobs, Duration::ZERO).await.map_err(HandlerError::retryable)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Handler for PublishEventHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::PublishEvent { outbox_id } = envelope.job else {
            return Err(HandlerError::permanent("not a publish_event job"));
        };
        let tx = entities::begin_write(&self.db).await?;
        let mut query = outbox::Entity::find_by_id(outbox_id);
        if let Some(org_id) = envelope.org_id {
            query = query.filter(outbox::Column::OrgId.eq(org_id));
        }
        let Some(event) = query.one(&tx).await? else {
            return Err(HandlerError::permanent(format!("outbox row {outbox_id} does not exist")));
        };
        if !mark_processed_once(&tx, outbox_id, "publish_event").await? {
            tracing::info!(event_id = %outbox_id, "event already published; skipping the duplicate");
            drop(tx);
            self.publish_live(&self.db, &event).await?;
            return self.enqueue_pending_mail(&event).await;
        }
        for sink in &self.sinks {
            sink.publish(&tx, &event).await?;
        }
        tx.commit().await?;
        self.publish_live(&self.db, &event).await?;
        self.enqueue_pending_mail(&event).await
    }
}
