//! `GET /orgs/{org_id}/stream`: the org's live updates as Server-Sent Events (see `domain::live_stream`).
//!
//! Each event is one SSE message whose `id` is its position, so a browser's `EventSource` resumes by itself with
//! `Last-Event-ID`; clients that cannot set headers may pass `last_event_id` instead. A comment line every
//! [`HEARTBEAT`] keeps proxies from closing an idle stream and lets the server notice a client that went away.
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use poem::web::sse::Event;
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::EventStream;
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;
use uuid::Uuid;

use super::activity_api::FieldChange;
use super::ApiTags;
use crate::auth::schemes::Auth;
use crate::domain::activity;
use crate::domain::live_stream::{self, Position, StreamDeps, StreamItem, StreamRequest};
use crate::problem::ApiError;
use crate::state::AppState;

/// How often an idle stream sends a keep-alive comment.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// One live update. For task events `task` is the task as it is now (its board fields and `version`), so a board
/// applies the change without fetching; keep whichever copy of a task has the higher version.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LiveUpdate {
    /// The event id; absent on `stream.reset`.
    pub id: Option<Uuid>,
    /// Dotted event type, e.g. `task.moved`; `stream.reset` when more was missed than the stream replays: reload,
    /// then keep following.
    #[oai(rename = "type")]
    pub event_type: String,
    pub actor_id: Option<Uuid>,
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub occurred_at: Option<DateTime<Utc>>,
    /// What changed, for updates and moves: each field from → to.
    pub changes: Vec<FieldChange>,
    /// The event's full record.
    pub payload: Option<Value>,
    /// The task's board fields after the change (id, key, title, status_id, position, version, assignee_ids,
    /// label_ids, due_at, completed_at, deleted_at, …).
    pub task: Option<Value>,
}

impl LiveUpdate {
    fn reset() -> LiveUpdate {
        LiveUpdate {
            id: None,
            event_type: "stream.reset".into(),
            actor_id: None,
            entity_type: None,
            entity_id: None,
            project_id: None,
            task_id: None,
            occurred_at: None,
            changes: Vec::new(),
            payload: None,
            task: None,
        }
    }
}

impl From<StreamItem> for LiveUpdate {
    fn from(item: StreamItem) -> LiveUpdate {
        let StreamItem::Event(live) = item else {
            return LiveUpdate::reset();
        };
        let e = &live.event;
        let changes = activity::changes(e).into_iter().map(|(field, from, to)| FieldChange { field, from, to });
        LiveUpdate {
            id: Some(e.id),
            event_type: e.event_type.clone(),
            actor_id: e.actor_id,
            entity_type: Some(e.entity_type.clone()),
            entity_id: Some(e.entity_id),
            project_id: e.project_id,
            task_id: e.task_id,
            occurred_at: Some(e.occurred_at),
            changes: changes.collect(),
            payload: Some(e.payload.clone()),
            task: live.task.clone(),
        }
    }
}

/// The SSE message of an update: its position as the `id`, which the client sends back to resume.
fn to_sse(update: LiveUpdate) -> Event {
    let json = update.to_json_string();
    match (update.occurred_at, update.id) {
        (Some(at), Some(id)) => Event::message(json).id(Position::at(at, id).to_string()),
        _ => Event::message(json),
    }
}

type Items = futures_util::stream::BoxStream<'static, LiveUpdate>;

#[derive(ApiResponse)]
pub enum StreamResponse {
    /// The stream: one message per event, heartbeats as comments.
    #[oai(status = 200)]
    Ok(EventStream<Items>),
}

pub struct StreamApi;

#[OpenApi(tag = "ApiTags::Activity")]
impl StreamApi {
    /// Live updates of the org (or one project) as Server-Sent Events, resumable with Last-Event-ID
    #[oai(path = "/orgs/:org_id/stream", method = "get", operation_id = "streamOrgEvents")]
    async fn stream(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        /// Only events of this project.
        project_id: Query<Option<Uuid>>,
        /// Resume after this event (the `id` of the last message received); `EventSource` sends it by itself.
        #[oai(name = "Last-Event-ID")]
        last_event_id_header: Header<Option<String>>,
        /// The same as the `Last-Event-ID` header, for clients that cannot set headers.
        last_event_id: Query<Option<String>>,
    ) -> Result<StreamResponse, ApiError> {
        let deps = StreamDeps {
            db: state.db.clone(),
            cache: state.cache.clone(),
            events: state.events.clone(),
            bus: state.bus.clone(),
            analytics: state.analytics.clone(),
        };
        let request =
            StreamRequest { project_id: project_id.0, last_event_id: last_event_id_header.0.or(last_event_id.0) };
        let mut rx = live_stream::open(deps, auth.actor().clone(), org_id.0, request).await?;
        let updates = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(LiveUpdate::from);
        Ok(StreamResponse::Ok(EventStream::new(updates.boxed()).to_event(to_sse).keep_alive(HEARTBEAT)))
    }
}
