//! Appends domain events to the `outbox` table inside the caller's transaction (see
//! [`entities::tables::outbox::append`]). A relay publishes them later (activity log, live updates, notifications).
use sea_orm::ConnectionTrait;

pub use entities::tables::outbox::Event;

use crate::error::AppError;

/// Appends `event` using `tx` (which must be the transaction of the change).
pub async fn record(tx: &impl ConnectionTrait, event: Event<'_>) -> Result<(), AppError> {
    entities::tables::outbox::append(tx, event).await?;
    Ok(())
}
