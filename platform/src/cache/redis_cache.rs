//! The Redis cache: one shared cache for every `api` process, degrading to the database whenever Redis is slow or
//! gone.
//!
//! Every command has a short deadline ([`OP_TIMEOUT`]), because a cache that answers late costs more than the
//! database read it saves. What happens on an error is the point of this module (see the port's docs for why):
//!
//! - the call is a miss for the caller, and the process enters a **cool-off of one TTL** in which it reads and
//!   fills nothing, so a dead Redis costs one slow request per TTL per process instead of one per request, and
//!   entries that another process failed to delete have expired before this one reads again;
//! - a failed **delete goes into the pending set**. A background task replays the set (with backoff) until Redis
//!   takes every tombstone; while anything is pending the process does not read the cache, and later deletes join
//!   the set instead of racing ahead of it.
//!
//! Values are stored as `v` + bytes, tombstones as `-` + a UUID, both with `PX` = TTL. A fill after a read that
//! found nothing is `SET … NX`; after a read that found a tombstone it is a script that sets the value only while
//! that same tombstone is there (`FILL_OVER_TOMBSTONE`).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Cache, CacheError, FillTicket, Found, KEY_PREFIX};

/// Deadline of one Redis command, connecting included.
pub const OP_TIMEOUT: Duration = Duration::from_millis(500);

const TOMBSTONE_TAG: u8 = b'-';
const VALUE_TAG: u8 = b'v';

/// `KEYS[1]` = key, `ARGV` = the tombstone the read saw, the value, the TTL in ms: compare and set, atomically.
const FILL_OVER_TOMBSTONE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return false";
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// A cache in Redis shared by several processes.
pub struct RedisCache {
    inner: Arc<Inner>,
    replayer: JoinHandle<()>,
}

struct Inner {
    conn: ConnectionManager,
    ttl: Duration,
    health: Mutex<Health>,
    /// Woken when a delete joins the pending set.
    delete_failed: Notify,
}

#[derive(Default)]
struct Health {
    /// Keys whose tombstone Redis has not taken yet, each with the sequence number of its latest failed delete (so
    /// a replay that raced a newer delete of the same key leaves that one pending).
    pending: HashMap<String, u64>,
    next_seq: u64,
    /// No cached reads before this instant.
    cool_off_until: Option<Instant>,
}

impl RedisCache {
    /// A cache at `url` whose entries live `ttl`. Redis need not be up: the connection is made on first use and
    /// remade after failures. Starts the replay task, so it must run inside a tokio runtime.
    pub fn connect(url: &str, ttl: Duration) -> Result<RedisCache, CacheError> {
        let client = redis::Client::open(url).map_err(|e| CacheError::Unavailable(format!("bad Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(OP_TIMEOUT);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| CacheError::Unavailable(e.to_string()))?;
        let inner = Arc::new(Inner { conn, ttl, health: Mutex::default(), delete_failed: Notify::new() });
        let replayer = tokio::spawn(replay_pending_deletes(inner.clone()));
        Ok(RedisCache { inner, replayer })
    }

    /// How many deletes wait to be replayed.
    pub fn pending_deletes(&self) -> usize {
        self.inner.health().pending.len()
    }

    /// Whether reads skip the cache now (deletes pending or cooling off after an error).
    pub fn is_bypassed(&self) -> bool {
        self.inner.bypass_reason().is_some()
    }
}

impl Drop for RedisCache {
    fn drop(&mut self) {
        self.replayer.abort();
    }
}

impl Inner {
    fn health(&self) -> MutexGuard<'_, Health> {
        // Every update under the lock is a single field write or map operation: nothing is half-done on a panic.
        self.health.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bypass_reason(&self) -> Option<&'static str> {
        let health = self.health();
        if !health.pending.is_empty() {
            Some("deletes are waiting to be replayed to Redis")
        } else if health.cool_off_until.is_some_and(|until| Instant::now() < until) {
            Some("cooling off after a Redis error")
        } else {
            None
        }
    }

    fn note_error(&self, operation: &'static str, error: &str) {
        let now = Instant::now();
        let mut health = self.health();
        let was_cooling_off = health.cool_off_until.is_some_and(|until| now < until);
        health.cool_off_until = Some(now + self.ttl);
        drop(health);
        if !was_cooling_off {
            tracing::warn!(
                operation,
                error,
                cool_off_seconds = self.ttl.as_secs(),
                "the Redis cache failed; reading the database until the cool-off ends"
            );
        }
    }

    fn keep_pending(&self, key: String) {
        let mut health = self.health();
        health.next_seq += 1;
        let seq = health.next_seq;
        health.pending.insert(key, seq);
        drop(health);
        self.delete_failed.notify_one();
    }

    async fn run(&self, cmd: &redis::Cmd) -> Result<redis::Value, String> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(OP_TIMEOUT, cmd.query_async(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {OP_TIMEOUT:?}")),
        }
    }

    /// A fresh tombstone for `full_key`: its own id, so a read that saw an older one cannot fill over it.
    fn tombstone(&self, full_key: &str) -> redis::Cmd {
        let mut marker = vec![TOMBSTONE_TAG];
        marker.extend_from_slice(uuid::Uuid::now_v7().as_bytes());
        let mut cmd = redis::cmd("SET");
        cmd.arg(full_key).arg(marker).arg("PX").arg(ttl_millis(self.ttl));
        cmd
    }
}

fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Replays failed deletes until Redis takes them, backing off while it does not.
async fn replay_pending_deletes(inner: Arc<Inner>) {
    let mut retry_in = FIRST_RETRY;
    loop {
        let batch: Vec<(String, u64)> = inner.health().pending.iter().map(|(k, s)| (k.clone(), *s)).collect();
        if batch.is_empty() {
            inner.delete_failed.notified().await;
            continue;
        }
        let mut replayed = 0usize;
        let mut failure = None;
        for (key, seq) in batch {
            match inner.run(&inner.tombstone(&key)).await {
                Ok(_) => {
                    let mut health = inner.health();
                    if health.pending.get(&key) == Some(&seq) {
                        health.pending.remove(&key);
                    }
                    replayed += 1;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        match failure {
            None => {
                tracing::info!(replayed, "replayed the cache deletes Redis missed");
                retry_in = FIRST_RETRY;
            }
            Some(e) => {
                inner.note_error("replaying deletes", &e);
                tokio::time::sleep(retry_in).await;
                retry_in = (retry_in * 2).min(MAX_RETRY);
            }
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Found, CacheError> {
        if let Some(reason) = self.inner.bypass_reason() {
            return Err(CacheError::Bypassed(reason));
        }
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{KEY_PREFIX}{key}"));
        match self.inner.run(&cmd).await {
            Ok(redis::Value::BulkString(mut stored)) => match stored.first() {
                Some(&VALUE_TAG) => Ok(Found::Hit(stored.split_off(1))),
                // A tombstone, or a value of a shape this release does not write: a miss that may replace it.
                _ => Ok(Found::Miss(FillTicket(Some(stored)))),
            },
            Ok(_) => Ok(Found::Miss(FillTicket(None))),
            Err(e) => {
                self.inner.note_error("get", &e);
                Err(CacheError::Unavailable(e))
            }
        }
    }

    async fn fill(&self, key: &str, value: &[u8], ticket: FillTicket) -> Result<(), CacheError> {
        if let Some(reason) = self.inner.bypass_reason() {
            return Err(CacheError::Bypassed(reason));
        }
        let mut stored = Vec::with_capacity(value.len() + 1);
        stored.push(VALUE_TAG);
        stored.extend_from_slice(value);
        let full_key = format!("{KEY_PREFIX}{key}");
        let ttl = ttl_millis(self.inner.ttl);
        let cmd = match ticket.0 {
            None => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(full_key).arg(stored).arg("PX").arg(ttl).arg("NX");
                cmd
            }
            Some(seen) => {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(FILL_OVER_TOMBSTONE).arg(1).arg(full_key).arg(seen).arg(stored).arg(ttl);
                cmd
            }
        };
        match self.inner.run(&cmd).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.inner.note_error("fill", &e);
                Err(CacheError::Unavailable(e))
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let full_key = format!("{KEY_PREFIX}{key}");
        if !self.inner.health().pending.is_empty() {
            // Redis missed earlier deletes and is probably still away: queue behind them rather than wait a
            // timeout on every write.
            self.inner.keep_pending(full_key);
            return Err(CacheError::Unavailable("earlier deletes are still pending; this one is kept too".into()));
        }
        match self.inner.run(&self.inner.tombstone(&full_key)).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.inner.keep_pending(full_key);
                self.inner.note_error("delete", &e);
                Err(CacheError::Unavailable(e))
            }
        }
    }

    fn ttl(&self) -> Duration {
        self.inner.ttl
    }
}
