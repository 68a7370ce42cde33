//! The event store port end to end: one contract suite (`contract.rs`) run against the database adapter on SQLite
//! and on MariaDB and against the DynamoDB adapter on moto, and the DynamoDB table's own shape (`dynamo.rs`).
#[macro_use]
mod harness;
mod contract;
mod dynamo;
