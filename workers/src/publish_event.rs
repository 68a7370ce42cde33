//! The `PublishEvent` handler: delivers one outbox event to its consumers, once in effect per outbox row.
//!
//! The relay may enqueue a row twice (crash between enqueue and mark) and the queue may deliver a job twice, so the
//! handler keys its idempotency record on the outbox id, not the job id. For now the only consumer is a log line
//! ([`LogSink`]); the event store and the live bus plug in as further [`EventSink`]s.
#![allow(clippy::disallowed_methods)] // the event is looked up by id and the org of the job envelope

use std::sync::Arc;

use async_trait::async_trait;
use entities::tables::outbox;
use platform::jobs::{Envelope, Job};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};

use crate::handler::{Handler, HandlerError};
use crate::idempotency::mark_processed_once;

/// Where published events go. Called inside the transaction that records the event as processed, so a failing
/// sink rolls the record back and the job is retried.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    async fn publish(&self, event: &outbox::Model) -> Result<(), HandlerError>;
}

/// Logs each event.
pub struct LogSink;

#[async_trait]
impl EventSink for LogSink {
    async fn publish(&self, event: &outbox::Model) -> Result<(), HandlerError> {
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
    sink: Arc<dyn EventSink>,
}

impl PublishEventHandler {
    pub fn new(db: DatabaseConnection, sink: Arc<dyn EventSink>) -> PublishEventHandler {
        PublishEventHandler { db, sink }
    }
}

#[async_trait]
impl Handler for PublishEventHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::PublishEvent { outbox_id } = envelope.job else {
            return Err(HandlerError::permanent("not a publish_event job"));
        };
        let tx = self.db.begin().await?;
        let mut query = outbox::Entity::find_by_id(outbox_id);
        if let Some(org_id) = envelope.org_id {
            query = query.filter(outbox::Column::OrgId.eq(org_id));
        }
        let Some(event) = query.one(&tx).await? else {
            return Err(HandlerError::permanent(format!("outbox row {outbox_id} does not exist")));
        };
        if !mark_processed_once(&tx, outbox_id, "publish_event").await? {
            tracing::info!(event_id = %outbox_id, "event already published; skipping the duplicate");
            return Ok(());
        }
        self.sink.publish(&event).await?;
        tx.commit().await?;
        Ok(())
    }
}
