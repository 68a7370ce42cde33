//! The HTTP API: poem + poem-openapi endpoints under `/api/v1`, authentication, the domain services behind them,
//! and the app factory ([`startup`]) that `taskforge serve`, `taskforge api` and the tests all use.
pub mod analytics_cache;
pub mod auth;
pub mod domain;
pub mod error;
pub mod http;
pub mod problem;
pub mod read_cache;
pub mod recent_events;
pub mod startup;
pub mod state;

pub use startup::{build_app, openapi_json, RunningApp};
pub use state::AppState;
