//! Shared state of one API process, handed to every handler through poem's `Data`.
use std::sync::Arc;

use platform::jobs::{DbQueue, Queue};
use platform::secret_key::{SecretKey, SecretKeyError};
use platform::Config;
use sea_orm::DatabaseConnection;

use crate::auth::rate_limit::Limiters;

/// Everything a handler needs: the database, the configuration, the rate limiters, the queue for jobs that are
/// not driven by the outbox (account mail), and the secret key for derived tokens.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub limiters: Arc<Limiters>,
    pub queue: Arc<dyn Queue>,
    pub secret: SecretKey,
}

impl AppState {
    /// State on the database queue; [`AppState::with_queue`] swaps in another adapter.
    pub fn new(db: DatabaseConnection, config: Config) -> Result<AppState, SecretKeyError> {
        let limiters = Arc::new(Limiters::new(&config));
        let secret = SecretKey::load(&config)?;
        let queue = Arc::new(DbQueue::new(db.clone()));
        Ok(AppState { db, config: Arc::new(config), limiters, queue, secret })
    }

    pub fn with_queue(mut self, queue: Arc<dyn Queue>) -> AppState {
        self.queue = queue;
        self
    }
}
