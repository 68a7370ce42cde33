//! The Redis bus: `PUBLISH` on one channel, and one `SUBSCRIBE` per process whose messages are re-broadcast to the
//! process's streams.
//!
//! One subscription per process, not per stream, so a thousand open boards cost Redis one connection. The
//! subscriber reconnects with backoff for as long as the process lives; each time its subscription is (re)made it
//! sends [`BusMessage::Gap`], because whatever was published while it was away reached nobody here, and the
//! streams catch up from the event store. Publishing goes through a lazily connecting [`ConnectionManager`] with
//! short timeouts, so a Redis outage fails a publish quickly (the publisher retries) instead of hanging it.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::{Bus, BusError, BusMessage, LiveEvent, SUBSCRIBER_BUFFER};
use crate::wake::Wake;

/// The channel every process publishes to and subscribes on.
pub const CHANNEL: &str = "taskforge:v1:events";
/// The channel of outbox announcements (empty messages: "rows committed, relay now").
pub const OUTBOX_CHANNEL: &str = "taskforge:v1:outbox";

const TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A bus over Redis pub/sub.
#[derive(Clone)]
pub struct RedisBus {
    publisher: ConnectionManager,
    local: broadcast::Sender<BusMessage>,
    subscribed: watch::Receiver<bool>,
    outbox: Wake,
    _subscriber: Arc<AbortOnDrop>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RedisBus {
    /// Starts the subscriber and the publishing connection. Redis need not be up yet: both connect when they can.
    pub async fn connect(url: &str) -> Result<RedisBus, BusError> {
        let client = redis::Client::open(url).map_err(|e| BusError::Unavailable(format!("bad Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let publisher = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        let (local, _) = broadcast::channel(SUBSCRIBER_BUFFER);
        let (subscribed_tx, subscribed) = watch::channel(false);
        let outbox = Wake::new();
        let task = tokio::spawn(subscribe_forever(client, local.clone(), outbox.clone(), subscribed_tx));
        Ok(RedisBus { publisher, local, subscribed, outbox, _subscriber: Arc::new(AbortOnDrop(task)) })
    }

    /// Waits until the subscription is live (at most `deadline`); `false` if it is not by then.
    pub async fn wait_subscribed(&self, deadline: Duration) -> bool {
        let mut rx = self.subscribed.clone();
        tokio::time::timeout(deadline, rx.wait_for(|s| *s)).await.is_ok_and(|r| r.is_ok())
    }
}

async fn subscribe_forever(
    client: redis::Client,
    local: broadcast::Sender<BusMessage>,
    outbox: Wake,
    subscribed: watch::Sender<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match tokio::time::timeout(TIMEOUT, subscription(&client)).await {
            Ok(Ok(mut messages)) => {
                backoff = Duration::from_millis(100);
                // Reconnected: rows may have been announced while away.
                outbox.wake();
                subscribed.send_replace(true);
                tracing::info!(channel = CHANNEL, "subscribed to the Redis bus");
                let _ = local.send(BusMessage::Gap);
                while let Some(msg) = messages.next().await {
                    if msg.get_channel_name() == OUTBOX_CHANNEL {
                        outbox.wake();
                        continue;
                    }
                    match serde_json::from_slice::<LiveEvent>(msg.get_payload_bytes()) {
                        Ok(event) => {
                            let _ = local.send(BusMessage::Event(Arc::new(event)));
                        }
                        Err(e) => tracing::warn!(error = %e, "dropping a bus message that is not a live event"),
                    }
                }
                subscribed.send_replace(false);
                tracing::warn!(channel = CHANNEL, "the Redis bus subscription ended; reconnecting");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, retry_in = ?backoff, "cannot subscribe to the Redis bus"),
            Err(_) => tracing::warn!(retry_in = ?backoff, "subscribing to the Redis bus timed out"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscription(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSubStream> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&[CHANNEL, OUTBOX_CHANNEL]).await?;
    Ok(pubsub.into_on_message())
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, event: &LiveEvent) -> Result<(), BusError> {
        let payload = serde_json::to_vec(event)?;
        let mut conn = self.publisher.clone();
        let _: i64 = conn.publish(CHANNEL, payload).await.map_err(|e| BusError::Unavailable(e.to_string()))?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<BusMessage> {
        self.local.subscribe()
    }

    async fn announce_outbox(&self) {
        let mut conn = self.publisher.clone();
        if let Err(e) = conn.publish::<_, _, i64>(OUTBOX_CHANNEL, "").await {
            // Only a hint: the relays poll anyway.
            tracing::debug!(error = %e, "announcing outbox rows on the Redis bus failed");
        }
    }

    fn outbox_wake(&self) -> Wake {
        self.outbox.clone()
    }
}
