//! Appends domain events to the `outbox` table inside the caller's transaction, so an event exists exactly when its
//! change committed. A relay publishes them later (activity log, live updates, notifications).
use entities::tables::outbox;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde_json::Value;
use uuid::Uuid;

use crate::error::AppError;

/// One event to append.
pub struct Event<'a> {
    pub org_id: Uuid,
    pub actor_id: Option<Uuid>,
    /// Dotted name, e.g. `task.created`.
    pub event_type: &'a str,
    pub entity_type: &'a str,
    pub entity_id: Uuid,
    /// What changed: for updates `{"changes": {"field": {"from": …, "to": …}}}`, else the new entity.
    pub payload: Value,
}

/// Appends `event` using `tx` (which must be the transaction of the change).
pub async fn record(tx: &impl ConnectionTrait, event: Event<'_>) -> Result<(), AppError> {
    outbox::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(event.org_id),
        event_type: Set(event.event_type.to_owned()),
        actor_id: Set(event.actor_id),
        entity_type: Set(event.entity_type.to_owned()),
        entity_id: Set(event.entity_id),
        payload: Set(event.payload),
        created_at: Set(entities::now()),
        published_at: Set(None),
        claimed_until: Set(None),
    }
    .insert(tx)
    .await?;
    Ok(())
}
