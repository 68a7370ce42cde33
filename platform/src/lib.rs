//! What the API, the workers and the CLI share below the domain: configuration, telemetry and the database
//! connection, the job contract and the queue port, the mail, storage, scanner and event store ports, and the
//! live-update bus and the cache.
pub mod aws;
pub mod aws_bootstrap;
pub mod bus;
pub mod cache;
pub mod config;
pub mod db;
pub mod events;
pub mod jobs;
pub mod mail;
pub mod scanner;
pub mod secret_key;
pub mod spreadsheet_text;
pub mod storage;
pub mod telemetry;
pub mod wake;

pub use config::{Config, ConfigError};
