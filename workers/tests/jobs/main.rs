//! The behavioural suite of the job system: the queues, the worker runtime and the outbox relay, each test on
//! SQLite and on MariaDB, and the queue and runtime tests also on SQS (moto).
#[macro_use]
mod common;
mod outbox;
mod queue;
mod runtime;
mod scheduler;
mod sqs;
