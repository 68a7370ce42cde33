//! Task lists: filters, sorts and keyset pagination over an org's tasks (optionally one project), limited to the
//! projects the actor sees. The cursor is opaque to clients: base64url JSON of the last row's sort key and id, so a
//! page costs an index range scan however deep the client pages.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use entities::tables::{statuses, task_assignees, task_labels, tasks};
use entities::Scope;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::project_access::{visible_project_gate, visible_project_ids};
use super::task_links::{with_links, LinkedTask};
use super::tasks::{project_keys, Priority, TaskView};
use crate::error::{AppError, Validator};
use crate::read_cache::ReadCache;

pub const MAX_LIMIT: u64 = 200;
pub const DEFAULT_LIMIT: u64 = 50;

/// Who a task must be assigned to.
#[derive(Debug, Clone, PartialEq)]
pub enum AssigneeFilter {
    Me,
    Nobody,
    User(Uuid),
}

/// Parent filter: top-level tasks only, or children of one task.
#[derive(Debug, Clone, PartialEq)]
pub enum ParentFilter {
    None,
    Task(Uuid),
}

/// Sort keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Created,
    Updated,
    Due,
    Priority,
    Position,
}

/// Raw list parameters as they come from the query string.
#[derive(Debug, Default, Clone)]
pub struct ListParams {
    pub project_id: Option<Uuid>,
    pub status: Vec<String>,
    pub status_category: Vec<String>,
    pub assignee: Option<String>,
    pub label: Vec<String>,
    pub priority: Vec<String>,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    pub overdue: Option<bool>,
    pub parent: Option<String>,
    pub q: Option<String>,
    pub deleted: Option<bool>,
    pub sort: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// One page of tasks.
pub struct Page {
    pub items: Vec<TaskView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// Sort key of the last row (`null` for a missing due date).
    k: serde_json::Value,
    id: Uuid,
}

const CATEGORIES: [&str; 5] = ["backlog", "unstarted", "started", "completed", "cancelled"];

fn parse_uuids(v: &mut Validator, field: &str, raw: &[String]) -> Vec<Uuid> {
    raw.iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .filter_map(|s| match s.trim().parse() {
            Ok(id) => Some(id),
            Err(_) => {
                v.push(field, format!("`{s}` is not an id"));
                None
            }
        })
        .collect()
}

fn split(raw: &[String]) -> Vec<String> {
    raw.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

fn parse_sort(v: &mut Validator, raw: Option<&str>) -> (SortKey, bool) {
    let raw = raw.unwrap_or("-created");
    let (desc, name) = match raw.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, raw),
    };
    let key = match name {
        "created" => SortKey::Created,
        "updated" => SortKey::Updated,
        "due" => SortKey::Due,
        "priority" => SortKey::Priority,
        "position" => SortKey::Position,
        _ => {
            v.push("sort", "must be created, updated, due, priority or position, optionally prefixed with -");
            SortKey::Created
        }
    };
    (key, desc)
}

fn sort_value(t: &tasks::Model, key: SortKey) -> serde_json::Value {
    match key {
        SortKey::Created => serde_json::Value::Null,
        SortKey::Updated => serde_json::json!(t.updated_at),
        SortKey::Due => serde_json::json!(t.due_at.map(entities::utc)),
        SortKey::Priority => serde_json::json!(t.priority),
        SortKey::Position => serde_json::json!(t.position),
    }
}

fn bad_cursor() -> AppError {
    AppError::invalid("cursor", "is not a cursor returned by this list")
}

/// `column > value` (or `<` when descending), built for a keyset seek.
fn beyond(col: tasks::Column, value: sea_orm::Value, desc: bool) -> Expr {
    if desc {
        Expr::col(col).lt(value)
    } else {
        Expr::col(col).gt(value)
    }
}

/// The seek condition for "rows after the cursor" in the order (key, id).
fn seek(key: SortKey, desc: bool, cursor: &Cursor) -> Result<Condition, AppError> {
    let id_after = beyond(tasks::Column::Id, cursor.id.into(), desc);
    let tie = |col: tasks::Column, value: sea_orm::Value| {
        Condition::any()
            .add(beyond(col, value.clone(), desc))
            .add(Condition::all().add(Expr::col(col).eq(value)).add(id_after.clone()))
    };
    Ok(match key {
        SortKey::Created => Condition::all().add(id_after),
        SortKey::Updated => {
            let t: DateTime<Utc> = serde_json::from_value(cursor.k.clone()).map_err(|_| bad_cursor())?;
            tie(tasks::Column::UpdatedAt, t.into())
        }
        SortKey::Priority => {
            let p: i16 = serde_json::from_value(cursor.k.clone()).map_err(|_| bad_cursor())?;
            tie(tasks::Column::Priority, p.into())
        }
        SortKey::Position => {
            let p: f64 = serde_json::from_value(cursor.k.clone()).map_err(|_| bad_cursor())?;
            tie(tasks::Column::Position, p.into())
        }
        SortKey::Due => {
            // Tasks without a due date come last in both directions.
            let due: Option<DateTime<Utc>> = serde_json::from_value(cursor.k.clone()).map_err(|_| bad_cursor())?;
            match due {
                Some(d) => tie(tasks::Column::DueAt, entities::far_date(d).into())
                    .add(Expr::col(tasks::Column::DueAt).is_null()),
                None => Condition::all().add(Expr::col(tasks::Column::DueAt).is_null()).add(id_after),
            }
        }
    })
}

/// `query` in list order: the sort key (tasks without a due date last), then the id as the tie-breaker.
fn sorted(query: Select<tasks::Entity>, sort: SortKey, desc: bool) -> Select<tasks::Entity> {
    let order = if desc { Order::Desc } else { Order::Asc };
    let query = match sort {
        SortKey::Created => query,
        SortKey::Updated => query.order_by(tasks::Column::UpdatedAt, order.clone()),
        SortKey::Priority => query.order_by(tasks::Column::Priority, order.clone()),
        SortKey::Position => query.order_by(tasks::Column::Position, order.clone()),
        SortKey::Due => query
            .order_by(Expr::col(tasks::Column::DueAt).is_null(), Order::Asc)
            .order_by(tasks::Column::DueAt, order.clone()),
    };
    query.order_by(tasks::Column::Id, order)
}

/// Lists tasks.
pub async fn list(
    db: &impl ConnectionTrait,
    cache: &ReadCache,
    scope: &Scope,
    params: ListParams,
) -> Result<Page, AppError> {
    let mut v = Validator::new();
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    v.check((1..=MAX_LIMIT).contains(&limit), "limit", "must be between 1 and 200");
    let status_ids = parse_uuids(&mut v, "status", &params.status);
    let label_ids = parse_uuids(&mut v, "label", &params.label);
    let categories = split(&params.status_category);
    for c in &categories {
        v.check(
            CATEGORIES.contains(&c.as_str()),
            "status_category",
            "must be backlog, unstarted, started, completed or cancelled",
        );
    }
    let mut priorities = Vec::new();
    for p in split(&params.priority) {
        match Priority::parse(&p) {
            Some(p) => priorities.push(p as i16),
            None => v.push("priority", "must be none, low, medium, high or urgent"),
        }
    }
    let assignee = match params.assignee.as_deref() {
        None => None,
        Some("me") => Some(AssigneeFilter::Me),
        Some("none") => Some(AssigneeFilter::Nobody),
        Some(s) => match s.parse() {
            Ok(id) => Some(AssigneeFilter::User(id)),
            Err(_) => {
                v.push("assignee", "must be a user id, `me` or `none`");
                None
            }
        },
    };
    let parent = match params.parent.as_deref() {
        None => None,
        Some("none") => Some(ParentFilter::None),
        Some(s) => match s.parse() {
            Ok(id) => Some(ParentFilter::Task(id)),
            Err(_) => {
                v.push("parent", "must be a task id or `none`");
                None
            }
        },
    };
    let (sort, desc) = parse_sort(&mut v, params.sort.as_deref());
    let cursor = match &params.cursor {
        None => None,
        Some(c) => match URL_SAFE_NO_PAD.decode(c).ok().and_then(|b| serde_json::from_slice::<Cursor>(&b).ok()) {
            Some(c) => Some(c),
            None => {
                v.push("cursor", "is not a cursor returned by this list");
                None
            }
        },
    };
    if let Some(q) = &params.q {
        v.check(q.chars().count() <= 200, "q", "must be at most 200 characters");
    }
    v.finish()?;

    let mut query = scope.find::<tasks::Entity>();
    let mut known_keys = std::collections::HashMap::new();
    match params.project_id {
        Some(p) => {
            let project = visible_project_gate(db, cache, scope, p).await?;
            known_keys.insert(p, project.key);
            query = query.filter(tasks::Column::ProjectId.eq(p));
        }
        None => {
            if let Some(ids) = visible_project_ids(db, scope).await? {
                query = query.filter(tasks::Column::ProjectId.is_in(ids));
            }
        }
    }
    query = if params.deleted.unwrap_or(false) {
        query.filter(tasks::Column::DeletedAt.is_not_null())
    } else {
        query.filter(tasks::Column::DeletedAt.is_null())
    };
    if !status_ids.is_empty() {
        query = query.filter(tasks::Column::StatusId.is_in(status_ids.clone()));
    }
    if !categories.is_empty() {
        let mut sub = Query::select();
        sub.column(statuses::Column::Id)
            .from(statuses::Entity)
            .and_where(statuses::Column::OrgId.eq(scope.org_id()))
            .and_where(statuses::Column::Category.is_in(categories));
        query = query.filter(tasks::Column::StatusId.in_subquery(sub));
    }
    let by_assignee = matches!(assignee, Some(AssigneeFilter::Me | AssigneeFilter::User(_)));
    if let Some(a) = assignee {
        let mut sub = Query::select();
        sub.column(task_assignees::Column::TaskId)
            .from(task_assignees::Entity)
            .and_where(task_assignees::Column::OrgId.eq(scope.org_id()));
        // Assignment rows carry their task's project and status (migration 000003): narrowing by them turns the
        // assignee filter into one short index range.
        let narrow = |sub: &mut sea_orm::sea_query::SelectStatement| {
            if let Some(p) = params.project_id {
                sub.and_where(task_assignees::Column::ProjectId.eq(p));
            }
            if !status_ids.is_empty() {
                sub.and_where(task_assignees::Column::StatusId.is_in(status_ids.clone()));
            }
        };
        match a {
            AssigneeFilter::Me => {
                sub.and_where(task_assignees::Column::UserId.eq(scope.user_id()));
                narrow(&mut sub);
                query = query.filter(tasks::Column::Id.in_subquery(sub));
            }
            AssigneeFilter::User(u) => {
                sub.and_where(task_assignees::Column::UserId.eq(u));
                narrow(&mut sub);
                query = query.filter(tasks::Column::Id.in_subquery(sub));
            }
            AssigneeFilter::Nobody => query = query.filter(tasks::Column::Id.not_in_subquery(sub)),
        }
    }
    for label in label_ids {
        let mut sub = Query::select();
        sub.column(task_labels::Column::TaskId)
            .from(task_labels::Entity)
            .and_where(task_labels::Column::OrgId.eq(scope.org_id()))
            .and_where(task_labels::Column::LabelId.eq(label));
        query = query.filter(tasks::Column::Id.in_subquery(sub));
    }
    if !priorities.is_empty() {
        query = query.filter(tasks::Column::Priority.is_in(priorities));
    }
    if let Some(t) = params.due_before {
        query = query.filter(tasks::Column::DueAt.lt(entities::far_date(t)));
    }
    if let Some(t) = params.due_after {
        query = query.filter(tasks::Column::DueAt.gte(entities::far_date(t)));
    }
    if let Some(overdue) = params.overdue {
        let now = entities::far_date(entities::now());
        query = if overdue {
            query.filter(tasks::Column::DueAt.lt(now)).filter(tasks::Column::CompletedAt.is_null())
        } else {
            query.filter(
                Condition::any()
                    .add(tasks::Column::DueAt.is_null())
                    .add(tasks::Column::DueAt.gte(now))
                    .add(tasks::Column::CompletedAt.is_not_null()),
            )
        };
    }
    match parent {
        Some(ParentFilter::None) => query = query.filter(tasks::Column::ParentId.is_null()),
        Some(ParentFilter::Task(id)) => query = query.filter(tasks::Column::ParentId.eq(id)),
        None => {}
    }
    if let Some(q) = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        query = query.filter(
            Condition::any()
                .add(Expr::col(tasks::Column::Title).like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')))
                .add(
                    Expr::col(tasks::Column::Description)
                        .like(sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\')),
                ),
        );
    }
    if let Some(c) = &cursor {
        query = query.filter(seek(sort, desc, c)?);
    }
    let page = if by_assignee {
        // The assignee's index yields the candidates (`task_assignees`, narrowed by project and status, in task id
        // order), and each candidate's row is read to check the other filters anyway: reading the page's rows
        // directly costs MariaDB less than picking their ids first (docs/performance.md, "Link copies").
        with_links(sorted(query, sort, desc).limit(limit + 1))
    } else {
        // A deferred join: the inner query picks the page's ids (filters, sort, limit), the outer one reads just
        // those rows. Asked for whole rows directly, MySQL reads the full row of every candidate (thousands) to sort
        // them; asked for ids, it answers from indexes alone (docs/performance.md). One statement, so one snapshot:
        // the result is the same. The derived table is needed because MySQL refuses LIMIT directly inside `IN (…)`.
        let page_ids = sorted(query.select_only().column(tasks::Column::Id), sort, desc).limit(limit + 1).into_query();
        let mut ids = Query::select();
        ids.column(tasks::Column::Id).from_subquery(page_ids, Alias::new("page"));
        sorted(with_links(scope.find::<tasks::Entity>().filter(tasks::Column::Id.in_subquery(ids))), sort, desc)
    };
    let mut rows = page.into_model::<LinkedTask>().all(db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        let last = &rows.last().expect("limit >= 1").task;
        let c = Cursor { k: sort_value(last, sort), id: last.id };
        Some(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).expect("cursor serialises")))
    } else {
        None
    };
    // A project's list already knows its key; the org-wide list looks the keys up.
    if known_keys.is_empty() {
        known_keys = project_keys(db, scope, rows.iter().map(|r| r.task.project_id).collect()).await?;
    }
    let items = rows
        .into_iter()
        .map(|r| {
            let key = known_keys.get(&r.task.project_id).cloned().unwrap_or_default();
            TaskView::of(r, key)
        })
        .collect();
    Ok(Page { items, next_cursor })
}
