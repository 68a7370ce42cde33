//! A task as a live board needs it: the fields a card shows and sorts by, with its `version`, read in one place
//! for the live-update bus (at publication) and for streams catching up from the event store.
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::tables::{projects, task_assignees, task_labels, tasks};
use crate::Scope;

/// The board fields of an event's task in `org_id`; `None` for an event without a task or whose task is gone.
pub async fn event_task(
    conn: &impl ConnectionTrait,
    org_id: Uuid,
    task_id: Option<Uuid>,
) -> Result<Option<Value>, DbErr> {
    match task_id {
        Some(id) => task_snapshot(conn, &Scope::system(org_id), id).await,
        None => Ok(None),
    }
}

/// The task's board fields, deleted ones included (with `deleted_at`), or `None` when the row is gone.
pub async fn task_snapshot(conn: &impl ConnectionTrait, scope: &Scope, task_id: Uuid) -> Result<Option<Value>, DbErr> {
    let Some(task) = scope.find::<tasks::Entity>().filter(tasks::Column::Id.eq(task_id)).one(conn).await? else {
        return Ok(None);
    };
    let project_key = scope
        .find::<projects::Entity>()
        .filter(projects::Column::Id.eq(task.project_id))
        .select_only()
        .column(projects::Column::Key)
        .into_tuple::<String>()
        .one(conn)
        .await?;
    let assignee_ids: Vec<Uuid> = scope
        .find::<task_assignees::Entity>()
        .filter(task_assignees::Column::TaskId.eq(task_id))
        .order_by_asc(task_assignees::Column::UserId)
        .select_only()
        .column(task_assignees::Column::UserId)
        .into_tuple()
        .all(conn)
        .await?;
    let label_ids: Vec<Uuid> = scope
        .find::<task_labels::Entity>()
        .filter(task_labels::Column::TaskId.eq(task_id))
        .order_by_asc(task_labels::Column::LabelId)
        .select_only()
        .column(task_labels::Column::LabelId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(Some(json!({
        "id": task.id,
        "project_id": task.project_id,
        "key": project_key.map(|k| format!("{k}-{}", task.number)),
        "number": task.number,
        "title": task.title,
        "status_id": task.status_id,
        "priority": task.priority,
        "position": task.position,
        "version": task.version,
        "parent_id": task.parent_id,
        "due_at": task.due_at,
        "start_at": task.start_at,
        "estimate": task.estimate,
        "assignee_ids": assignee_ids,
        "label_ids": label_ids,
        "completed_at": task.completed_at,
        "deleted_at": task.deleted_at,
        "updated_at": task.updated_at,
    })))
}
