//! The behavioural suite of the job system: the queues, the worker runtime and the outbox relay, each test on
//! SQLite and on MariaDB, and the queue and runtime tests also on SQS (moto); and the activity sink over the event
//! store (`activity.rs`).
#[macro_use]
mod common;
mod activity;
mod outbox;
mod queue;
mod runtime;
mod scheduler;
mod sqs;
