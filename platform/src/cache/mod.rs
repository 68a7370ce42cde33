//! The cache port: short-lived copies of what is read far more often than it is written (sessions and personal
//! access tokens by their digest, a user's role in an org), so that a request does not cost a database round trip
//! before it does any work.
//!
//! The database stays the record. A cached entry lives at most one TTL ([`DEFAULT_TTL`]), and every write that
//! changes what an entry says deletes the entry after its transaction commits, so the next read goes to the
//! database. The port is built so that the cache can make a request slower, never wrong:
//!
//! - **A failed read is a miss.** Adapters report trouble as a [`CacheError`]; callers treat every error as "not
//!   cached" and read the database. Nothing the cache does is ever an error to a client.
//! - **A delete writes a tombstone, and a fill needs the ticket of its read.** [`Cache::delete`] leaves a marker
//!   (with an id of its own) for one TTL instead of removing the key. A read that misses returns a [`FillTicket`]
//!   saying what the key held (nothing, or which tombstone), and [`Cache::fill`] stores only if the key still holds
//!   exactly that. That closes the race of cache-aside: a reader that read the database just before a write
//!   committed finds, when it fills, the writer's newer tombstone instead of what its ticket names, and stores
//!   nothing; a reader that came after the delete holds that tombstone's ticket and fills at once.
//! - **An invalidation is never lost** (Redis, [`RedisCache`]): a delete that fails is kept in a pending set and
//!   replayed until Redis takes it, and the process reads nothing from the cache while deletes are pending.
//! - **After any Redis error the process bypasses the cache for one TTL.** An outage seen by this process may also
//!   have stopped another process's deletes; those are pending over there, but the stale entries they were meant to
//!   remove may still be in Redis (a replica took over, or the network between that process and Redis failed). No
//!   entry outlives one TTL, so once a TTL has passed since the last error every entry written before the trouble
//!   has expired, and reading the cache again cannot return what a lost delete should have removed.
//!
//! Three adapters: [`MemoryCache`] (one process: `serve`), [`RedisCache`] (shared by several `api` processes) and
//! [`NoCache`] (off). Keys are namespaced under [`KEY_PREFIX`] by the adapters; callers name only the rest
//! (`token:<digest>`).
mod memory;
mod none;
mod redis_cache;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::CacheKind;
use crate::Config;

pub use memory::MemoryCache;
pub use none::NoCache;
pub use redis_cache::RedisCache;

/// Prefix of every cache key in a shared Redis (the bus uses `taskforge:v1:events`). The version changes when the
/// shape of cached values does, so processes of two releases never read each other's entries.
pub const KEY_PREFIX: &str = "taskforge:v1:cache:";

/// How long an entry (and a delete's tombstone) lives.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// Why the cache did not answer. Every variant means "read the database".
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache failed or timed out on this call.
    #[error("the cache is unavailable: {0}")]
    Unavailable(String),
    /// The cache was not asked: it is off, deletes are waiting to be replayed, or the process is in its cool-off
    /// after an error.
    #[error("cached reads are bypassed: {0}")]
    Bypassed(&'static str),
    /// A cached value did not decode (a value of another shape; it expires with its TTL).
    #[error("encoding or decoding a cached value: {0}")]
    Codec(#[from] serde_json::Error),
}

impl CacheError {
    /// Whether the cache was deliberately not asked, as opposed to failing.
    pub fn is_bypass(&self) -> bool {
        matches!(self, CacheError::Bypassed(_))
    }
}

/// What a read found: the value, or a miss with the ticket for filling the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<T = Vec<u8>> {
    Hit(T),
    Miss(FillTicket),
}

impl<T> Found<T> {
    /// The value of a hit.
    pub fn hit(self) -> Option<T> {
        match self {
            Found::Hit(v) => Some(v),
            Found::Miss(_) => None,
        }
    }
}

/// What a key held when a read missed: nothing, or a delete's tombstone. A fill with it lands only while the key
/// still holds exactly that, so a delete between the read and the fill wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillTicket(pub(crate) Option<Vec<u8>>);

impl FillTicket {
    /// Whether the read found a delete's tombstone rather than nothing.
    pub fn is_after_delete(&self) -> bool {
        self.0.is_some()
    }
}

/// A cache of byte values with a TTL, read through and invalidated by the callers.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The value under `key`, or a miss (absent, expired, or deleted within the last TTL) with its fill ticket.
    async fn get(&self, key: &str) -> Result<Found, CacheError>;
    /// Stores `value` under `key` for one TTL if the key still holds what `ticket` says it held at the read (see
    /// the module docs: a fill never undoes a delete); otherwise stores nothing, which is not an error.
    async fn fill(&self, key: &str, value: &[u8], ticket: FillTicket) -> Result<(), CacheError>;
    /// Makes `key` read as absent and unfillable for one TTL. An error means the delete is kept and replayed; the
    /// caller only logs it.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// How long entries live.
    fn ttl(&self) -> Duration;
}

impl std::fmt::Debug for dyn Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache")
    }
}

/// [`Cache::get`] of a JSON value.
pub async fn get_json<T: DeserializeOwned>(cache: &dyn Cache, key: &str) -> Result<Found<T>, CacheError> {
    Ok(match cache.get(key).await? {
        Found::Hit(bytes) => Found::Hit(serde_json::from_slice(&bytes)?),
        Found::Miss(ticket) => Found::Miss(ticket),
    })
}

/// [`Cache::fill`] with a JSON value.
pub async fn fill_json<T: Serialize + ?Sized>(
    cache: &dyn Cache,
    key: &str,
    value: &T,
    ticket: FillTicket,
) -> Result<(), CacheError> {
    cache.fill(key, &serde_json::to_vec(value)?, ticket).await
}

/// The cache the configuration names (`TASKFORGE_CACHE`): in-process, off, or Redis.
pub fn cache_from_config(config: &Config) -> Result<Arc<dyn Cache>, CacheError> {
    Ok(match &config.cache {
        CacheKind::Memory => Arc::new(MemoryCache::new(DEFAULT_TTL)),
        CacheKind::None => Arc::new(NoCache),
        CacheKind::Redis(url) => Arc::new(RedisCache::connect(url, DEFAULT_TTL)?),
    })
}
