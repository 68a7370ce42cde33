//! Copies each task's project and status onto its `task_assignees` rows, so "tasks of user U in project P and
//! status S" (the board filtered by assignee, the busiest list) is one short index range,
//! `(org_id, user_id, project_id, status_id, task_id)`, instead of a walk over all of U's assignments in the org,
//! each checked against its task row. The domain keeps the copies in step whenever a task changes status
//! (`api::domain::tasks`, `api::domain::projects::statuses`); project never changes for a task.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000003_assignee_board_columns"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per ALTER: SQLite adds a single column per statement.
        for column in ["project_id", "status_id"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("task_assignees"))
                        .add_column(ColumnDef::new(Alias::new(column)).uuid().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE task_assignees SET \
                 project_id = (SELECT t.project_id FROM tasks t WHERE t.id = task_assignees.task_id), \
                 status_id = (SELECT t.status_id FROM tasks t WHERE t.id = task_assignees.task_id)",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_task_assignees_board")
                    .table(Alias::new("task_assignees"))
                    .col(Alias::new("org_id"))
                    .col(Alias::new("user_id"))
                    .col(Alias::new("project_id"))
                    .col(Alias::new("status_id"))
                    .col(Alias::new("task_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("ix_task_assignees_board").table(Alias::new("task_assignees")).to_owned())
            .await?;
        for column in ["status_id", "project_id"] {
            manager
                .alter_table(
                    Table::alter().table(Alias::new("task_assignees")).drop_column(Alias::new(column)).to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
