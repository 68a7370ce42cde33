//! Black-box HTTP tests: each test starts the app on an ephemeral port against a private database and talks HTTP.
//! Every test runs twice, on SQLite and on the local MariaDB (see `common::both_backends!`).
#[macro_use]
mod common;

mod account_mail;
mod activity;
mod analytics;
mod attachments;
mod attachments_s3;
mod auth;
mod live;
mod mail;
mod notifications;
mod orgs;
mod projects;
mod reminders;
mod reports;
mod surface;
mod tasks;
