//! The behavioural suite of the job system: the database queue, the worker runtime and the outbox relay, each test
//! on SQLite and on MariaDB.
#[macro_use]
mod common;
mod outbox;
mod queue;
mod runtime;
mod scheduler;
