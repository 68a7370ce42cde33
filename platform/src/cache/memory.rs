//! The in-process cache of `serve`: a map behind a mutex, entries and tombstones with their expiry.
//!
//! Only right for one process: another process's deletes never reach it, so several `api` processes each with one
//! would serve each other's revoked tokens and old roles for up to a TTL (start-up warns about that).
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{Cache, CacheError, FillTicket, Found, KEY_PREFIX};

/// Entries kept at most; beyond that, fills are dropped until expired entries are swept. Deletes always land.
const MAX_ENTRIES: usize = 100_000;

/// A cache inside this process.
#[derive(Debug)]
pub struct MemoryCache {
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    slots: HashMap<String, Slot>,
    next_tombstone: u64,
}

#[derive(Debug)]
struct Slot {
    content: Content,
    expires_at: Instant,
}

#[derive(Debug, PartialEq, Eq)]
enum Content {
    Value(Vec<u8>),
    /// Deleted; the id tells one delete from the next.
    Tombstone(u64),
}

impl MemoryCache {
    /// An empty cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> MemoryCache {
        MemoryCache { ttl, state: Mutex::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a slot half-written (each update is one insert or remove).
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The ticket of what a live slot holds (`None`: nothing).
fn ticket_of(slot: Option<&Slot>, now: Instant) -> Option<FillTicket> {
    match slot.filter(|s| s.expires_at > now) {
        None => Some(FillTicket(None)),
        Some(Slot { content: Content::Tombstone(id), .. }) => Some(FillTicket(Some(id.to_be_bytes().to_vec()))),
        Some(Slot { content: Content::Value(_), .. }) => None,
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Found, CacheError> {
        let key = format!("{KEY_PREFIX}{key}");
        let now = Instant::now();
        let mut state = self.state();
        if let Some(Slot { content: Content::Value(v), expires_at }) = state.slots.get(&key) {
            if *expires_at > now {
                return Ok(Found::Hit(v.clone()));
            }
        }
        if state.slots.get(&key).is_some_and(|s| s.expires_at <= now) {
            state.slots.remove(&key);
        }
        Ok(Found::Miss(ticket_of(state.slots.get(&key), now).expect("a live value was returned above")))
    }

    async fn fill(&self, key: &str, value: &[u8], ticket: FillTicket) -> Result<(), CacheError> {
        let key = format!("{KEY_PREFIX}{key}");
        let now = Instant::now();
        let mut state = self.state();
        if ticket_of(state.slots.get(&key), now) != Some(ticket) {
            return Ok(());
        }
        if state.slots.len() >= MAX_ENTRIES {
            state.slots.retain(|_, slot| slot.expires_at > now);
            if state.slots.len() >= MAX_ENTRIES {
                return Ok(());
            }
        }
        state.slots.insert(key, Slot { content: Content::Value(value.to_vec()), expires_at: now + self.ttl });
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let key = format!("{KEY_PREFIX}{key}");
        let mut state = self.state();
        state.next_tombstone += 1;
        let content = Content::Tombstone(state.next_tombstone);
        state.slots.insert(key, Slot { content, expires_at: Instant::now() + self.ttl });
        Ok(())
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }
}
