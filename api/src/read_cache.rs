//! Cache-aside reads for the lookups every request makes (the caller's token or session, their role in the org, the
//! project a task list is in), over the platform's cache port, with the cache's Prometheus counter.
//!
//! A lookup reads the cache, and on anything but a hit reads the database and fills the cache; every write that
//! changes what an entry says deletes it after committing ([`ReadCache::forget`]). The cache never decides an
//! answer on its own: an error, a bypass or an undecodable value is a database read, so a Redis outage makes
//! requests slower, not wrong (see `platform::cache` for why deletes cannot be lost).
use std::sync::Arc;

use platform::cache::{Cache, CacheError, FillTicket, Found, MemoryCache, DEFAULT_TTL};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

/// Which lookup a cache request serves: the `cache` label of `taskforge_cache_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    Token,
    Session,
    Membership,
    /// A project's key and visibility (`crate::domain::project_access::ProjectGate`).
    ProjectGate,
    /// An analytics report (`crate::analytics_cache`).
    Analytics,
    /// An org's analytics generation.
    AnalyticsGeneration,
}

impl Lookup {
    fn label(self) -> &'static str {
        match self {
            Lookup::Token => "token",
            Lookup::Session => "session",
            Lookup::Membership => "membership",
            Lookup::ProjectGate => "project",
            Lookup::Analytics => "analytics",
            Lookup::AnalyticsGeneration => "analytics_generation",
        }
    }
}

/// The key of a personal access token's row, by the token's SHA-256 digest (hex, as stored).
pub fn token_key(digest: &str) -> String {
    format!("token:{digest}")
}

/// The key of a session's row, by the session secret's SHA-256 digest (hex, as stored).
pub fn session_key(digest: &str) -> String {
    format!("session:{digest}")
}

/// The key of a user's membership in an org.
pub fn membership_key(org_id: Uuid, user_id: Uuid) -> String {
    format!("membership:{org_id}:{user_id}")
}

/// The key of a project's gate (its key and visibility), by org and project.
pub fn project_gate_key(org_id: Uuid, project_id: Uuid) -> String {
    format!("project:{org_id}:{project_id}")
}

/// What a lookup found in the cache.
#[derive(Debug)]
pub enum Cached<T> {
    Hit(T),
    /// Read the database, then [`ReadCache::fill`] with the ticket (none when the cache did not answer).
    Miss(Option<FillTicket>),
}

/// The process's cache, as the lookups use it.
#[derive(Clone, Debug)]
pub struct ReadCache {
    cache: Arc<dyn Cache>,
}

impl ReadCache {
    pub fn new(cache: Arc<dyn Cache>) -> ReadCache {
        ReadCache { cache }
    }

    /// An in-process cache with the default TTL (what `serve` and the tests use unless told otherwise).
    pub fn in_memory() -> ReadCache {
        ReadCache::new(Arc::new(MemoryCache::new(DEFAULT_TTL)))
    }

    /// How long entries live.
    pub fn ttl(&self) -> std::time::Duration {
        self.cache.ttl()
    }

    /// The cached value under `key`, or a miss for "read the database" (a miss, a bypass or an error, each
    /// counted).
    pub async fn read<T: DeserializeOwned>(&self, lookup: Lookup, key: &str) -> Cached<T> {
        let result = platform::cache::get_json::<T>(self.cache.as_ref(), key).await;
        let outcome = match &result {
            Ok(Found::Hit(_)) => "hit",
            Ok(Found::Miss(_)) => "miss",
            Err(e) if e.is_bypass() => "bypass",
            Err(e) => {
                tracing::debug!(cache = lookup.label(), error = %e, "cache read failed; reading the database");
                "error"
            }
        };
        metrics::counter!("taskforge_cache_requests_total", "cache" => lookup.label(), "result" => outcome)
            .increment(1);
        match result {
            Ok(Found::Hit(value)) => Cached::Hit(value),
            Ok(Found::Miss(ticket)) => Cached::Miss(Some(ticket)),
            Err(_) => Cached::Miss(None),
        }
    }

    /// Stores what the database said under `key`, if the miss gave a ticket and no delete came since. Best effort.
    pub async fn fill<T: Serialize>(&self, lookup: Lookup, key: &str, value: &T, ticket: Option<FillTicket>) {
        let Some(ticket) = ticket else { return };
        match platform::cache::fill_json(self.cache.as_ref(), key, value, ticket).await {
            Ok(()) | Err(CacheError::Bypassed(_)) => {}
            Err(e) => tracing::debug!(cache = lookup.label(), error = %e, "cache fill failed"),
        }
    }

    /// Deletes `key` after a committed write changed what it caches. A failure is logged, never returned: the
    /// write is done, and the cache keeps the delete and replays it.
    pub async fn forget(&self, key: &str) {
        if let Err(e) = self.cache.delete(key).await {
            tracing::warn!(key, error = %e, "cache delete failed; it is kept and replayed");
        }
    }
}
