//! The in-process cache of `serve`: a map behind a mutex, entries and tombstones with their expiry.
//!
//! Only right for one process: another process's deletes never reach it, so several `api` processes each with one
//! would serve each other's revoked tokens and old roles for up to a TTL (start-up warns about that).
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Cache, CacheError, KEY_PREFIX};

/// Entries kept at most; beyond that, fills are dropped until expired entries are swept. Deletes always land.
const MAX_ENTRIES: usize = 100_000;

/// A cache inside this process.
#[derive(Debug)]
pub struct MemoryCache {
    ttl: Duration,
    slots: Mutex<HashMap<String, Slot>>,
}

#[derive(Debug)]
struct Slot {
    /// `None` is a tombstone: deleted, not to be filled until it expires.
    value: Option<Vec<u8>>,
    expires_at: Instant,
}

impl MemoryCache {
    /// An empty cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> MemoryCache {
        MemoryCache { ttl, slots: Mutex::new(HashMap::new()) }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // A panic while holding the lock cannot leave a slot half-written (each update is one insert or remove).
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let key = format!("{KEY_PREFIX}{key}");
        let mut slots = self.slots();
        match slots.get(&key) {
            Some(slot) if slot.expires_at > Instant::now() => Ok(slot.value.clone()),
            Some(_) => {
                slots.remove(&key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn fill(&self, key: &str, value: &[u8]) -> Result<(), CacheError> {
        let key = format!("{KEY_PREFIX}{key}");
        let now = Instant::now();
        let mut slots = self.slots();
        if slots.get(&key).is_some_and(|slot| slot.expires_at > now) {
            return Ok(());
        }
        if slots.len() >= MAX_ENTRIES {
            slots.retain(|_, slot| slot.expires_at > now);
            if slots.len() >= MAX_ENTRIES {
                return Ok(());
            }
        }
        slots.insert(key, Slot { value: Some(value.to_vec()), expires_at: now + self.ttl });
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let key = format!("{KEY_PREFIX}{key}");
        self.slots().insert(key, Slot { value: None, expires_at: Instant::now() + self.ttl });
        Ok(())
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }
}
