//! Shared state of one API process, handed to every handler through poem's `Data`.
use std::sync::Arc;

use platform::Config;
use sea_orm::DatabaseConnection;

use crate::auth::rate_limit::Limiters;

/// Everything a handler needs: the database, the configuration and the rate limiters.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub limiters: Arc<Limiters>,
}

impl AppState {
    pub fn new(db: DatabaseConnection, config: Config) -> AppState {
        let limiters = Arc::new(Limiters::new(&config));
        AppState { db, config: Arc::new(config), limiters }
    }
}
