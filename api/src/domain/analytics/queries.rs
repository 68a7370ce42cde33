//! The analytics' reads: daily counters from the event store, and grouped, indexed queries on the tasks of the
//! projects in view. Nothing here scans events.
#![allow(clippy::disallowed_methods)] // user names: `users` is not tenant data; the ids come from scoped rows

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use entities::tables::{statuses, task_assignees, tasks, users};
use entities::Scope;
use platform::events::{EventStore, MAX_COUNTER_DAYS};
use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Select};
use uuid::Uuid;

use super::flow::Counts;
use crate::domain::activity::store_error;
use crate::error::AppError;

/// Which tasks the figures cover: one project, the projects the caller may see, or (`All`) the whole org.
#[derive(Debug, Clone)]
pub enum Projects {
    All,
    Only(Vec<Uuid>),
}

impl Projects {
    fn narrow<E: EntityTrait>(&self, select: Select<E>, column: impl ColumnTrait) -> Select<E> {
        match self {
            Projects::All => select,
            Projects::Only(ids) => select.filter(column.is_in(ids.clone())),
        }
    }
}

/// The counters from `from` to `to` of the projects in view, summed; in windows of the store's longest range.
pub async fn counters(
    store: &dyn EventStore,
    scope: &Scope,
    projects: &Projects,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Counts, AppError> {
    let mut counts = Counts::default();
    let window = Days::new(MAX_COUNTER_DAYS as u64 - 1);
    let mut start = from;
    while start <= to {
        let end = start.checked_add_days(window).unwrap_or(to).min(to);
        match projects {
            Projects::All => {
                counts.add(store.counters(scope.org_id(), None, start, end).await.map_err(store_error)?);
            }
            Projects::Only(ids) => {
                let reads = ids.iter().map(|p| store.counters(scope.org_id(), Some(*p), start, end));
                for read in futures_util::future::join_all(reads).await {
                    counts.add(read.map_err(store_error)?);
                }
            }
        }
        match end.succ_opt() {
            Some(next) => start = next,
            None => break,
        }
    }
    Ok(counts)
}

/// The statuses of the projects in view.
pub async fn statuses(
    db: &impl ConnectionTrait,
    scope: &Scope,
    projects: &Projects,
) -> Result<Vec<statuses::Model>, AppError> {
    let select = projects.narrow(scope.find::<statuses::Entity>(), statuses::Column::ProjectId);
    Ok(select.all(db).await?)
}

fn live_tasks(scope: &Scope, projects: &Projects) -> Select<tasks::Entity> {
    projects.narrow(scope.find::<tasks::Entity>(), tasks::Column::ProjectId).filter(tasks::Column::DeletedAt.is_null())
}

/// Live tasks per status id.
pub async fn tasks_per_status(
    db: &impl ConnectionTrait,
    scope: &Scope,
    projects: &Projects,
) -> Result<HashMap<Uuid, i64>, AppError> {
    let rows: Vec<(Uuid, i64)> = live_tasks(scope, projects)
        .select_only()
        .column(tasks::Column::StatusId)
        .column_as(tasks::Column::Id.count(), "n")
        .group_by(tasks::Column::StatusId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Live open tasks (not completed or cancelled) past their due time.
pub async fn overdue(
    db: &impl ConnectionTrait,
    scope: &Scope,
    projects: &Projects,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let n: Option<i64> = live_tasks(scope, projects)
        .filter(tasks::Column::CompletedAt.is_null())
        .filter(tasks::Column::DueAt.lt(now))
        .select_only()
        .column_as(tasks::Column::Id.count(), "n")
        .into_tuple()
        .one(db)
        .await?;
    Ok(n.unwrap_or(0))
}

/// A completed task's creation, first start and completion.
pub type Completion = (DateTime<Utc>, Option<DateTime<Utc>>, DateTime<Utc>);

/// The creation, first start and completion times of the live tasks that entered a `completed` status in
/// `[start, end)` and are still there.
pub async fn completions(
    db: &impl ConnectionTrait,
    scope: &Scope,
    projects: &Projects,
    completed_statuses: &[Uuid],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<Completion>, AppError> {
    if completed_statuses.is_empty() {
        return Ok(Vec::new());
    }
    // `completed_at` is nullable in the schema; the filter above makes it present.
    type Row = (DateTime<Utc>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let rows: Vec<Row> = live_tasks(scope, projects)
        .filter(tasks::Column::CompletedAt.gte(start))
        .filter(tasks::Column::CompletedAt.lt(end))
        .filter(tasks::Column::StatusId.is_in(completed_statuses.to_vec()))
        .select_only()
        .column(tasks::Column::CreatedAt)
        .column(tasks::Column::StartedAt)
        .column(tasks::Column::CompletedAt)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|(created, started, done)| Some((created, started, done?))).collect())
}

/// Assignments in `statuses` of the projects in view; rows carry their task's status, so the assignee index alone
/// answers it.
fn assignments_in(scope: &Scope, projects: &Projects, statuses: &[Uuid]) -> Select<task_assignees::Entity> {
    projects
        .narrow(scope.find::<task_assignees::Entity>(), task_assignees::Column::ProjectId)
        .filter(task_assignees::Column::StatusId.is_in(statuses.to_vec()))
}

/// The ids of the org's tasks, as a subquery with its own org filter.
fn tasks_of_org(scope: &Scope) -> SelectStatement {
    let mut select = Query::select();
    select.column(tasks::Column::Id).from(tasks::Entity).and_where(tasks::Column::OrgId.eq(scope.org_id()));
    select
}

/// Per assignee: how many live tasks in `statuses` (the completed ones) that completed in `[start, end)` they hold.
/// Few tasks complete in a range, so this counts the assignments of exactly those.
pub async fn completed_per_assignee(
    db: &impl ConnectionTrait,
    scope: &Scope,
    projects: &Projects,
    statuses: &[Uuid],
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Result<HashMap<Uuid, i64>, AppError> {
    if statuses.is_empty() {
        return Ok(HashMap::new());
    }
    let mut completed = tasks_of_org(scope);
    completed
        .and_where(tasks::Column::DeletedAt.is_null())
        .and_where(tasks::Column::CompletedAt.gte(start))
        .and_where(tasks::Column::CompletedAt.lt(end));
    let select =
        assignments_in(scope, projects, statuses).filter(task_assignees::Column::TaskId.in_subquery(completed));
    count_by_user(db, select).await
}

/// Per assignee: how many live tasks in `statuses` (the open ones) they hold. Most tasks are live, so this counts
/// every assignment in the statuses from the index and takes away those of the few deleted tasks, instead of
/// probing the tasks table once per assignment.
pub async fn open_per_assignee(
    db: &impl ConnectionTrait,
    scope: &Scope,
    projects: &Projects,
    statuses: &[Uuid],
) -> Result<HashMap<Uuid, i64>, AppError> {
    if statuses.is_empty() {
        return Ok(HashMap::new());
    }
    let mut deleted = tasks_of_org(scope);
    deleted.and_where(tasks::Column::DeletedAt.is_not_null());
    let of_deleted =
        assignments_in(scope, projects, statuses).filter(task_assignees::Column::TaskId.in_subquery(deleted));
    let (mut all, gone) =
        tokio::try_join!(count_by_user(db, assignments_in(scope, projects, statuses)), count_by_user(db, of_deleted))?;
    for (user, n) in gone {
        if let Some(count) = all.get_mut(&user) {
            *count -= n;
        }
    }
    all.retain(|_, n| *n > 0);
    Ok(all)
}

async fn count_by_user(
    db: &impl ConnectionTrait,
    select: Select<task_assignees::Entity>,
) -> Result<HashMap<Uuid, i64>, AppError> {
    let rows: Vec<(Uuid, i64)> = select
        .select_only()
        .column(task_assignees::Column::UserId)
        .column_as(task_assignees::Column::TaskId.count(), "n")
        .group_by(task_assignees::Column::UserId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Display names of `ids`.
pub async fn names(db: &impl ConnectionTrait, ids: Vec<Uuid>) -> Result<HashMap<Uuid, String>, AppError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String)> = users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::Name)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
