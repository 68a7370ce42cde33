//! The bus port: live fan-out of published events to the SSE streams of every API process.
//!
//! The outbox publisher (`workers::publish_event`) puts each event on the bus after it is recorded in the event
//! store; every API process holds one subscription and hands each event to its open streams, which filter by org,
//! project and visibility. The bus is deliberately lossy: the event store is the record, and a stream that may
//! have missed something (a subscriber that lagged, a Redis reconnect) is told so with [`BusMessage::Gap`] and
//! catches up from the store, the same way a client resuming with `Last-Event-ID` does.
//!
//! The bus also carries a hint the other way: after a write commits, the API announces that the outbox has rows,
//! which wakes the outbox relays (in `serve` and in every worker process) at once instead of at their next poll.
//!
//! Two adapters: [`MemoryBus`] (a tokio broadcast channel, `serve`: publisher and streams share the process) and
//! [`RedisBus`] (Redis pub/sub on one channel, several API processes and separate workers).
mod memory;
mod redis_bus;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::events::ActivityEvent;
use crate::wake::Wake;
use crate::Config;

pub use memory::MemoryBus;
pub use redis_bus::RedisBus;

/// How many messages a subscriber may fall behind before it lags (and then catches up from the store).
pub const SUBSCRIBER_BUFFER: usize = 4096;

/// An event as live clients receive it: the activity event plus, for task events, the task as it is after the
/// change, so a board can apply it without fetching.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    pub event: ActivityEvent,
    /// The task's board fields (`id`, `key`, `title`, `status_id`, `position`, `version`, assignees, labels, …)
    /// when the event concerns a task; `deleted_at` is set for a deleted one.
    pub task: Option<Value>,
}

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum BusMessage {
    Event(Arc<LiveEvent>),
    /// Events may have been missed (a Redis reconnect): catch up from the event store.
    Gap,
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the bus is unavailable: {0}")]
    Unavailable(String),
    #[error("encoding the event for the bus: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The live-update bus.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Hands `event` to every subscriber of every process (at most once each; none may be listening).
    async fn publish(&self, event: &LiveEvent) -> Result<(), BusError>;
    /// A new subscription to what is published from now on.
    fn subscribe(&self) -> broadcast::Receiver<BusMessage>;

    /// Tells the outbox relays of every process that new outbox rows committed, so they publish now instead of at
    /// their next poll. A hint: it never fails, and a lost one costs one poll interval.
    async fn announce_outbox(&self);

    /// What [`Bus::announce_outbox`] wakes in this process.
    fn outbox_wake(&self) -> Wake;
}

impl std::fmt::Debug for dyn Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bus")
    }
}

/// The bus the configuration names: in-process, or Redis at `TASKFORGE_BUS`.
pub async fn bus_from_config(config: &Config) -> Result<Arc<dyn Bus>, BusError> {
    Ok(match &config.bus_redis_url {
        None => Arc::new(MemoryBus::new()),
        Some(url) => Arc::new(RedisBus::connect(url).await?),
    })
}
