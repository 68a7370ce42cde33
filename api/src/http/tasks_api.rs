//! `/orgs/{org_id}/…/tasks*`: tasks, board moves, comments and watchers.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Serialize;
use uuid::Uuid;

use super::serde_body::{rfc3339, SerdeJson};
use super::types::{Created, NoContent};
use super::ApiTags;
use crate::auth::schemes::Auth;
use crate::domain::access::scope;
use crate::domain::comments::{self, CommentView};
use crate::domain::task_query::{self, ListParams};
use crate::domain::tasks::{self, Move, NewTask, TaskPatch, TaskView};
use crate::error::{AppError, Validator};
use crate::problem::ApiError;
use crate::state::AppState;

/// Task priority.
#[derive(Debug, Clone, Copy, Enum, Serialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum TaskPriority {
    None,
    Low,
    Medium,
    High,
    Urgent,
}

impl TaskPriority {
    fn from_rank(rank: i16) -> TaskPriority {
        match rank {
            1 => TaskPriority::Low,
            2 => TaskPriority::Medium,
            3 => TaskPriority::High,
            4 => TaskPriority::Urgent,
            _ => TaskPriority::None,
        }
    }
}

/// A task.
#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct Task {
    pub id: Uuid,
    /// Human key, e.g. `WEB-42`; usable wherever a task id is.
    pub key: String,
    pub number: i64,
    pub project_id: Uuid,
    pub title: String,
    /// Markdown.
    pub description: String,
    pub status_id: Uuid,
    pub priority: TaskPriority,
    pub assignee_ids: Vec<Uuid>,
    pub label_ids: Vec<Uuid>,
    #[serde(serialize_with = "rfc3339::option::serialize", skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::option::serialize", skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    /// Estimate in points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    /// Order within the board column (ascending).
    pub position: f64,
    /// Optimistic-concurrency version; also the ETag.
    pub version: i32,
    #[serde(serialize_with = "rfc3339::option::serialize", skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    #[serde(serialize_with = "rfc3339::option::serialize", skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl From<TaskView> for Task {
    fn from(v: TaskView) -> Self {
        let key = v.key();
        let t = v.task;
        Task {
            id: t.id,
            key,
            number: t.number,
            project_id: t.project_id,
            title: t.title,
            description: t.description,
            status_id: t.status_id,
            priority: TaskPriority::from_rank(t.priority),
            assignee_ids: v.assignee_ids,
            label_ids: v.label_ids,
            due_at: t.due_at.map(entities::utc),
            start_at: t.start_at.map(entities::utc),
            estimate: t.estimate,
            parent_id: t.parent_id,
            position: t.position,
            version: t.version,
            completed_at: t.completed_at,
            deleted: t.deleted_at.is_some(),
            deleted_at: t.deleted_at,
            created_by: t.created_by,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A page of tasks.
#[derive(Debug, Object, Serialize)]
#[oai(skip_serializing_if_is_none)]
pub struct TaskPage {
    pub items: Vec<Task>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// New task.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewTaskInput {
    /// 1–500 characters.
    pub title: String,
    /// Markdown, up to 100,000 characters.
    pub description: Option<String>,
    /// Defaults to the project's first `unstarted` status.
    pub status_id: Option<Uuid>,
    /// none, low, medium, high or urgent (default none).
    pub priority: Option<String>,
    /// Members who can see the project.
    #[oai(default)]
    pub assignee_ids: Vec<Uuid>,
    /// Labels of the project.
    #[oai(default)]
    pub label_ids: Vec<Uuid>,
    pub due_at: Option<DateTime<Utc>>,
    pub start_at: Option<DateTime<Utc>>,
    pub estimate: Option<i32>,
    /// A task of the same project.
    pub parent_id: Option<Uuid>,
}

/// JSON merge patch of a task: absent fields stay, `null` clears a nullable field, arrays replace the whole set.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TaskPatchInput {
    pub title: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub status_id: MaybeUndefined<Uuid>,
    /// none, low, medium, high or urgent.
    pub priority: MaybeUndefined<String>,
    pub assignee_ids: MaybeUndefined<Vec<Uuid>>,
    pub label_ids: MaybeUndefined<Vec<Uuid>>,
    pub due_at: MaybeUndefined<DateTime<Utc>>,
    pub start_at: MaybeUndefined<DateTime<Utc>>,
    pub estimate: MaybeUndefined<i32>,
    pub parent_id: MaybeUndefined<Uuid>,
}

/// Board move.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MoveInput {
    /// Target column.
    pub status_id: Uuid,
    /// The card that will be above this one (absent: top of the column unless `before_id` is given).
    pub after_id: Option<Uuid>,
    /// The card that will be below this one.
    pub before_id: Option<Uuid>,
    /// The task version the client saw; a stale version is refused with 412.
    pub version: i32,
}

/// A comment.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Comment {
    pub id: Uuid,
    pub task_id: Uuid,
    pub author_id: Uuid,
    /// Markdown; mention members as `@email`.
    pub body: String,
    /// Members mentioned in the body.
    pub mentions: Vec<Uuid>,
    pub edited: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CommentView> for Comment {
    fn from(v: CommentView) -> Self {
        let c = v.comment;
        Comment {
            id: c.id,
            task_id: c.task_id,
            author_id: c.author_id,
            body: c.body,
            mentions: v.mentions,
            edited: c.updated_at != c.created_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// Comment text.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CommentInput {
    pub body: String,
}

/// Watcher to add.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WatcherInput {
    pub user_id: Uuid,
}

/// A task with its ETag.
#[derive(ApiResponse)]
pub enum TaskResponse {
    /// The task.
    #[oai(status = 200)]
    Ok(SerdeJson<Task>, #[oai(header = "ETag")] String),
}

/// A created task with its ETag.
#[derive(ApiResponse)]
pub enum TaskCreated {
    /// Created.
    #[oai(status = 201)]
    Created(SerdeJson<Task>, #[oai(header = "ETag")] String),
}

fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

fn ok(view: TaskView) -> TaskResponse {
    let tag = etag(view.task.version);
    TaskResponse::Ok(SerdeJson(view.into()), tag)
}

/// The version named by an `If-Match` header: `"3"`, `W/"3"`, or `*`/absent for any.
fn expected_version(if_match: Option<&str>) -> Result<Option<i32>, AppError> {
    let Some(raw) = if_match.map(str::trim) else {
        return Ok(None);
    };
    if raw == "*" {
        return Ok(None);
    }
    let tag = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
    tag.parse().map(Some).map_err(|_| AppError::BadRequest {
        code: "invalid_if_match",
        detail: format!("If-Match must be an ETag returned by this API, such as \"3\"; got `{raw}`"),
    })
}

#[allow(clippy::too_many_arguments)]
fn list_params(
    project_id: Option<Uuid>,
    status: Vec<String>,
    status_category: Vec<String>,
    assignee: Option<String>,
    label: Vec<String>,
    priority: Vec<String>,
    due_before: Option<DateTime<Utc>>,
    due_after: Option<DateTime<Utc>>,
    overdue: Option<bool>,
    parent: Option<String>,
    q: Option<String>,
    deleted: Option<bool>,
    sort: Option<String>,
    limit: Option<u64>,
    cursor: Option<String>,
) -> ListParams {
    ListParams {
        project_id,
        status,
        status_category,
        assignee,
        label,
        priority,
        due_before,
        due_after,
        overdue,
        parent,
        q,
        deleted,
        sort,
        limit,
        cursor,
    }
}

pub struct TasksApi;

#[OpenApi(tag = "ApiTags::Tasks")]
impl TasksApi {
    /// Create a task (numbered per project, e.g. `WEB-42`)
    #[oai(path = "/orgs/:org_id/projects/:project_id/tasks", method = "post", operation_id = "createTask")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        /// Retrying with the same key and body replays the first response.
        #[oai(name = "Idempotency-Key")]
        _idempotency_key: Header<Option<String>>,
        body: Json<NewTaskInput>,
    ) -> Result<TaskCreated, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let b = body.0;
        let input = NewTask {
            title: b.title,
            description: b.description,
            status_id: b.status_id,
            priority: b.priority,
            assignee_ids: b.assignee_ids,
            label_ids: b.label_ids,
            due_at: b.due_at,
            start_at: b.start_at,
            estimate: b.estimate,
            parent_id: b.parent_id,
        };
        let view = tasks::create(&state.db, &s, project_id.0, input).await?;
        let tag = etag(view.task.version);
        Ok(TaskCreated::Created(SerdeJson(view.into()), tag))
    }

    /// List a project's tasks with filters, sorting and cursor pagination
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/orgs/:org_id/projects/:project_id/tasks", method = "get", operation_id = "listProjectTasks")]
    async fn list_project(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        /// Status ids (repeat or comma-separate).
        status: Query<Vec<String>>,
        /// Status categories: backlog, unstarted, started, completed, cancelled.
        status_category: Query<Vec<String>>,
        /// A user id, `me` or `none`.
        assignee: Query<Option<String>>,
        /// Label ids; a task must carry all of them.
        label: Query<Vec<String>>,
        /// Priorities: none, low, medium, high, urgent.
        priority: Query<Vec<String>>,
        due_before: Query<Option<DateTime<Utc>>>,
        due_after: Query<Option<DateTime<Utc>>>,
        /// Due in the past and not completed.
        overdue: Query<Option<bool>>,
        /// A task id (its subtasks) or `none` (top-level tasks).
        parent: Query<Option<String>>,
        /// Text in the title or description.
        q: Query<Option<String>>,
        /// List deleted tasks instead of live ones.
        deleted: Query<Option<bool>>,
        /// created, updated, due, priority or position; prefix `-` for descending. Default `-created`.
        sort: Query<Option<String>>,
        /// 1–200, default 50.
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<SerdeJson<TaskPage>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let params = list_params(
            Some(project_id.0),
            status.0,
            status_category.0,
            assignee.0,
            label.0,
            priority.0,
            due_before.0,
            due_after.0,
            overdue.0,
            parent.0,
            q.0,
            deleted.0,
            sort.0,
            limit.0,
            cursor.0,
        );
        let page = task_query::list(&state.db, &state.cache, &s, params).await?;
        Ok(SerdeJson(TaskPage {
            items: page.items.into_iter().map(Task::from).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// List tasks across the projects I can see (e.g. `assignee=me`)
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/orgs/:org_id/tasks", method = "get", operation_id = "listTasks")]
    async fn list_org(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Limit to one project.
        project_id: Query<Option<Uuid>>,
        /// Status ids (repeat or comma-separate).
        status: Query<Vec<String>>,
        /// Status categories: backlog, unstarted, started, completed, cancelled.
        status_category: Query<Vec<String>>,
        /// A user id, `me` or `none`.
        assignee: Query<Option<String>>,
        /// Label ids; a task must carry all of them.
        label: Query<Vec<String>>,
        /// Priorities: none, low, medium, high, urgent.
        priority: Query<Vec<String>>,
        due_before: Query<Option<DateTime<Utc>>>,
        due_after: Query<Option<DateTime<Utc>>>,
        /// Due in the past and not completed.
        overdue: Query<Option<bool>>,
        /// A task id (its subtasks) or `none` (top-level tasks).
        parent: Query<Option<String>>,
        /// Text in the title or description.
        q: Query<Option<String>>,
        /// List deleted tasks instead of live ones.
        deleted: Query<Option<bool>>,
        /// created, updated, due, priority or position; prefix `-` for descending. Default `-created`.
        sort: Query<Option<String>>,
        /// 1–200, default 50.
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<SerdeJson<TaskPage>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let params = list_params(
            project_id.0,
            status.0,
            status_category.0,
            assignee.0,
            label.0,
            priority.0,
            due_before.0,
            due_after.0,
            overdue.0,
            parent.0,
            q.0,
            deleted.0,
            sort.0,
            limit.0,
            cursor.0,
        );
        let page = task_query::list(&state.db, &state.cache, &s, params).await?;
        Ok(SerdeJson(TaskPage {
            items: page.items.into_iter().map(Task::from).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Get a task by id or key (`WEB-42`)
    #[oai(path = "/orgs/:org_id/tasks/:task", method = "get", operation_id = "getTask")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
    ) -> Result<TaskResponse, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(ok(tasks::get(&state.db, &s, &task.0).await?))
    }

    /// Update a task (JSON merge patch; `If-Match` guards against lost updates)
    #[oai(path = "/orgs/:org_id/tasks/:task", method = "patch", operation_id = "updateTask")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        /// The ETag the client saw; a stale one answers 412.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
        body: Json<TaskPatchInput>,
    ) -> Result<TaskResponse, ApiError> {
        let expected = expected_version(if_match.0.as_deref())?;
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let b = body.0;
        let mut v = Validator::new();
        for (field, is_null) in
            [("title", b.title.is_null()), ("status_id", b.status_id.is_null()), ("priority", b.priority.is_null())]
        {
            v.check(!is_null, field, "cannot be null");
        }
        v.finish()?;
        let patch = TaskPatch {
            title: b.title.take(),
            description: maybe(b.description),
            status_id: b.status_id.take(),
            priority: b.priority.take(),
            // null clears the whole set, like an empty array.
            assignee_ids: maybe(b.assignee_ids).map(Option::unwrap_or_default),
            label_ids: maybe(b.label_ids).map(Option::unwrap_or_default),
            due_at: maybe(b.due_at),
            start_at: maybe(b.start_at),
            estimate: maybe(b.estimate),
            parent_id: maybe(b.parent_id),
        };
        Ok(ok(tasks::update(&state.db, &s, &task.0, expected, patch).await?))
    }

    /// Delete a task (soft; restore with `POST …/restore`)
    #[oai(path = "/orgs/:org_id/tasks/:task", method = "delete", operation_id = "deleteTask")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        /// The ETag the client saw; a stale one answers 412.
        #[oai(name = "If-Match")]
        if_match: Header<Option<String>>,
    ) -> Result<NoContent, ApiError> {
        let expected = expected_version(if_match.0.as_deref())?;
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        tasks::set_deleted(&state.db, &s, &task.0, expected, true).await?;
        Ok(NoContent::Done)
    }

    /// Restore a deleted task
    #[oai(path = "/orgs/:org_id/tasks/:task/restore", method = "post", operation_id = "restoreTask")]
    async fn restore(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
    ) -> Result<TaskResponse, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(ok(tasks::set_deleted(&state.db, &s, &task.0, None, false).await?))
    }

    /// Move a task on the board: to a column, between two neighbours
    #[oai(path = "/orgs/:org_id/tasks/:task/move", method = "post", operation_id = "moveTask")]
    async fn move_task(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        body: Json<MoveInput>,
    ) -> Result<TaskResponse, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let b = body.0;
        let mv = Move { status_id: b.status_id, after_id: b.after_id, before_id: b.before_id, version: b.version };
        Ok(ok(tasks::move_on_board(&state.db, &s, &task.0, mv).await?))
    }

    /// List a task's comments, oldest first
    #[oai(path = "/orgs/:org_id/tasks/:task/comments", method = "get", operation_id = "listComments")]
    async fn comments(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
    ) -> Result<Json<Vec<Comment>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(comments::list(&state.db, &s, &task.0).await?.into_iter().map(Comment::from).collect()))
    }

    /// Comment on a task
    #[oai(path = "/orgs/:org_id/tasks/:task/comments", method = "post", operation_id = "createComment")]
    async fn comment(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        body: Json<CommentInput>,
    ) -> Result<Created<Comment>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Created::Created(Json(comments::create(&state.db, &s, &task.0, &body.body).await?.into())))
    }

    /// Edit my comment
    #[oai(path = "/orgs/:org_id/tasks/:task/comments/:comment_id", method = "patch", operation_id = "editComment")]
    async fn edit_comment(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        comment_id: Path<Uuid>,
        body: Json<CommentInput>,
    ) -> Result<Json<Comment>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(comments::edit(&state.db, &s, &task.0, comment_id.0, &body.body).await?.into()))
    }

    /// Delete my comment
    #[oai(path = "/orgs/:org_id/tasks/:task/comments/:comment_id", method = "delete", operation_id = "deleteComment")]
    async fn delete_comment(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        comment_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        comments::delete(&state.db, &s, &task.0, comment_id.0).await?;
        Ok(NoContent::Done)
    }

    /// List a task's watchers (user ids)
    #[oai(path = "/orgs/:org_id/tasks/:task/watchers", method = "get", operation_id = "listWatchers")]
    async fn watchers(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
    ) -> Result<Json<Vec<Uuid>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(comments::watchers_of(&state.db, &s, &task.0).await?))
    }

    /// Watch a task, or add a watcher
    #[oai(path = "/orgs/:org_id/tasks/:task/watchers", method = "post", operation_id = "addWatcher")]
    async fn watch(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        body: Json<WatcherInput>,
    ) -> Result<Json<Vec<Uuid>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(comments::watch(&state.db, &s, &task.0, body.user_id).await?))
    }

    /// Stop watching a task, or remove a watcher
    #[oai(path = "/orgs/:org_id/tasks/:task/watchers/:user_id", method = "delete", operation_id = "removeWatcher")]
    async fn unwatch(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        user_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        comments::unwatch(&state.db, &s, &task.0, user_id.0).await?;
        Ok(NoContent::Done)
    }
}

/// Merge-patch value of a nullable field: absent → keep, null → clear, value → set.
fn maybe<T>(m: MaybeUndefined<T>) -> Option<Option<T>> {
    match m {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use poem_openapi::types::ToJSON;

    use super::*;

    fn task(full: bool) -> Task {
        let at = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap() + chrono::Duration::microseconds(123_456);
        let some = |v| if full { Some(v) } else { None };
        Task {
            id: Uuid::now_v7(),
            key: "WEB-42".into(),
            number: 42,
            project_id: Uuid::now_v7(),
            title: "Ship \"it\" — ünïcode\n".into(),
            description: "".into(),
            status_id: Uuid::now_v7(),
            priority: TaskPriority::Urgent,
            assignee_ids: if full { vec![Uuid::now_v7(), Uuid::now_v7()] } else { vec![] },
            label_ids: vec![Uuid::now_v7()],
            due_at: some(at),
            start_at: some(at),
            estimate: full.then_some(5),
            parent_id: full.then(Uuid::now_v7),
            position: 1536.25,
            version: 3,
            completed_at: some(at),
            deleted: full,
            deleted_at: some(at),
            created_by: Uuid::now_v7(),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn serde_writes_tasks_as_the_spec_describes_them() {
        for full in [true, false] {
            let page = TaskPage { items: vec![task(full)], next_cursor: full.then(|| "abc".to_owned()) };
            assert_eq!(serde_json::to_value(&page).unwrap(), page.to_json().unwrap(), "full: {full}");
        }
    }
}
