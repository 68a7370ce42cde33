//! Domain services: the business rules, free of HTTP. Each takes the database (or a transaction), the tenant
//! [`entities::Scope`] and a typed command, and returns domain values or an [`crate::error::AppError`].
pub mod access;
pub mod account_mail;
pub mod accounts;
pub mod activity;
pub mod analytics;
pub mod attachments;
pub mod comments;
pub mod idempotency;
pub mod live_stream;
pub mod notifications;
pub mod orgs;
pub mod outbox;
pub mod project_access;
pub mod projects;
pub mod reminders;
pub mod report_schedules;
pub mod reports;
pub mod task_links;
pub mod task_query;
pub mod tasks;
