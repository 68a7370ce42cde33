//! Schema migrations. They run unchanged on SQLite and MySQL/MariaDB: every time column is `DATETIME(6)` in UTC on
//! MySQL (a `TIMESTAMP` would drop fractions and end in 2038) and UUIDs are `BINARY(16)`.
use sea_orm_migration::prelude::*;

mod columns;
mod m20261125_000001_core;
mod m20261125_000002_tenant_task_indexes;
mod m20261125_000003_assignee_board_columns;
mod m20261125_000010_jobs;
mod m20261125_000020_notifications;
mod m20261125_000021_account_tokens;
mod m20261125_000030_reminders;
mod m20261125_000040_attachments;
mod m20261125_000050_activity;
mod m20261125_000060_reports;
mod m20261204_000070_task_flow_times;
mod m20261205_000080_task_link_copies;

/// Runs the project's migrations in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_core::Migration),
            Box::new(m20261125_000002_tenant_task_indexes::Migration),
            Box::new(m20261125_000003_assignee_board_columns::Migration),
            Box::new(m20261125_000010_jobs::Migration),
            Box::new(m20261125_000020_notifications::Migration),
            Box::new(m20261125_000021_account_tokens::Migration),
            Box::new(m20261125_000030_reminders::Migration),
            Box::new(m20261125_000040_attachments::Migration),
            Box::new(m20261125_000050_activity::Migration),
            Box::new(m20261125_000060_reports::Migration),
            Box::new(m20261204_000070_task_flow_times::Migration),
            Box::new(m20261205_000080_task_link_copies::Migration),
        ]
    }
}
