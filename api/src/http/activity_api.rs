//! `/orgs/{org_id}/activity*` and the per-project, per-task and per-member feeds, plus their export.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, ResponseContent};
use serde_json::Value;
use uuid::Uuid;

use super::ApiTags;
use crate::auth::schemes::Auth;
use crate::domain::access::scope;
use crate::domain::activity::{self, FeedRef, Filters};
use crate::problem::ApiError;
use crate::state::AppState;
use platform::events::ActivityEvent;
use platform::spreadsheet_text::defuse;

/// One field's change in an update.
#[derive(Debug, Object)]
pub struct FieldChange {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// Something that happened.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ActivityItem {
    pub id: Uuid,
    /// Dotted event type, e.g. `task.updated`.
    #[oai(rename = "type")]
    pub event_type: String,
    /// Absent for the system's own events (scan verdicts, reminders firing).
    pub actor_id: Option<Uuid>,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub project_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    /// What changed, for updates: each field from → to.
    pub changes: Vec<FieldChange>,
    /// The event's full record.
    pub payload: Value,
}

impl From<ActivityEvent> for ActivityItem {
    fn from(e: ActivityEvent) -> Self {
        let changes =
            activity::changes(&e).into_iter().map(|(field, from, to)| FieldChange { field, from, to }).collect();
        ActivityItem {
            id: e.id,
            event_type: e.event_type,
            actor_id: e.actor_id,
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            project_id: e.project_id,
            task_id: e.task_id,
            occurred_at: e.occurred_at,
            changes,
            payload: e.payload,
        }
    }
}

/// A page of a feed, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ActivityPage {
    pub items: Vec<ActivityItem>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An export in the asked format.
#[derive(ResponseContent)]
pub enum ExportBody {
    #[oai(content_type = "text/csv")]
    Csv(PlainText<String>),
    #[oai(content_type = "application/x-ndjson")]
    Ndjson(PlainText<String>),
}

#[derive(ApiResponse)]
pub enum Export {
    /// The events, newest first.
    #[oai(status = 200)]
    Ok(ExportBody, #[oai(header = "Content-Disposition")] String),
}

/// The most events one export holds.
pub const EXPORT_MAX_EVENTS: usize = 10_000;

fn filters(
    event_type: Query<Vec<String>>,
    actor: Query<Option<Uuid>>,
    since: Query<Option<DateTime<Utc>>>,
    until: Query<Option<DateTime<Utc>>>,
    limit: Query<Option<u32>>,
    cursor: Query<Option<String>>,
) -> Filters {
    Filters {
        event_types: event_type.0,
        actor_id: actor.0,
        since: since.0,
        until: until.0,
        limit: limit.0,
        cursor: cursor.0,
    }
}

async fn page(
    state: &AppState,
    auth: &Auth,
    org_id: Uuid,
    which: FeedRef,
    f: Filters,
) -> Result<Json<ActivityPage>, ApiError> {
    let s = scope(&state.db, &state.cache, auth.actor(), org_id).await?;
    let page = activity::feed(&state.db, state.events.as_ref(), &s, which, f).await?;
    Ok(Json(ActivityPage {
        items: page.events.into_iter().map(ActivityItem::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

pub struct ActivityApi;

#[OpenApi(tag = "ApiTags::Activity")]
impl ActivityApi {
    /// The org's activity feed (events of projects the caller can see)
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/orgs/:org_id/activity", method = "get", operation_id = "listOrgActivity")]
    async fn org_feed(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Only these event types, e.g. `task.updated` (repeatable).
        #[oai(name = "type")]
        event_type: Query<Vec<String>>,
        /// Only events by this member.
        actor: Query<Option<Uuid>>,
        /// Only events at or after this time.
        since: Query<Option<DateTime<Utc>>>,
        /// Only events before this time.
        until: Query<Option<DateTime<Utc>>>,
        /// 1–200, default 50.
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ActivityPage>, ApiError> {
        page(&state, &auth, org_id.0, FeedRef::Org, filters(event_type, actor, since, until, limit, cursor)).await
    }

    /// A project's activity feed
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/orgs/:org_id/projects/:project_id/activity", method = "get", operation_id = "listProjectActivity")]
    async fn project_feed(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        #[oai(name = "type")] event_type: Query<Vec<String>>,
        actor: Query<Option<Uuid>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ActivityPage>, ApiError> {
        let f = filters(event_type, actor, since, until, limit, cursor);
        page(&state, &auth, org_id.0, FeedRef::Project(project_id.0), f).await
    }

    /// A task's full history, with each change from → to
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/orgs/:org_id/tasks/:task/activity", method = "get", operation_id = "listTaskActivity")]
    async fn task_feed(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        #[oai(name = "type")] event_type: Query<Vec<String>>,
        actor: Query<Option<Uuid>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ActivityPage>, ApiError> {
        let f = filters(event_type, actor, since, until, limit, cursor);
        page(&state, &auth, org_id.0, FeedRef::Task(task.0), f).await
    }

    /// What one member did (in projects the caller can see)
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/orgs/:org_id/members/:user_id/activity", method = "get", operation_id = "listMemberActivity")]
    async fn member_feed(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        user_id: Path<Uuid>,
        #[oai(name = "type")] event_type: Query<Vec<String>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
        limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<ActivityPage>, ApiError> {
        let f = filters(event_type, Query(None), since, until, limit, cursor);
        page(&state, &auth, org_id.0, FeedRef::User(user_id.0), f).await
    }

    /// Export the org's feed as CSV or NDJSON (newest first, at most 10,000 events)
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/orgs/:org_id/activity/export", method = "get", operation_id = "exportOrgActivity")]
    async fn export(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        /// `csv` or `ndjson`.
        format: Query<String>,
        #[oai(name = "type")] event_type: Query<Vec<String>>,
        actor: Query<Option<Uuid>>,
        since: Query<Option<DateTime<Utc>>>,
        until: Query<Option<DateTime<Utc>>>,
    ) -> Result<Export, ApiError> {
        let csv = match format.0.as_str() {
            "csv" => true,
            "ndjson" => false,
            _ => return Err(crate::error::AppError::invalid("format", "must be csv or ndjson").into()),
        };
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let mut f = filters(event_type, actor, since, until, Query(Some(activity::MAX_LIMIT)), Query(None));
        let mut events = Vec::new();
        loop {
            let page = activity::feed(&state.db, state.events.as_ref(), &s, FeedRef::Org, f.clone()).await?;
            events.extend(page.events);
            match page.next_cursor {
                Some(next) if events.len() < EXPORT_MAX_EVENTS => f.cursor = Some(next),
                _ => break,
            }
        }
        events.truncate(EXPORT_MAX_EVENTS);
        let items: Vec<ActivityItem> = events.into_iter().map(ActivityItem::from).collect();
        let (body, ext) = if csv {
            (ExportBody::Csv(PlainText(activity_csv(&items))), "csv")
        } else {
            let lines: Vec<String> = items.iter().map(ndjson_line).collect();
            (ExportBody::Ndjson(PlainText(lines.join(""))), "ndjson")
        };
        Ok(Export::Ok(body, format!("attachment; filename=\"activity-{}.{ext}\"", org_id.0)))
    }
}

fn ndjson_line(i: &ActivityItem) -> String {
    let v = serde_json::json!({
        "id": i.id, "type": i.event_type, "actor_id": i.actor_id, "entity_type": i.entity_type,
        "entity_id": i.entity_id, "project_id": i.project_id, "task_id": i.task_id, "occurred_at": i.occurred_at,
        "payload": i.payload,
    });
    format!("{v}\n")
}

/// The export as CSV (RFC 4180 quoting by the `csv` crate; text defused against formula injection).
fn activity_csv(items: &[ActivityItem]) -> String {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let opt = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    let header = ["occurred_at", "type", "actor_id", "entity_type", "entity_id", "project_id", "task_id", "changes"];
    w.write_record(header).expect("writing to memory cannot fail");
    for i in items {
        let changes: Vec<String> = i.changes.iter().map(|c| format!("{}: {} → {}", c.field, c.from, c.to)).collect();
        let row = [
            i.occurred_at.to_rfc3339(),
            i.event_type.clone(),
            opt(i.actor_id),
            i.entity_type.clone(),
            i.entity_id.to_string(),
            opt(i.project_id),
            opt(i.task_id),
            changes.join("; "),
        ];
        w.write_record(row.iter().map(|v| defuse(v))).expect("writing to memory cannot fail");
    }
    let bytes = w.into_inner().expect("flushing to memory cannot fail");
    String::from_utf8(bytes).expect("every cell is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let item = ActivityItem {
            id: Uuid::nil(),
            event_type: "=HYPERLINK(\"x\")".into(),
            actor_id: None,
            entity_type: "task".into(),
            entity_id: Uuid::nil(),
            project_id: None,
            task_id: None,
            occurred_at: "2026-11-25T10:00:00Z".parse().unwrap(),
            changes: vec![FieldChange { field: "title".into(), from: Value::from("a, \"b\""), to: Value::from("c") }],
            payload: Value::Null,
        };
        let text = activity_csv(&[item]);
        let rows: Vec<csv::StringRecord> =
            csv::Reader::from_reader(text.as_bytes()).records().collect::<Result<_, _>>().unwrap();
        assert_eq!(&rows[0][1], "'=HYPERLINK(\"x\")");
        assert_eq!(&rows[0][7], "title: \"a, \\\"b\\\"\" → \"c\"");
    }
}
