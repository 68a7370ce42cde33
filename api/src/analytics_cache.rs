//! Analytics reports kept in the cache port between the changes that alter them.
//!
//! A report costs a dozen grouped queries over every task in view, and a dashboard asks for the same report again
//! and again while nothing changes. Reports are cached under a per-org *generation*: an opaque value stored in the
//! cache under `analytics-gen:<org>`, deleted whenever an event of the org reaches this process over the bus. The
//! bus carries an event only after the event store recorded it with its counters, and after the task rows it
//! describes committed, so a report computed after the deletion includes the change; one computed before it is
//! stored under the dead generation, where no reader looks any more.
//!
//! Entries live one TTL of the cache. That bounds the figures that move with the clock and no event (a task
//! becoming overdue) and those that are not org events (a user renaming themselves).
//!
//! A live stream delivers an event only after this process invalidated its org's reports
//! ([`AnalyticsCache::invalidate_for`]: the first of the follower and the streams to meet an event deletes the
//! generation, the others wait for that delete), so a dashboard that refetches when its stream tells it of a change
//! never gets the report from before it.
//!
//! When the bus reports a gap (a Redis reconnect, a subscriber that fell behind), deletions may have been missed, so
//! the process stops reading cached reports for one TTL, after which everything stored before the gap has expired.
//! Concurrent misses of one report in a process compute it once: the others wait and then read what it stored.
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use platform::bus::{Bus, BusMessage};
use platform::events::ActivityEvent;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::read_cache::{Cached, Lookup, ReadCache};
use crate::recent_events::RecentEvents;

/// The key of an org's analytics generation.
fn generation_key(org_id: Uuid) -> String {
    format!("analytics-gen:{org_id}")
}

/// Cached analytics reports of this process, over the process's cache.
#[derive(Clone, Debug)]
pub struct AnalyticsCache {
    cache: ReadCache,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Until when cached reports are not read: one TTL after the bus last reported a gap.
    bypass_until: Mutex<Option<Instant>>,
    /// The report computations in progress in this process, by key.
    flights: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    /// The invalidations of the latest events, done or under way, by event id.
    invalidations: Mutex<RecentEvents<Arc<OnceCell<()>>>>,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            bypass_until: Mutex::default(),
            flights: Mutex::default(),
            invalidations: Mutex::new(RecentEvents::new(REMEMBERED_EVENTS)),
        }
    }
}

/// Events remembered as invalidated: far more than arrive while one delete is under way.
const REMEMBERED_EVENTS: usize = 4096;

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each update under these locks is a single insert or assignment: a panic cannot leave one half-done.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AnalyticsCache {
    pub fn new(cache: ReadCache) -> AnalyticsCache {
        AnalyticsCache { cache, inner: Arc::default() }
    }

    /// The report of `org_id` named by `report` (what it covers and for whom), from the cache when this generation
    /// of the org computed it already, else from `compute` (then stored). `compute`'s error is returned as is and
    /// nothing is stored.
    pub async fn report<T, E, F, Fut>(&self, org_id: Uuid, report: &str, compute: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if self.is_bypassed() {
            return compute().await;
        }
        let Some(generation) = self.generation(org_id).await else {
            return compute().await;
        };
        let key = format!("analytics:{org_id}:{generation}:{report}");
        if let Cached::Hit(value) = self.cache.read(Lookup::Analytics, &key).await {
            return Ok(value);
        }
        let _flight = self.flight(&key).await;
        // Whoever computed it while this request waited has stored it by now.
        let ticket = match self.cache.read(Lookup::Analytics, &key).await {
            Cached::Hit(value) => return Ok(value),
            Cached::Miss(ticket) => ticket,
        };
        let value = compute().await?;
        self.cache.fill(Lookup::Analytics, &key, &value, ticket).await;
        Ok(value)
    }

    /// Makes every cached report of `org_id` unreachable (a change of the org was recorded).
    async fn invalidate(&self, org_id: Uuid) {
        self.cache.forget(&generation_key(org_id)).await;
    }

    /// Invalidates the reports of `event`'s org once per event in this process: the first caller deletes the
    /// generation, later and concurrent callers wait until that delete is done.
    pub async fn invalidate_for(&self, event: &ActivityEvent) {
        let cell = locked(&self.inner.invalidations).note(event.id, Arc::default).0.clone();
        cell.get_or_init(|| self.invalidate(event.org_id)).await;
    }

    /// Stops reading cached reports for one TTL: invalidations may have been missed.
    fn missed_events(&self) {
        *locked(&self.inner.bypass_until) = Some(Instant::now() + self.cache.ttl());
    }

    /// Invalidates each org's reports as its events arrive on `bus`, until the bus closes. Subscribes before
    /// returning, so nothing published after this call is missed.
    pub fn follow(&self, bus: &dyn Bus) -> JoinHandle<()> {
        let mut events = bus.subscribe();
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(BusMessage::Event(live)) => this.invalidate_for(&live.event).await,
                    Ok(BusMessage::Gap) | Err(RecvError::Lagged(_)) => {
                        tracing::info!("the bus may have lost events: cached analytics are bypassed for one TTL");
                        this.missed_events();
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    fn is_bypassed(&self) -> bool {
        locked(&self.inner.bypass_until).is_some_and(|until| Instant::now() < until)
    }

    /// The org's current generation, made up when it has none; `None` when the cache does not answer (a report
    /// is then computed and not stored).
    async fn generation(&self, org_id: Uuid) -> Option<String> {
        let key = generation_key(org_id);
        match self.cache.read::<String>(Lookup::AnalyticsGeneration, &key).await {
            Cached::Hit(generation) => Some(generation),
            Cached::Miss(None) => None,
            Cached::Miss(ticket) => {
                let fresh = Uuid::now_v7().simple().to_string();
                self.cache.fill(Lookup::AnalyticsGeneration, &key, &fresh, ticket).await;
                // Another request may have made one up first, or a change deleted ours already: read what holds.
                match self.cache.read::<String>(Lookup::AnalyticsGeneration, &key).await {
                    Cached::Hit(generation) => Some(generation),
                    Cached::Miss(_) => None,
                }
            }
        }
    }

    /// Waits until no other request of this process computes `key`, and holds it until the guard drops.
    async fn flight(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut flights = locked(&self.inner.flights);
            match flights.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    flights.retain(|_, w| w.strong_count() > 0);
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    flights.insert(key.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use platform::cache::MemoryCache;

    use super::*;

    fn cache() -> AnalyticsCache {
        AnalyticsCache::new(ReadCache::new(Arc::new(MemoryCache::new(Duration::from_secs(60)))))
    }

    async fn count(cache: &AnalyticsCache, org: Uuid, calls: &AtomicUsize) -> usize {
        cache.report(org, "r", || async { Ok::<_, ()>(calls.fetch_add(1, Ordering::SeqCst) + 1) }).await.unwrap()
    }

    #[tokio::test]
    async fn a_report_is_computed_again_only_after_its_org_changed() {
        let (cache, calls) = (cache(), AtomicUsize::new(0));
        let (org, other) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(count(&cache, org, &calls).await, 1);
        assert_eq!(count(&cache, org, &calls).await, 1, "served from the cache");
        cache.invalidate(other).await;
        assert_eq!(count(&cache, org, &calls).await, 1, "another org's change leaves it");
        cache.invalidate(org).await;
        assert_eq!(count(&cache, org, &calls).await, 2, "computed again after a change");
        assert_eq!(count(&cache, org, &calls).await, 2);
    }

    #[tokio::test]
    async fn a_gap_on_the_bus_bypasses_cached_reports() {
        let (cache, calls) = (cache(), AtomicUsize::new(0));
        let org = Uuid::now_v7();
        assert_eq!(count(&cache, org, &calls).await, 1);
        cache.missed_events();
        assert_eq!(count(&cache, org, &calls).await, 2);
        assert_eq!(count(&cache, org, &calls).await, 3, "not read while the gap's TTL runs");
    }

    #[tokio::test]
    async fn an_error_is_returned_and_not_stored() {
        let cache = cache();
        let org = Uuid::now_v7();
        let failed: Result<u32, &str> = cache.report(org, "r", || async { Err("down") }).await;
        assert_eq!(failed, Err("down"));
        let ok: Result<u32, &str> = cache.report(org, "r", || async { Ok(7) }).await;
        assert_eq!(ok, Ok(7));
    }

    #[tokio::test]
    async fn concurrent_misses_compute_once() {
        let (cache, calls) = (cache(), AtomicUsize::new(0));
        let org = Uuid::now_v7();
        let slow = || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::task::yield_now().await;
            Ok::<_, ()>(n)
        };
        let results = futures_util::future::join_all((0..8).map(|_| cache.report(org, "r", slow))).await;
        assert!(results.iter().all(|r| *r == Ok(1)), "{results:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_event_invalidates_its_org_once_in_a_process() {
        let (cache, calls) = (cache(), AtomicUsize::new(0));
        let org = Uuid::now_v7();
        let event = event_of(org);
        assert_eq!(count(&cache, org, &calls).await, 1);
        futures_util::future::join(cache.invalidate_for(&event), cache.invalidate_for(&event)).await;
        assert_eq!(count(&cache, org, &calls).await, 2, "invalidated by the event");
        cache.invalidate_for(&event).await;
        assert_eq!(count(&cache, org, &calls).await, 2, "the same event again (another stream) changes nothing");
        cache.invalidate_for(&event_of(org)).await;
        assert_eq!(count(&cache, org, &calls).await, 3, "the next event does");
    }

    fn event_of(org: Uuid) -> platform::events::ActivityEvent {
        platform::events::ActivityEvent {
            id: Uuid::now_v7(),
            org_id: org,
            occurred_at: chrono::Utc::now(),
            event_type: "task.updated".into(),
            actor_id: None,
            entity_type: "task".into(),
            entity_id: Uuid::now_v7(),
            project_id: None,
            task_id: None,
            payload: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn events_on_the_bus_invalidate_their_org() {
        let (cache, calls) = (cache(), AtomicUsize::new(0));
        let bus = platform::bus::MemoryBus::new();
        let follower = cache.follow(&bus);
        let org = Uuid::now_v7();
        assert_eq!(count(&cache, org, &calls).await, 1);
        let event = event_of(org);
        bus.publish(&platform::bus::LiveEvent { event, task: None }).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while count(&cache, org, &calls).await == 1 {
            assert!(Instant::now() < deadline, "the event never invalidated the report");
            tokio::task::yield_now().await;
        }
        follower.abort();
    }
}
