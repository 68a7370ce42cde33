//! Org-first indexes for the hottest tenant queries on tasks, found with `make bench` (docs/performance.md).
//!
//! Every tenant query goes through `Scope`, which adds `org_id = ?` to the WHERE clause. An index that does not
//! start with `org_id` still finds the rows, but then has to read each candidate's clustered row just to check
//! the org, and cannot answer an aggregate or an id list from the index alone:
//!
//! - `tasks (org_id, project_id, status_id, position)` replaces `(project_id, status_id, position)`: the bottom of
//!   a board column, `MAX(position)` read on every create and every status change under the project's row lock,
//!   becomes one index dive instead of a scan of the whole column (2,600 row reads in a 10,000-task project).
//! - `tasks (org_id, project_id, status_id, deleted_at)`: the live tasks of a column in id order (the primary key
//!   is the implicit last column), so a list filtered by project and status picks its page of ids without reading
//!   rows (`task_query::list` asks for ids first).
//! - `task_assignees (org_id, user_id, task_id)` replaces `(user_id, task_id)`: the `assignee=` filter of lists
//!   becomes an index-only range instead of one clustered read per task the user is assigned to.
//!
//! The replaced indexes served only these lookups, now without the org filter no query uses.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000002_tenant_task_indexes"
    }
}

fn create(table: &str, name: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(Alias::new(table));
    for c in cols {
        i.col(Alias::new(*c));
    }
    i
}

fn drop(table: &str, name: &str) -> IndexDropStatement {
    Index::drop().name(name).table(Alias::new(table)).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(create(
                "tasks",
                "ix_tasks_org_project_status_position",
                &["org_id", "project_id", "status_id", "position"],
            ))
            .await?;
        manager.drop_index(drop("tasks", "ix_tasks_project_status_position")).await?;
        manager
            .create_index(create(
                "tasks",
                "ix_tasks_org_project_status_live",
                &["org_id", "project_id", "status_id", "deleted_at"],
            ))
            .await?;
        manager
            .create_index(create("task_assignees", "ix_task_assignees_org_user", &["org_id", "user_id", "task_id"]))
            .await?;
        manager.drop_index(drop("task_assignees", "ix_task_assignees_user")).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(create("task_assignees", "ix_task_assignees_user", &["user_id", "task_id"])).await?;
        manager.drop_index(drop("task_assignees", "ix_task_assignees_org_user")).await?;
        manager.drop_index(drop("tasks", "ix_tasks_org_project_status_live")).await?;
        manager
            .create_index(create("tasks", "ix_tasks_project_status_position", &["project_id", "status_id", "position"]))
            .await?;
        manager.drop_index(drop("tasks", "ix_tasks_org_project_status_position")).await?;
        Ok(())
    }
}
