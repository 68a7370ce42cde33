//! Tasks: creation with a per-project number allocated atomically, lookup by id or by `KEY-42`, merge-patch updates
//! under optimistic concurrency (`version`), soft delete and restore, board moves, subtasks without cycles.
//!
//! Numbers: the first statement of the creating transaction increments `projects.next_number`, which takes the
//! project row's write lock (MySQL) or the database write lock (SQLite) until commit, so concurrent creates in one
//! project serialise on that row and a rolled-back create gives its number back: numbers are distinct and gap-free.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entities::link_copies;
use entities::tables::{labels, memberships, projects, task_assignees, task_labels, tasks, watchers};
use entities::{Permission, Scope};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::access::require;
use super::outbox::{self, Event};
use super::project_access::{ensure_not_archived, member_sees, visible_project};
use super::projects::statuses::statuses_of;
use super::task_links::{assignees_in_table, labels_in_table, links_of, with_links, LinkedTask};
use crate::error::{text_field, AppError, Validator};

/// Gap between neighbours when a task is appended to a column; moves bisect gaps, so about 50 moves into the same
/// gap fit before the column needs renumbering.
pub const POSITION_STEP: f64 = 1024.0;
/// Below this gap bisecting loses precision, and the column is renumbered once.
const MIN_GAP: f64 = 1e-6;
pub const MAX_DESCRIPTION_CHARS: usize = 100_000;

/// Task priority, stored as a rank so it sorts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    None = 0,
    Low = 1,
    Medium = 2,
    High = 3,
    Urgent = 4,
}

impl Priority {
    pub const NAMES: [&'static str; 5] = ["none", "low", "medium", "high", "urgent"];

    pub fn parse(s: &str) -> Option<Priority> {
        Some(match s {
            "none" => Priority::None,
            "low" => Priority::Low,
            "medium" => Priority::Medium,
            "high" => Priority::High,
            "urgent" => Priority::Urgent,
            _ => return None,
        })
    }

    pub fn name_of(rank: i16) -> &'static str {
        Self::NAMES.get(rank as usize).copied().unwrap_or("none")
    }
}

/// A task with its project key, assignees and labels.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub task: tasks::Model,
    pub project_key: String,
    pub assignee_ids: Vec<Uuid>,
    pub label_ids: Vec<Uuid>,
}

impl TaskView {
    /// The view of a task read with its links ([`super::task_links::with_links`]) in a project whose key is known.
    pub(crate) fn of(linked: LinkedTask, project_key: String) -> TaskView {
        TaskView { task: linked.task, project_key, assignee_ids: linked.assignee_ids, label_ids: linked.label_ids }
    }

    pub fn key(&self) -> String {
        format!("{}-{}", self.project_key, self.task.number)
    }

    fn snapshot(&self) -> Value {
        let t = &self.task;
        json!({
            "id": t.id, "key": self.key(), "project_id": t.project_id, "title": t.title,
            "status_id": t.status_id, "priority": Priority::name_of(t.priority), "due_at": t.due_at.map(entities::utc),
            "start_at": t.start_at.map(entities::utc), "estimate": t.estimate, "parent_id": t.parent_id, "position": t.position,
            "version": t.version, "assignee_ids": self.assignee_ids, "label_ids": self.label_ids,
        })
    }
}

/// The keys of `project_ids`, for the views of tasks from several projects.
pub(crate) async fn project_keys(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project_ids: HashSet<Uuid>,
) -> Result<HashMap<Uuid, String>, AppError> {
    if project_ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(scope
        .find::<projects::Entity>()
        .filter(projects::Column::Id.is_in(project_ids))
        .select_only()
        .column(projects::Column::Id)
        .column(projects::Column::Key)
        .into_tuple::<(Uuid, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// The view of a task of `project` as it stands in `db` now (in a write's transaction, after the write): the
/// project key costs no query, the assignees and labels one read of the task row.
async fn view(
    db: &impl ConnectionTrait,
    scope: &Scope,
    task: tasks::Model,
    project: &projects::Model,
) -> Result<TaskView, AppError> {
    let (assignee_ids, label_ids) = links_of(db, scope, task.id).await?;
    Ok(TaskView { task, project_key: project.key.clone(), assignee_ids, label_ids })
}

/// Resolves a task reference, a UUID or `KEY-42`, to a task in a project the actor sees; 404 otherwise.
pub async fn find(
    db: &impl ConnectionTrait,
    scope: &Scope,
    reference: &str,
) -> Result<(tasks::Model, projects::Model), AppError> {
    let (linked, project) = find_linked(db, scope, reference).await?;
    Ok((linked.task, project))
}

/// [`find`], with the task's assignees and labels read by the same statement (single-task reads and the state a
/// write starts from need them; reading them again would be a second read of the same row).
async fn find_linked(
    db: &impl ConnectionTrait,
    scope: &Scope,
    reference: &str,
) -> Result<(LinkedTask, projects::Model), AppError> {
    let not_found = AppError::NotFound("task_not_found");
    let task = if let Ok(id) = reference.parse::<Uuid>() {
        with_links(scope.find::<tasks::Entity>().filter(tasks::Column::Id.eq(id)))
    } else {
        let (key, number) = reference.rsplit_once('-').ok_or(AppError::NotFound("task_not_found"))?;
        let number: i64 = number.parse().map_err(|_| AppError::NotFound("task_not_found"))?;
        let Some(project) =
            scope.find::<projects::Entity>().filter(projects::Column::Key.eq(key.to_ascii_uppercase())).one(db).await?
        else {
            return Err(not_found);
        };
        with_links(
            scope
                .find::<tasks::Entity>()
                .filter(tasks::Column::ProjectId.eq(project.id))
                .filter(tasks::Column::Number.eq(number)),
        )
    };
    let task = task.into_model::<LinkedTask>().one(db).await?.ok_or(AppError::NotFound("task_not_found"))?;
    let project = visible_project(db, scope, task.task.project_id).await.map_err(|_| not_found)?;
    Ok((task, project))
}

/// A task as the actor sees it.
pub async fn get(db: &impl ConnectionTrait, scope: &Scope, reference: &str) -> Result<TaskView, AppError> {
    let (task, project) = find_linked(db, scope, reference).await?;
    Ok(TaskView::of(task, project.key))
}

/// Input of a new task.
#[derive(Debug, Default)]
pub struct NewTask {
    pub title: String,
    pub description: Option<String>,
    pub status_id: Option<Uuid>,
    pub priority: Option<String>,
    pub assignee_ids: Vec<Uuid>,
    pub label_ids: Vec<Uuid>,
    pub due_at: Option<DateTime<Utc>>,
    pub start_at: Option<DateTime<Utc>>,
    pub estimate: Option<i32>,
    pub parent_id: Option<Uuid>,
}

fn is_done(category: &str) -> bool {
    category == "completed" || category == "cancelled"
}

/// Why an assignee is refused.
const ASSIGNEE_REFUSED: &str = "is not a member with access to this project";
/// Why a label is refused.
const LABEL_REFUSED: &str = "is not a label of this project";

/// Checks that every assignee is an org member who sees the project.
async fn check_assignees(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project: &projects::Model,
    ids: &[Uuid],
    v: &mut Validator,
) -> Result<(), AppError> {
    if ids.len() > 50 {
        v.push("assignee_ids", "at most 50 assignees");
        return Ok(());
    }
    for id in ids {
        if !member_sees(db, scope, *id, project).await? {
            v.push("assignee_ids", format!("{id} {ASSIGNEE_REFUSED}"));
        }
    }
    Ok(())
}

async fn check_labels(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
    ids: &[Uuid],
    v: &mut Validator,
) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    let found = existing_labels(db, scope, project_id, ids, false).await?;
    report_missing(v, "label_ids", ids, &found, LABEL_REFUSED);
    Ok(())
}

/// Which of `ids` are labels of the project; `locked` reads them with a shared lock held until the transaction ends.
async fn existing_labels(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
    ids: &[Uuid],
    locked: bool,
) -> Result<HashSet<Uuid>, AppError> {
    let mut select = scope
        .find::<labels::Entity>()
        .filter(labels::Column::ProjectId.eq(project_id))
        .filter(labels::Column::Id.is_in(ids.to_vec()))
        .select_only()
        .column(labels::Column::Id);
    if locked {
        select = select.lock_shared();
    }
    Ok(select.into_tuple::<Uuid>().all(db).await?.into_iter().collect())
}

fn report_missing(v: &mut Validator, field: &str, ids: &[Uuid], found: &HashSet<Uuid>, what: &str) {
    for id in ids.iter().filter(|id| !found.contains(id)) {
        v.push(field, format!("{id} {what}"));
    }
}

/// Re-reads, inside the write transaction and with a shared lock held until it ends, the labels and the assignees'
/// memberships about to be linked. The checks above ran before the transaction: a label deleted or a member removed
/// since then answers 422 as the check would have, instead of linking the task to something that is gone. While
/// the locks are held, deleting the label or removing the member waits for this transaction, then finds and removes
/// the links it made (`task_links::detach`); if the two lock each other out, the database aborts one (409
/// `write_conflict`).
async fn lock_link_targets(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
    assignee_ids: &[Uuid],
    label_ids: &[Uuid],
) -> Result<(), AppError> {
    let mut v = Validator::new();
    if !label_ids.is_empty() {
        let found = existing_labels(tx, scope, project_id, label_ids, true).await?;
        report_missing(&mut v, "label_ids", label_ids, &found, LABEL_REFUSED);
    }
    if !assignee_ids.is_empty() {
        let found: HashSet<Uuid> = scope
            .find::<memberships::Entity>()
            .filter(memberships::Column::UserId.is_in(assignee_ids.to_vec()))
            .select_only()
            .column(memberships::Column::UserId)
            .lock_shared()
            .into_tuple::<Uuid>()
            .all(tx)
            .await?
            .into_iter()
            .collect();
        report_missing(&mut v, "assignee_ids", assignee_ids, &found, ASSIGNEE_REFUSED);
    }
    v.finish()
}

/// Checks that `parent_id` is a live task of the project and that making it the parent of `child` (None for a new
/// task) creates no cycle.
async fn check_parent(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
    parent_id: Uuid,
    child: Option<Uuid>,
    v: &mut Validator,
) -> Result<(), AppError> {
    let mut current = Some(parent_id);
    let mut depth = 0;
    while let Some(id) = current {
        if Some(id) == child {
            v.push("parent_id", "would make the task its own ancestor");
            return Ok(());
        }
        let Some(t) = scope
            .find::<tasks::Entity>()
            .filter(tasks::Column::Id.eq(id))
            .filter(tasks::Column::ProjectId.eq(project_id))
            .one(db)
            .await?
        else {
            v.push("parent_id", "must be a task of the same project");
            return Ok(());
        };
        if depth == 0 && t.deleted_at.is_some() {
            v.push("parent_id", "must not be a deleted task");
            return Ok(());
        }
        depth += 1;
        if depth > 100 {
            v.push("parent_id", "nesting is too deep");
            return Ok(());
        }
        current = t.parent_id;
    }
    Ok(())
}

fn check_dates(v: &mut Validator, start: Option<DateTime<Utc>>, due: Option<DateTime<Utc>>) {
    if let (Some(s), Some(d)) = (start, due) {
        v.check(s <= d, "start_at", "must not be after due_at");
    }
}

fn check_estimate(v: &mut Validator, estimate: Option<i32>) {
    if let Some(e) = estimate {
        v.check((0..=100_000).contains(&e), "estimate", "must be between 0 and 100000");
    }
}

fn dedup(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// Position for a task appended at the bottom of `status_id`'s column.
async fn end_of_column(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
    status_id: Uuid,
) -> Result<f64, AppError> {
    let max: Option<f64> = scope
        .find::<tasks::Entity>()
        .filter(tasks::Column::ProjectId.eq(project_id))
        .filter(tasks::Column::StatusId.eq(status_id))
        .select_only()
        .column_as(tasks::Column::Position.max(), "max_position")
        .into_tuple::<Option<f64>>()
        .one(db)
        .await?
        .flatten();
    Ok(max.map_or(POSITION_STEP, |m| m + POSITION_STEP))
}

async fn add_watchers(tx: &impl ConnectionTrait, scope: &Scope, task_id: Uuid, users: &[Uuid]) -> Result<(), AppError> {
    if users.is_empty() {
        return Ok(());
    }
    let existing: HashSet<Uuid> = scope
        .find::<watchers::Entity>()
        .filter(watchers::Column::TaskId.eq(task_id))
        .select_only()
        .column(watchers::Column::UserId)
        .into_tuple::<Uuid>()
        .all(tx)
        .await?
        .into_iter()
        .collect();
    let missing: Vec<Uuid> = users.iter().copied().filter(|u| !existing.contains(u)).collect();
    insert_watchers(tx, scope, task_id, &missing).await
}

/// Adds watchers to a task that has none of them yet (a new task, or the difference computed by `add_watchers`).
async fn insert_watchers(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    task_id: Uuid,
    users: &[Uuid],
) -> Result<(), AppError> {
    let now = entities::now();
    let rows = dedup(users).into_iter().map(|user| watchers::ActiveModel {
        task_id: Set(task_id),
        user_id: Set(user),
        org_id: Set(scope.org_id()),
        created_at: Set(now),
    });
    watchers::Entity::insert_many(rows).exec_without_returning(tx).await?;
    Ok(())
}

async fn set_assignees(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    task: &tasks::Model,
    ids: &[Uuid],
) -> Result<(), AppError> {
    scope.delete_many::<task_assignees::Entity>().filter(task_assignees::Column::TaskId.eq(task.id)).exec(tx).await?;
    insert_assignees(tx, scope, task, ids).await
}

/// Keeps the status copied onto the task's assignment rows in step (see migration 000003).
async fn sync_assignee_status(tx: &impl ConnectionTrait, scope: &Scope, task: &tasks::Model) -> Result<(), AppError> {
    scope
        .update_many::<task_assignees::Entity>()
        .col_expr(task_assignees::Column::StatusId, Expr::value(task.status_id))
        .filter(task_assignees::Column::TaskId.eq(task.id))
        .exec(tx)
        .await?;
    Ok(())
}

/// Assigns a task that has no assignees yet; `ids` are distinct.
async fn insert_assignees(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    task: &tasks::Model,
    ids: &[Uuid],
) -> Result<(), AppError> {
    let rows = ids.iter().map(|id| task_assignees::ActiveModel {
        task_id: Set(task.id),
        user_id: Set(*id),
        org_id: Set(scope.org_id()),
        project_id: Set(Some(task.project_id)),
        status_id: Set(Some(task.status_id)),
    });
    task_assignees::Entity::insert_many(rows).exec_without_returning(tx).await?;
    Ok(())
}

async fn set_labels(tx: &impl ConnectionTrait, scope: &Scope, task_id: Uuid, ids: &[Uuid]) -> Result<(), AppError> {
    scope.delete_many::<task_labels::Entity>().filter(task_labels::Column::TaskId.eq(task_id)).exec(tx).await?;
    insert_labels(tx, scope, task_id, ids).await
}

/// Labels a task that has no labels yet; `ids` are distinct.
async fn insert_labels(tx: &impl ConnectionTrait, scope: &Scope, task_id: Uuid, ids: &[Uuid]) -> Result<(), AppError> {
    let rows = ids.iter().map(|id| task_labels::ActiveModel {
        task_id: Set(task_id),
        label_id: Set(*id),
        org_id: Set(scope.org_id()),
    });
    task_labels::Entity::insert_many(rows).exec_without_returning(tx).await?;
    Ok(())
}

/// Creates a task in `project_id`.
pub async fn create(
    db: &DatabaseConnection,
    scope: &Scope,
    project_id: Uuid,
    input: NewTask,
) -> Result<TaskView, AppError> {
    let project = visible_project(db, scope, project_id).await?;
    require(scope, Permission::WriteTasks)?;
    ensure_not_archived(&project)?;
    let mut v = Validator::new();
    let title = text_field(&mut v, "title", &input.title, 500);
    let description = input.description.unwrap_or_default();
    v.check(description.chars().count() <= MAX_DESCRIPTION_CHARS, "description", "is too long (100000 characters)");
    let priority = match input.priority.as_deref() {
        None => Priority::None,
        Some(p) => Priority::parse(p).unwrap_or_else(|| {
            v.push("priority", "must be one of none, low, medium, high, urgent");
            Priority::None
        }),
    };
    let statuses = statuses_of(db, scope, project.id).await?;
    let status = match input.status_id {
        Some(id) => statuses.iter().find(|s| s.id == id).cloned().or_else(|| {
            v.push("status_id", "is not a status of this project");
            None
        }),
        None => statuses.iter().find(|s| s.category == "unstarted").or(statuses.first()).cloned(),
    };
    let assignee_ids = dedup(&input.assignee_ids);
    let label_ids = dedup(&input.label_ids);
    check_assignees(db, scope, &project, &assignee_ids, &mut v).await?;
    check_labels(db, scope, project.id, &label_ids, &mut v).await?;
    if let Some(parent) = input.parent_id {
        check_parent(db, scope, project.id, parent, None, &mut v).await?;
    }
    check_dates(&mut v, input.start_at, input.due_at);
    check_estimate(&mut v, input.estimate);
    v.finish()?;
    let status = status.ok_or_else(|| AppError::conflict("no_statuses", "the project has no statuses"))?;

    let tx = entities::begin_write(db).await?;
    // Allocate the number first: see the module docs.
    scope
        .update_many::<projects::Entity>()
        .col_expr(projects::Column::NextNumber, Expr::col(projects::Column::NextNumber).add(1))
        .filter(projects::Column::Id.eq(project.id))
        .exec(&tx)
        .await?;
    let next: i64 = scope
        .find::<projects::Entity>()
        .filter(projects::Column::Id.eq(project.id))
        .select_only()
        .column(projects::Column::NextNumber)
        .into_tuple()
        .one(&tx)
        .await?
        .ok_or(AppError::NotFound("project_not_found"))?;
    lock_link_targets(&tx, scope, project.id, &assignee_ids, &label_ids).await?;
    let now = entities::now();
    let position = end_of_column(&tx, scope, project.id, status.id).await?;
    let task = tasks::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(scope.org_id()),
        project_id: Set(project.id),
        number: Set(next - 1),
        title: Set(title),
        description: Set(description),
        status_id: Set(status.id),
        priority: Set(priority as i16),
        due_at: Set(input.due_at.map(entities::far_date)),
        start_at: Set(input.start_at.map(entities::far_date)),
        estimate: Set(input.estimate),
        parent_id: Set(input.parent_id),
        position: Set(position),
        version: Set(1),
        started_at: Set((status.category == STARTED).then_some(now)),
        completed_at: Set(is_done(&status.category).then_some(now)),
        deleted_at: Set(None),
        created_by: Set(scope.user_id()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await?;
    // The task is brand new: nothing to replace, so the links are inserted without deleting first.
    insert_assignees(&tx, scope, &task, &assignee_ids).await?;
    insert_labels(&tx, scope, task.id, &label_ids).await?;
    if !assignee_ids.is_empty() || !label_ids.is_empty() {
        link_copies::refresh(&tx, scope.org_id(), &[task.id]).await?;
    }
    let view = TaskView { task, project_key: project.key.clone(), assignee_ids, label_ids };
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "task.created",
            entity_type: "task",
            entity_id: view.task.id,
            payload: view.snapshot(),
        },
    )
    .await?;
    // The creator and the assignees follow the task.
    let mut watching = vec![scope.user_id()];
    watching.extend(&view.assignee_ids);
    insert_watchers(&tx, scope, view.task.id, &watching).await?;
    tx.commit().await?;
    Ok(view)
}

fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// A merge patch: `None` keeps a field, `Some(None)` clears a nullable one, `Some(Some(v))` sets it.
#[derive(Debug, Default)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status_id: Option<Uuid>,
    pub priority: Option<String>,
    pub assignee_ids: Option<Vec<Uuid>>,
    pub label_ids: Option<Vec<Uuid>>,
    pub due_at: Option<Option<DateTime<Utc>>>,
    pub start_at: Option<Option<DateTime<Utc>>>,
    pub estimate: Option<Option<i32>>,
    pub parent_id: Option<Option<Uuid>>,
}

fn change(changes: &mut Map<String, Value>, field: &str, from: Value, to: Value) {
    if from != to {
        changes.insert(field.to_owned(), json!({ "from": from, "to": to }));
    }
}

fn check_version(task: &tasks::Model, expected: Option<i32>) -> Result<(), AppError> {
    match expected {
        Some(e) if e != task.version => Err(AppError::StaleVersion { expected: e, current: task.version }),
        _ => Ok(()),
    }
}

/// Applies the fields of `active` with `version = version + 1` only if the row is still at `task.version`.
async fn save_versioned(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    task: &tasks::Model,
    mut active: tasks::ActiveModel,
) -> Result<tasks::Model, AppError> {
    active.version = Set(task.version + 1);
    active.updated_at = Set(entities::now());
    let result = scope
        .update_many::<tasks::Entity>()
        .set(active)
        .filter(tasks::Column::Id.eq(task.id))
        .filter(tasks::Column::Version.eq(task.version))
        .exec(tx)
        .await?;
    let fresh = scope
        .find::<tasks::Entity>()
        .filter(tasks::Column::Id.eq(task.id))
        .one(tx)
        .await?
        .ok_or(AppError::NotFound("task_not_found"))?;
    if result.rows_affected == 0 {
        return Err(AppError::StaleVersion { expected: task.version, current: fresh.version });
    }
    Ok(fresh)
}

/// Whether a task being written may be a deleted one.
enum Liveness {
    MustBeLive,
    Either,
}

/// The task a write targets, after the checks every task write shares: visible, the actor may write tasks, the
/// project is not archived, the task is live (unless `liveness` says otherwise) and at `expected_version`.
async fn writable(
    db: &impl ConnectionTrait,
    scope: &Scope,
    reference: &str,
    expected_version: Option<i32>,
    liveness: Liveness,
) -> Result<(LinkedTask, projects::Model), AppError> {
    let (linked, project) = find_linked(db, scope, reference).await?;
    require(scope, Permission::WriteTasks)?;
    ensure_not_archived(&project)?;
    if matches!(liveness, Liveness::MustBeLive) && linked.task.deleted_at.is_some() {
        return Err(AppError::conflict("task_deleted", "the task is deleted; restore it first"));
    }
    check_version(&linked.task, expected_version)?;
    Ok((linked, project))
}

/// The category whose first entry starts a task's cycle time.
const STARTED: &str = "started";

/// Sets `started_at` the first time `task` enters a status of the `started` category; it is never moved later,
/// so a task sent back to the backlog and started again keeps its first start.
fn mark_started(active: &mut tasks::ActiveModel, task: &tasks::Model, category: &str) {
    if category == STARTED && task.started_at.is_none() {
        active.started_at = Set(Some(entities::now()));
    }
}

/// The new `completed_at` when `task` moves into a status of `category`: set on entering completed/cancelled,
/// cleared on leaving them, `None` when it stays as it is.
fn completion_change(task: &tasks::Model, category: &str) -> Option<Option<DateTime<Utc>>> {
    match (is_done(category), task.completed_at.is_some()) {
        (true, false) => Some(Some(entities::now())),
        (false, true) => Some(None),
        _ => None,
    }
}

/// Updates a task with merge-patch semantics; `expected_version` comes from `If-Match`.
pub async fn update(
    db: &DatabaseConnection,
    scope: &Scope,
    reference: &str,
    expected_version: Option<i32>,
    patch: TaskPatch,
) -> Result<TaskView, AppError> {
    let (linked, project) = writable(db, scope, reference, expected_version, Liveness::MustBeLive).await?;
    let task = linked.task.clone();
    let before = TaskView::of(linked, project.key.clone());
    let mut v = Validator::new();
    let mut active: tasks::ActiveModel = Default::default();
    let mut changes = Map::new();
    if let Some(title) = &patch.title {
        let title = text_field(&mut v, "title", title, 500);
        change(&mut changes, "title", json!(task.title), json!(title));
        active.title = Set(title);
    }
    if let Some(description) = patch.description {
        let d = description.unwrap_or_default();
        v.check(d.chars().count() <= MAX_DESCRIPTION_CHARS, "description", "is too long (100000 characters)");
        if d != task.description {
            changes.insert("description".into(), json!({ "changed": true }));
        }
        active.description = Set(d);
    }
    if let Some(p) = &patch.priority {
        match Priority::parse(p) {
            Some(p) => {
                change(
                    &mut changes,
                    "priority",
                    json!(Priority::name_of(task.priority)),
                    json!(Priority::name_of(p as i16)),
                );
                active.priority = Set(p as i16);
            }
            None => v.push("priority", "must be one of none, low, medium, high, urgent"),
        }
    }
    if let Some(status_id) = patch.status_id {
        let statuses = statuses_of(db, scope, project.id).await?;
        match statuses.iter().find(|s| s.id == status_id) {
            Some(s) if s.id != task.status_id => {
                change(&mut changes, "status_id", json!(task.status_id), json!(s.id));
                active.status_id = Set(s.id);
                active.position = Set(end_of_column(db, scope, project.id, s.id).await?);
                if let Some(completed_at) = completion_change(&task, &s.category) {
                    active.completed_at = Set(completed_at);
                }
                mark_started(&mut active, &task, &s.category);
            }
            Some(_) => {}
            None => v.push("status_id", "is not a status of this project"),
        }
    }
    let (old_start, old_due) = (task.start_at.map(entities::utc), task.due_at.map(entities::utc));
    let start = patch.start_at.unwrap_or(old_start).map(truncate);
    let due = patch.due_at.unwrap_or(old_due).map(truncate);
    if patch.start_at.is_some() {
        change(&mut changes, "start_at", json!(old_start), json!(start));
        active.start_at = Set(start.map(entities::far_date));
    }
    if patch.due_at.is_some() {
        change(&mut changes, "due_at", json!(old_due), json!(due));
        active.due_at = Set(due.map(entities::far_date));
    }
    check_dates(&mut v, start, due);
    if let Some(estimate) = patch.estimate {
        check_estimate(&mut v, estimate);
        change(&mut changes, "estimate", json!(task.estimate), json!(estimate));
        active.estimate = Set(estimate);
    }
    if let Some(parent) = patch.parent_id {
        if let Some(p) = parent {
            check_parent(db, scope, project.id, p, Some(task.id), &mut v).await?;
        }
        change(&mut changes, "parent_id", json!(task.parent_id), json!(parent));
        active.parent_id = Set(parent);
    }
    let assignees = patch.assignee_ids.as_deref().map(dedup);
    let label_ids = patch.label_ids.as_deref().map(dedup);
    // New links are compared with the link tables, the record, rather than with the copies `before` was read from;
    // only the kind of link being changed is read.
    let mut assigned = Vec::new();
    if let Some(ids) = &assignees {
        assigned = assignees_in_table(db, scope, task.id).await?;
        check_assignees(db, scope, &project, ids, &mut v).await?;
        change(&mut changes, "assignee_ids", json!(assigned), json!(sorted(ids)));
    }
    if let Some(ids) = &label_ids {
        let labelled = labels_in_table(db, scope, task.id).await?;
        check_labels(db, scope, project.id, ids, &mut v).await?;
        change(&mut changes, "label_ids", json!(labelled), json!(sorted(ids)));
    }
    v.finish()?;
    if changes.is_empty() {
        return Ok(before);
    }
    let tx = entities::begin_write(db).await?;
    let (linking, labelling) = (assignees.as_deref().unwrap_or_default(), label_ids.as_deref().unwrap_or_default());
    lock_link_targets(&tx, scope, project.id, linking, labelling).await?;
    let saved = save_versioned(&tx, scope, &task, active).await?;
    if saved.status_id != task.status_id {
        sync_assignee_status(&tx, scope, &saved).await?;
    }
    if let Some(ids) = &assignees {
        set_assignees(&tx, scope, &saved, ids).await?;
        let added: Vec<Uuid> = ids.iter().filter(|id| !assigned.contains(id)).copied().collect();
        add_watchers(&tx, scope, task.id, &added).await?;
    }
    if let Some(ids) = &label_ids {
        set_labels(&tx, scope, task.id, ids).await?;
    }
    if assignees.is_some() || label_ids.is_some() {
        link_copies::refresh(&tx, scope.org_id(), &[task.id]).await?;
    }
    if due != old_due {
        super::reminders::due_date_moved(&tx, scope, task.id, due, entities::now()).await?;
    }
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "task.updated",
            entity_type: "task",
            entity_id: task.id,
            payload: json!({ "key": before.key(), "version": saved.version, "changes": changes }),
        },
    )
    .await?;
    let after = view(&tx, scope, saved, &project).await?;
    tx.commit().await?;
    Ok(after)
}

fn sorted(ids: &[Uuid]) -> Vec<Uuid> {
    let mut v = ids.to_vec();
    v.sort();
    v
}

/// Soft-deletes (`deleted = true`) or restores a task.
pub async fn set_deleted(
    db: &DatabaseConnection,
    scope: &Scope,
    reference: &str,
    expected_version: Option<i32>,
    deleted: bool,
) -> Result<TaskView, AppError> {
    let (linked, project) = writable(db, scope, reference, expected_version, Liveness::Either).await?;
    if linked.task.deleted_at.is_some() == deleted {
        return Ok(TaskView::of(linked, project.key));
    }
    let task = linked.task;
    let tx = entities::begin_write(db).await?;
    let active = tasks::ActiveModel { deleted_at: Set(deleted.then(entities::now)), ..Default::default() };
    let saved = save_versioned(&tx, scope, &task, active).await?;
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: if deleted { "task.deleted" } else { "task.restored" },
            entity_type: "task",
            entity_id: task.id,
            payload: json!({ "key": format!("{}-{}", project.key, task.number), "version": saved.version }),
        },
    )
    .await?;
    let after = view(&tx, scope, saved, &project).await?;
    tx.commit().await?;
    Ok(after)
}

/// A board move: into `status_id`, between `after_id` (the card above) and `before_id` (the card below).
#[derive(Debug)]
pub struct Move {
    pub status_id: Uuid,
    pub after_id: Option<Uuid>,
    pub before_id: Option<Uuid>,
    /// The version the client saw; a stale one is refused with 412.
    pub version: i32,
}

/// Moves a task on the board without renumbering the column (the new position bisects its neighbours' gap).
pub async fn move_on_board(
    db: &DatabaseConnection,
    scope: &Scope,
    reference: &str,
    mv: Move,
) -> Result<TaskView, AppError> {
    let (LinkedTask { task, .. }, project) =
        writable(db, scope, reference, Some(mv.version), Liveness::MustBeLive).await?;
    let mut v = Validator::new();
    let statuses = statuses_of(db, scope, project.id).await?;
    let status = statuses.iter().find(|s| s.id == mv.status_id).cloned();
    if status.is_none() {
        v.push("status_id", "is not a status of this project");
    }
    let after = neighbour(db, scope, &task, mv.status_id, mv.after_id, "after_id", &mut v).await?;
    let before = neighbour(db, scope, &task, mv.status_id, mv.before_id, "before_id", &mut v).await?;
    if let (Some(a), Some(b)) = (&after, &before) {
        v.check(a.position < b.position, "before_id", "must be below after_id in the column");
    }
    v.finish()?;
    let status = status.expect("validated");
    let tx = entities::begin_write(db).await?;
    let mut position = match (&after, &before) {
        (Some(a), Some(b)) => (a.position + b.position) / 2.0,
        (Some(a), None) => a.position + POSITION_STEP,
        (None, Some(b)) => b.position - POSITION_STEP,
        (None, None) => end_of_column(&tx, scope, project.id, status.id).await?,
    };
    if let (Some(a), Some(b)) = (&after, &before) {
        if b.position - a.position < MIN_GAP {
            // The gap is exhausted: renumber this column once, then place the card between its neighbours.
            position = renumber_column(&tx, scope, project.id, status.id, a.id).await?;
        }
    }
    let mut active = tasks::ActiveModel { status_id: Set(status.id), position: Set(position), ..Default::default() };
    if status.id != task.status_id {
        if let Some(completed_at) = completion_change(&task, &status.category) {
            active.completed_at = Set(completed_at);
        }
        mark_started(&mut active, &task, &status.category);
    }
    let saved = save_versioned(&tx, scope, &task, active).await?;
    if saved.status_id != task.status_id {
        sync_assignee_status(&tx, scope, &saved).await?;
    }
    let mut changes = Map::new();
    change(&mut changes, "status_id", json!(task.status_id), json!(status.id));
    change(&mut changes, "position", json!(task.position), json!(position));
    outbox::record(
        &tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type: "task.moved",
            entity_type: "task",
            entity_id: task.id,
            payload: json!({ "key": format!("{}-{}", project.key, task.number), "version": saved.version, "changes": changes }),
        },
    )
    .await?;
    let after_view = view(&tx, scope, saved, &project).await?;
    tx.commit().await?;
    Ok(after_view)
}

/// The card `id` that a move places `task` next to, which must be another live task of the target column; a
/// missing or misplaced card is reported on `field`.
async fn neighbour(
    db: &impl ConnectionTrait,
    scope: &Scope,
    task: &tasks::Model,
    status_id: Uuid,
    id: Option<Uuid>,
    field: &str,
    v: &mut Validator,
) -> Result<Option<tasks::Model>, AppError> {
    let Some(id) = id else {
        return Ok(None);
    };
    let found = scope
        .find::<tasks::Entity>()
        .filter(tasks::Column::Id.eq(id))
        .filter(tasks::Column::ProjectId.eq(task.project_id))
        .filter(tasks::Column::StatusId.eq(status_id))
        .filter(tasks::Column::DeletedAt.is_null())
        .one(db)
        .await?;
    match found {
        Some(n) if n.id != task.id => Ok(Some(n)),
        _ => {
            v.push(field, "must be another task in the target column");
            Ok(None)
        }
    }
}

/// Spreads a column's positions evenly again and returns a free position right after `after_id`.
async fn renumber_column(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    project_id: Uuid,
    status_id: Uuid,
    after_id: Uuid,
) -> Result<f64, AppError> {
    let column = scope
        .find::<tasks::Entity>()
        .filter(tasks::Column::ProjectId.eq(project_id))
        .filter(tasks::Column::StatusId.eq(status_id))
        .order_by_asc(tasks::Column::Position)
        .order_by_asc(tasks::Column::Id)
        .all(tx)
        .await?;
    let mut slot = None;
    for (i, t) in column.iter().enumerate() {
        let p = (i as f64 + 1.0) * POSITION_STEP * 2.0;
        scope
            .update_many::<tasks::Entity>()
            .col_expr(tasks::Column::Position, Expr::value(p))
            .filter(tasks::Column::Id.eq(t.id))
            .exec(tx)
            .await?;
        if t.id == after_id {
            slot = Some(p + POSITION_STEP);
        }
    }
    slot.ok_or_else(|| AppError::Internal(anyhow::anyhow!("the card above vanished while renumbering")))
}
