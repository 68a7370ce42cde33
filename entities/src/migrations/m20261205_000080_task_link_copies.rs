//! `tasks.assignee_ids` and `tasks.label_ids`: each task's copy of its assignees' and labels' ids
//! ([`crate::link_copies`]), filled here from `task_assignees` and `task_labels`. Nullable text: NULL is a task
//! without links, and MySQL 8 takes no plain default on a TEXT column.
use sea_orm_migration::prelude::*;

use crate::link_copies::{self, ASSIGNEES, LABELS};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000080_task_link_copies"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite adds a single column per statement.
        for column in [ASSIGNEES, LABELS] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("tasks"))
                        .add_column(ColumnDef::new(Alias::new(column)).text().null())
                        .to_owned(),
                )
                .await?;
        }
        link_copies::refresh_all(manager.get_connection()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [LABELS, ASSIGNEES] {
            manager
                .alter_table(Table::alter().table(Alias::new("tasks")).drop_column(Alias::new(column)).to_owned())
                .await?;
        }
        Ok(())
    }
}
