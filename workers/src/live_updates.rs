//! What goes on the live-update bus for a published outbox row: its activity event and, for a task's event, the
//! task's board fields as they are now, so an open board applies the change without fetching.
//!
//! The snapshot is read when the row is published, so it may be newer than the event (a later edit already
//! committed); it carries the task's `version`, and a client keeps whichever copy has the higher one.
use entities::board_card::event_task;
use entities::tables::outbox;
use platform::bus::LiveEvent;
use sea_orm::{ConnectionTrait, DbErr};

use crate::activity_sink::activity_event;

/// The live event of `row`.
pub async fn live_event(conn: &impl ConnectionTrait, row: &outbox::Model) -> Result<LiveEvent, DbErr> {
    let event = activity_event(conn, row).await?;
    let task = event_task(conn, row.org_id, event.task_id).await?;
    Ok(LiveEvent { event, task })
}
