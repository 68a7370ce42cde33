//! `tasks.started_at` (the first time a task entered a status of the `started` category, for cycle time) and the
//! indexes the analytics read through: the tasks an org or project completed in a date range,
//! `(org_id, project_id, completed_at)` and `(org_id, completed_at)`, and the open tasks past their due date,
//! `(org_id, project_id, due_at)`. Existing tasks keep `started_at` empty: their start was never recorded, and a
//! guess would skew the medians.
use sea_orm_migration::prelude::*;

use super::columns::{index, Cols};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000070_task_flow_times"
    }
}

const INDEXES: [(&str, &[&str]); 3] = [
    ("ix_tasks_org_project_completed", &["org_id", "project_id", "completed_at"]),
    ("ix_tasks_org_completed", &["org_id", "completed_at"]),
    ("ix_tasks_org_project_due", &["org_id", "project_id", "due_at"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let c = Cols { backend: manager.get_database_backend() };
        manager
            .alter_table(Table::alter().table(Alias::new("tasks")).add_column(c.time_null("started_at")).to_owned())
            .await?;
        for (name, cols) in INDEXES {
            manager.create_index(index("tasks", name, cols, false)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager.drop_index(Index::drop().name(name).table(Alias::new("tasks")).to_owned()).await?;
        }
        manager
            .alter_table(Table::alter().table(Alias::new("tasks")).drop_column(Alias::new("started_at")).to_owned())
            .await
    }
}
