//! A task's assignees and labels as readers see them: the copies of their ids on the task row
//! ([`entities::link_copies`]), read by the statement that reads the task. A list page and a single task read the
//! same columns, so a page costs one statement and a task's links never come from two different code paths. The
//! writes that take a user or a label off every task they are on live here too, with the copies' refresh.
use entities::link_copies::{self, ASSIGNEES, LABELS};
use entities::tables::{task_assignees, task_labels, tasks};
use entities::task_rows;
use entities::{Scope, TenantEntity};
use sea_orm::sea_query::{Alias, Expr, IntoCondition};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, FromQueryResult, QueryFilter, QueryResult, QuerySelect, Select};
use uuid::Uuid;

use crate::error::AppError;

/// `select` (of tasks) with each task's assignee and label ids, to be read as [`LinkedTask`] rows.
pub fn with_links(select: Select<tasks::Entity>) -> Select<tasks::Entity> {
    select.column_as(copy(ASSIGNEES), ASSIGNEES).column_as(copy(LABELS), LABELS)
}

fn copy(column: &str) -> Expr {
    Expr::col((tasks::Entity, Alias::new(column)))
}

/// The assignee and label ids of one task (already loaded by the caller, in its transaction if it has one).
pub async fn links_of(
    db: &impl ConnectionTrait,
    scope: &Scope,
    task_id: Uuid,
) -> Result<(Vec<Uuid>, Vec<Uuid>), AppError> {
    let select = scope.find::<tasks::Entity>().filter(tasks::Column::Id.eq(task_id)).select_only();
    let row: Option<(Option<String>, Option<String>)> = with_links(select).into_tuple().one(db).await?;
    let (assignees, labels) = row.unwrap_or_default();
    Ok((link_copies::parse(assignees)?, link_copies::parse(labels)?))
}

/// One task's assignee ids from `task_assignees` itself, sorted as the copies are: for a write that compares a new
/// set with the current one. It must not trust the copies, which lag while replicas of a release without them still
/// run (docs/operations.md, "Link copies").
pub async fn assignees_in_table(
    db: &impl ConnectionTrait,
    scope: &Scope,
    task_id: Uuid,
) -> Result<Vec<Uuid>, AppError> {
    let which = task_assignees::Column::TaskId.eq(task_id);
    linked::<task_assignees::Entity>(db, scope, which, task_assignees::Column::UserId).await
}

/// One task's label ids from `task_labels` itself, sorted: see [`assignees_in_table`].
pub async fn labels_in_table(db: &impl ConnectionTrait, scope: &Scope, task_id: Uuid) -> Result<Vec<Uuid>, AppError> {
    linked::<task_labels::Entity>(db, scope, task_labels::Column::TaskId.eq(task_id), task_labels::Column::LabelId)
        .await
}

/// The `column` ids of the link rows of `E` matching `which`, sorted.
async fn linked<E: TenantEntity>(
    db: &impl ConnectionTrait,
    scope: &Scope,
    which: impl IntoCondition,
    column: E::Column,
) -> Result<Vec<Uuid>, AppError> {
    let mut ids: Vec<Uuid> = scope.find::<E>().filter(which).select_only().column(column).into_tuple().all(db).await?;
    ids.sort();
    Ok(ids)
}

/// A task and, read by the same statement, its assignees' and labels' ids.
pub struct LinkedTask {
    pub task: tasks::Model,
    pub assignee_ids: Vec<Uuid>,
    pub label_ids: Vec<Uuid>,
}

impl FromQueryResult for LinkedTask {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        let (task, assignees, labels) = task_rows::read(row, pre)?;
        Ok(LinkedTask { task, assignee_ids: link_copies::parse(assignees)?, label_ids: link_copies::parse(labels)? })
    }
}

/// Takes a user off every task of the org they were assigned to (they leave the org), keeping the copies true.
pub async fn unassign_everywhere(tx: &impl ConnectionTrait, scope: &Scope, user_id: Uuid) -> Result<(), AppError> {
    detach::<task_assignees::Entity>(
        tx,
        scope,
        task_assignees::Column::TaskId,
        task_assignees::Column::UserId.eq(user_id),
    )
    .await
}

/// Takes a label off every task that carries it (the label is deleted), keeping the copies true.
pub async fn unlabel_everywhere(tx: &impl ConnectionTrait, scope: &Scope, label_id: Uuid) -> Result<(), AppError> {
    detach::<task_labels::Entity>(tx, scope, task_labels::Column::TaskId, task_labels::Column::LabelId.eq(label_id))
        .await
}

/// Deletes the link rows of `E` matching `which`, then refreshes the copies of the tasks that lost one. The tasks are
/// found with a locking read: it sees links committed since the transaction's first read, and keeps new ones out
/// until the commit, so every task that loses a link gets its copy refreshed.
async fn detach<E: TenantEntity>(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    task_id: E::Column,
    which: impl IntoCondition,
) -> Result<(), AppError> {
    let which = which.into_condition();
    let task_ids: Vec<Uuid> = scope
        .find::<E>()
        .filter(which.clone())
        .select_only()
        .column(task_id)
        .lock_exclusive()
        .into_tuple()
        .all(tx)
        .await?;
    scope.delete_many::<E>().filter(which).exec(tx).await?;
    link_copies::refresh(tx, scope.org_id(), &task_ids).await?;
    Ok(())
}
