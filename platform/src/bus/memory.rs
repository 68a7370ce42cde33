//! The in-process bus of `serve`: one tokio broadcast channel shared by the publisher and every stream.
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Bus, BusError, BusMessage, LiveEvent, SUBSCRIBER_BUFFER};
use crate::wake::Wake;

/// A bus inside one process.
#[derive(Clone)]
pub struct MemoryBus {
    tx: broadcast::Sender<BusMessage>,
    outbox: Wake,
}

impl MemoryBus {
    pub fn new() -> MemoryBus {
        MemoryBus { tx: broadcast::channel(SUBSCRIBER_BUFFER).0, outbox: Wake::new() }
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        MemoryBus::new()
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, event: &LiveEvent) -> Result<(), BusError> {
        // No subscriber is not an error: nobody has a stream open.
        let _ = self.tx.send(BusMessage::Event(Arc::new(event.clone())));
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<BusMessage> {
        self.tx.subscribe()
    }

    async fn announce_outbox(&self) {
        self.outbox.wake();
    }

    fn outbox_wake(&self) -> Wake {
        self.outbox.clone()
    }
}
