//! Shared state of one API process, handed to every handler through poem's `Data`.
use std::sync::Arc;

use platform::bus::{Bus, MemoryBus};
use platform::cache::Cache;
use platform::events::{DbEventStore, EventStore};
use platform::jobs::{DbQueue, Queue};
use platform::secret_key::{SecretKey, SecretKeyError};
use platform::storage::{LocalStorage, Storage};
use platform::Config;
use sea_orm::DatabaseConnection;

use crate::analytics_cache::AnalyticsCache;
use crate::auth::rate_limit::Limiters;
use crate::auth::token_use::TokenUse;
use crate::read_cache::ReadCache;

/// Everything a handler needs: the database, the configuration, the rate limiters, the queue for jobs that are
/// not driven by the outbox (account mail and scans), the secret key for derived tokens, and the storage port (with
/// the local adapter itself when it is the one in use, whose signed URLs the blob endpoint checks).
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub limiters: Arc<Limiters>,
    pub queue: Arc<dyn Queue>,
    pub secret: SecretKey,
    pub storage: Arc<dyn Storage>,
    /// `Some` when storage is local: the blob endpoint serves its URLs.
    pub blobs: Option<LocalStorage>,
    /// The activity log the feeds read.
    pub events: Arc<dyn EventStore>,
    /// Where live updates arrive for the org streams.
    pub bus: Arc<dyn Bus>,
    /// Tokens, sessions and memberships as the per-request lookups read them.
    pub cache: ReadCache,
    /// Analytics reports, over the same cache, invalidated by the events on the bus.
    pub analytics: AnalyticsCache,
    /// When this process last recorded each token's use.
    pub token_use: Arc<TokenUse>,
}

impl AppState {
    /// State on the database queue, local storage, an in-process bus and an in-process cache; the `with_*` methods
    /// swap in other adapters.
    pub fn new(db: DatabaseConnection, config: Config) -> Result<AppState, SecretKeyError> {
        let limiters = Arc::new(Limiters::new(&config));
        let secret = SecretKey::load(&config)?;
        let queue = Arc::new(DbQueue::new(db.clone()));
        let blobs = LocalStorage::new(
            platform::storage::blobs_dir(&config.data_dir),
            config.public_url.clone(),
            secret.clone(),
        );
        let storage: Arc<dyn Storage> = Arc::new(blobs.clone());
        let ttl = chrono::Duration::days(i64::from(config.event_ttl_days));
        let events: Arc<dyn EventStore> = Arc::new(DbEventStore::new(db.clone(), ttl));
        let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
        let cache = ReadCache::in_memory();
        Ok(AppState {
            db,
            config: Arc::new(config),
            limiters,
            queue,
            secret,
            storage,
            blobs: Some(blobs),
            events,
            bus,
            analytics: AnalyticsCache::new(cache.clone()),
            cache,
            token_use: Arc::new(TokenUse::default()),
        })
    }

    /// Uses `storage` (from `platform::storage::storage_from_config`); the blob endpoint serves only while the
    /// storage is local.
    pub fn with_storage(mut self, storage: Arc<dyn Storage>) -> AppState {
        if self.config.storage != platform::config::StorageKind::Local {
            self.blobs = None;
        }
        self.storage = storage;
        self
    }

    /// Uses `events` (from `platform::events::event_store_from_config`).
    pub fn with_events(mut self, events: Arc<dyn EventStore>) -> AppState {
        self.events = events;
        self
    }

    /// Uses `bus` (from `platform::bus::bus_from_config`), shared with the workers in `serve`.
    pub fn with_bus(mut self, bus: Arc<dyn Bus>) -> AppState {
        self.bus = bus;
        self
    }

    /// Uses `cache` (from `platform::cache::cache_from_config`): Redis when several API processes run.
    pub fn with_cache(mut self, cache: Arc<dyn Cache>) -> AppState {
        self.cache = ReadCache::new(cache);
        self.analytics = AnalyticsCache::new(self.cache.clone());
        self
    }

    pub fn with_queue(mut self, queue: Arc<dyn Queue>) -> AppState {
        self.queue = queue;
        self
    }
}
