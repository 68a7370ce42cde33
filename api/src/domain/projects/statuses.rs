//! The workflow of a project: its statuses, each in one of five categories, ordered by `position` (kept at
//! 0..n-1 without gaps). Status names are unique in a project regardless of case. A project always keeps at least one
//! status, and a status that tasks use is deleted only by moving those tasks to another status.
//!
//! Tasks keep `completed_at` set exactly while their status is in the `completed` category; when this module moves
//! tasks between statuses, or changes a category across that line, it maintains the timestamp and bumps each
//! affected task's `version` and `updated_at` like any other change to the task.
use chrono::{DateTime, Utc};
use entities::tables::{statuses, task_assignees, tasks};
use entities::Scope;
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use serde_json::{json, Map};
use uuid::Uuid;

use super::{event, lock_visible, note_change, require_manage};
use crate::domain::outbox;
use crate::domain::project_access::{ensure_not_archived, visible_project};
use crate::error::{text_field, AppError, Validator};

/// What a status means for the tasks in it; boards and reports group by category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusCategory {
    Backlog,
    Unstarted,
    Started,
    Completed,
    Cancelled,
}

impl StatusCategory {
    /// Parses one of `backlog`, `unstarted`, `started`, `completed`, `cancelled`.
    pub fn parse(raw: &str) -> Result<StatusCategory, &'static str> {
        Ok(match raw {
            "backlog" => StatusCategory::Backlog,
            "unstarted" => StatusCategory::Unstarted,
            "started" => StatusCategory::Started,
            "completed" => StatusCategory::Completed,
            "cancelled" => StatusCategory::Cancelled,
            _ => return Err("must be one of backlog, unstarted, started, completed, cancelled"),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatusCategory::Backlog => "backlog",
            StatusCategory::Unstarted => "unstarted",
            StatusCategory::Started => "started",
            StatusCategory::Completed => "completed",
            StatusCategory::Cancelled => "cancelled",
        }
    }

    /// Whether a status's stored category string is `completed`.
    pub fn is_completed(stored: &str) -> bool {
        stored == StatusCategory::Completed.as_str()
    }
}

/// The workflow every new project starts with.
const DEFAULT_STATUSES: [(&str, StatusCategory); 5] = [
    ("Backlog", StatusCategory::Backlog),
    ("Todo", StatusCategory::Unstarted),
    ("In progress", StatusCategory::Started),
    ("Done", StatusCategory::Completed),
    ("Cancelled", StatusCategory::Cancelled),
];

/// A new status.
pub struct NewStatus {
    pub name: String,
    pub category: String,
    /// Where to insert it (0 = first); at the end when absent or past the end.
    pub position: Option<i32>,
}

/// Changes to a status; `None` leaves a field as it is.
#[derive(Default)]
pub struct StatusChanges {
    pub name: Option<String>,
    pub category: Option<String>,
}

/// Writes the default statuses of a new project (in the caller's transaction).
pub(super) async fn create_defaults(
    tx: &DatabaseTransaction,
    scope: &Scope,
    project_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    for (position, (name, category)) in DEFAULT_STATUSES.iter().enumerate() {
        statuses::ActiveModel {
            id: Set(entities::new_id()),
            org_id: Set(scope.org_id()),
            project_id: Set(project_id),
            name: Set((*name).to_owned()),
            category: Set(category.as_str().to_owned()),
            position: Set(position as i32),
            created_at: Set(now),
        }
        .insert(tx)
        .await?;
    }
    Ok(())
}

/// The statuses of a project, in board order. It does not check that the actor sees the project: callers do.
pub async fn statuses_of(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
) -> Result<Vec<statuses::Model>, AppError> {
    Ok(scope
        .find::<statuses::Entity>()
        .filter(statuses::Column::ProjectId.eq(project_id))
        .order_by_asc(statuses::Column::Position)
        .order_by_asc(statuses::Column::CreatedAt)
        .all(db)
        .await?)
}

/// The statuses of a project the actor sees.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
) -> Result<Vec<statuses::Model>, AppError> {
    visible_project(db, scope, project_id).await?;
    statuses_of(db, scope, project_id).await
}

fn find_in(all: &[statuses::Model], status_id: Uuid) -> Result<&statuses::Model, AppError> {
    all.iter().find(|s| s.id == status_id).ok_or(AppError::NotFound("status_not_found"))
}

fn ensure_name_free(all: &[statuses::Model], name: &str, except: Option<Uuid>) -> Result<(), AppError> {
    let lower = name.to_lowercase();
    if all.iter().any(|s| Some(s.id) != except && s.name.to_lowercase() == lower) {
        return Err(AppError::conflict("status_name_taken", "the project already has a status with this name"));
    }
    Ok(())
}

/// Moves every task of `project_id` in status `from` to `to`, keeping `completed_at` in line with `to`'s category.
/// Returns how many tasks moved.
async fn move_tasks(
    tx: &DatabaseTransaction,
    scope: &Scope,
    project_id: Uuid,
    from: Uuid,
    to: &statuses::Model,
    now: DateTime<Utc>,
) -> Result<u64, AppError> {
    let result = scope
        .update_many::<tasks::Entity>()
        .col_expr(tasks::Column::StatusId, Expr::value(to.id))
        .col_expr(tasks::Column::CompletedAt, completed_at_in(&to.category, now))
        .col_expr(tasks::Column::StartedAt, started_at_in(&to.category, now))
        .col_expr(tasks::Column::Version, plus(tasks::Column::Version, 1))
        .col_expr(tasks::Column::UpdatedAt, Expr::value(now))
        .filter(tasks::Column::ProjectId.eq(project_id))
        .filter(tasks::Column::StatusId.eq(from))
        .exec(tx)
        .await?;
    // The assignment rows carry a copy of the status (migration 000003).
    scope
        .update_many::<task_assignees::Entity>()
        .col_expr(task_assignees::Column::StatusId, Expr::value(to.id))
        .filter(task_assignees::Column::ProjectId.eq(project_id))
        .filter(task_assignees::Column::StatusId.eq(from))
        .exec(tx)
        .await?;
    Ok(result.rows_affected)
}

/// `column + by`, for in-place increments.
fn plus(column: impl sea_orm::sea_query::IntoColumnRef, by: i32) -> Expr {
    // Imported here only: `ExprTrait` is implemented for everything that converts into an `Expr`, integers included,
    // and would shadow `Ord::min` and friends in the rest of the module.
    use sea_orm::sea_query::ExprTrait;
    Expr::col(column).add(by)
}

/// The `completed_at` of a task that lands in a status of `category`: kept (or now) when completed, else cleared.
fn completed_at_in(category: &str, now: DateTime<Utc>) -> Expr {
    if StatusCategory::is_completed(category) {
        Func::coalesce([Expr::col(tasks::Column::CompletedAt), Expr::value(now)]).into()
    } else {
        Expr::value(Option::<DateTime<Utc>>::None)
    }
}

/// The `started_at` of a task that lands in a status of `category`: set now on its first start, else kept.
fn started_at_in(category: &str, now: DateTime<Utc>) -> Expr {
    let first_start = if category == "started" { Expr::value(now) } else { Expr::value(Option::<DateTime<Utc>>::None) };
    Func::coalesce([Expr::col(tasks::Column::StartedAt), first_start]).into()
}

/// Adds a status to a project, at `position` or at the end.
pub async fn create(
    db: &DatabaseConnection,
    scope: &Scope,
    project_id: Uuid,
    input: NewStatus,
) -> Result<statuses::Model, AppError> {
    require_manage(scope)?;
    let mut v = Validator::new();
    let name = text_field(&mut v, "name", &input.name, 100);
    let category = StatusCategory::parse(&input.category).map_err(|m| v.push("category", m)).ok();
    v.check(input.position.is_none_or(|p| p >= 0), "position", "must be 0 or more");
    v.finish()?;
    let category = category.expect("validated");
    let tx = entities::begin_write(db).await?;
    let project = lock_visible(&tx, scope, project_id).await?;
    ensure_not_archived(&project)?;
    let all = statuses_of(&tx, scope, project_id).await?;
    ensure_name_free(&all, &name, None)?;
    let end = all.len() as i32;
    let position = input.position.map_or(end, |p| p.min(end));
    if position < end {
        scope
            .update_many::<statuses::Entity>()
            .col_expr(statuses::Column::Position, plus(statuses::Column::Position, 1))
            .filter(statuses::Column::ProjectId.eq(project_id))
            .filter(statuses::Column::Position.gte(position))
            .exec(&tx)
            .await?;
    }
    let status = statuses::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(scope.org_id()),
        project_id: Set(project_id),
        name: Set(name),
        category: Set(category.as_str().to_owned()),
        position: Set(position),
        created_at: Set(entities::now()),
    }
    .insert(&tx)
    .await?;
    let payload = json!({
        "project_id": project_id, "name": status.name, "category": status.category, "position": status.position,
    });
    outbox::record(&tx, event(scope, "status.created", "status", status.id, payload)).await?;
    tx.commit().await?;
    Ok(status)
}

/// Renames a status or changes its category.
pub async fn update(
    db: &DatabaseConnection,
    scope: &Scope,
    project_id: Uuid,
    status_id: Uuid,
    input: StatusChanges,
) -> Result<statuses::Model, AppError> {
    require_manage(scope)?;
    let mut v = Validator::new();
    let name = input.name.as_deref().map(|n| text_field(&mut v, "name", n, 100));
    let category =
        input.category.as_deref().and_then(|raw| StatusCategory::parse(raw).map_err(|m| v.push("category", m)).ok());
    v.finish()?;
    let tx = entities::begin_write(db).await?;
    let project = lock_visible(&tx, scope, project_id).await?;
    let all = statuses_of(&tx, scope, project_id).await?;
    let status = find_in(&all, status_id)?.clone();
    ensure_not_archived(&project)?;
    let mut changes = Map::new();
    let mut active: statuses::ActiveModel = status.clone().into();
    if let Some(name) = name {
        if name != status.name {
            ensure_name_free(&all, &name, Some(status_id))?;
        }
        note_change(&mut changes, "name", &status.name, &name);
        active.name = Set(name);
    }
    if let Some(category) = category {
        let to = category.as_str().to_owned();
        note_change(&mut changes, "category", &status.category, &to);
        active.category = Set(to);
    }
    if changes.is_empty() {
        return Ok(status);
    }
    let updated = active.update(&tx).await?;
    if StatusCategory::is_completed(&status.category) != StatusCategory::is_completed(&updated.category) {
        // The tasks in this status just became (or stopped being) completed.
        let now = entities::now();
        scope
            .update_many::<tasks::Entity>()
            .col_expr(tasks::Column::CompletedAt, completed_at_in(&updated.category, now))
            .col_expr(tasks::Column::StartedAt, started_at_in(&updated.category, now))
            .col_expr(tasks::Column::Version, plus(tasks::Column::Version, 1))
            .col_expr(tasks::Column::UpdatedAt, Expr::value(now))
            .filter(tasks::Column::ProjectId.eq(project_id))
            .filter(tasks::Column::StatusId.eq(status_id))
            .exec(&tx)
            .await?;
    }
    let payload = json!({ "project_id": project_id, "changes": changes });
    outbox::record(&tx, event(scope, "status.updated", "status", status_id, payload)).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Deletes a status. Tasks in it (deleted ones included, so that restoring them finds a status) move to `move_to`;
/// without it, a status in use is refused. The last status of a project is never deleted.
pub async fn delete(
    db: &DatabaseConnection,
    scope: &Scope,
    project_id: Uuid,
    status_id: Uuid,
    move_to: Option<Uuid>,
) -> Result<(), AppError> {
    require_manage(scope)?;
    let tx = entities::begin_write(db).await?;
    let project = lock_visible(&tx, scope, project_id).await?;
    let all = statuses_of(&tx, scope, project_id).await?;
    let status = find_in(&all, status_id)?.clone();
    ensure_not_archived(&project)?;
    if all.len() == 1 {
        return Err(AppError::conflict("last_status", "a project keeps at least one status"));
    }
    let target = match move_to {
        None => None,
        Some(id) => match all.iter().find(|s| s.id == id && s.id != status_id) {
            Some(target) => Some(target.clone()),
            None => return Err(AppError::invalid("move_to", "must be another status of this project")),
        },
    };
    let in_use = scope
        .find::<tasks::Entity>()
        .filter(tasks::Column::ProjectId.eq(project_id))
        .filter(tasks::Column::StatusId.eq(status_id))
        .count(&tx)
        .await?;
    let now = entities::now();
    let moved = match (&target, in_use) {
        (_, 0) => 0,
        (Some(target), _) => move_tasks(&tx, scope, project_id, status_id, target, now).await?,
        (None, n) => {
            return Err(AppError::conflict(
                "status_in_use",
                format!("{n} task(s) use this status; pass `move_to` with the status they should move to"),
            ))
        }
    };
    scope.delete_many::<statuses::Entity>().filter(statuses::Column::Id.eq(status_id)).exec(&tx).await?;
    scope
        .update_many::<statuses::Entity>()
        .col_expr(statuses::Column::Position, plus(statuses::Column::Position, -1))
        .filter(statuses::Column::ProjectId.eq(project_id))
        .filter(statuses::Column::Position.gt(status.position))
        .exec(&tx)
        .await?;
    let payload = json!({
        "project_id": project_id, "name": status.name, "moved_to": target.map(|t| t.id), "moved_tasks": moved,
    });
    outbox::record(&tx, event(scope, "status.deleted", "status", status_id, payload)).await?;
    tx.commit().await?;
    Ok(())
}

/// Puts the project's statuses in the given order; `status_ids` lists each of them exactly once. The order they
/// already have changes nothing.
pub async fn reorder(
    db: &DatabaseConnection,
    scope: &Scope,
    project_id: Uuid,
    status_ids: Vec<Uuid>,
) -> Result<Vec<statuses::Model>, AppError> {
    require_manage(scope)?;
    let tx = entities::begin_write(db).await?;
    let project = lock_visible(&tx, scope, project_id).await?;
    ensure_not_archived(&project)?;
    let all = statuses_of(&tx, scope, project_id).await?;
    let mut given = status_ids.clone();
    given.sort();
    given.dedup();
    let mut current: Vec<Uuid> = all.iter().map(|s| s.id).collect();
    current.sort();
    if given.len() != status_ids.len() || given != current {
        return Err(AppError::invalid("status_ids", "must list each status of the project exactly once"));
    }
    let mut changed = false;
    for (position, id) in status_ids.iter().enumerate() {
        let position = position as i32;
        if all.iter().any(|s| s.id == *id && s.position != position) {
            changed = true;
            scope
                .update_many::<statuses::Entity>()
                .col_expr(statuses::Column::Position, Expr::value(position))
                .filter(statuses::Column::Id.eq(*id))
                .exec(&tx)
                .await?;
        }
    }
    if !changed {
        return Ok(all);
    }
    outbox::record(
        &tx,
        event(scope, "project.statuses_reordered", "project", project_id, json!({ "status_ids": status_ids })),
    )
    .await?;
    let reordered = statuses_of(&tx, scope, project_id).await?;
    tx.commit().await?;
    Ok(reordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_round_trip_through_strings() {
        for (_, c) in DEFAULT_STATUSES {
            assert_eq!(StatusCategory::parse(c.as_str()).unwrap(), c);
        }
        assert!(StatusCategory::parse("done").is_err());
        assert!(StatusCategory::is_completed("completed") && !StatusCategory::is_completed("cancelled"));
    }
}
