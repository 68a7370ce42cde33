//! Activity feeds over the event store (`platform::events`): the org's feed, a project's, a task's full history and
//! a member's, with type, actor and time filters and cursor pagination, plus CSV / NDJSON export.
//!
//! The store holds every event of the org; what an actor may read is decided here. A project or task feed needs the
//! project to be visible (else 404, as everywhere). The org and member feeds drop events of projects the actor cannot
//! see, and guests see only events of their own projects. Filtering after the store's page can return a short page;
//! `next_cursor` still continues where the store stopped, so paging never skips or repeats an event.
use chrono::{DateTime, Utc};
use entities::Scope;
use platform::events::{ActivityEvent, EventStore, EventStoreError, Feed, FeedPage, FeedQuery};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::project_access::{visible_project, visible_project_ids};
use super::tasks::find;
use crate::error::AppError;

/// Filters every feed accepts.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub event_types: Vec<String>,
    pub actor_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// Which feed the request names, before access checks.
#[derive(Debug, Clone)]
pub enum FeedRef {
    Org,
    Project(Uuid),
    /// A task id or key like `WEB-42`.
    Task(String),
    User(Uuid),
}

pub(crate) fn store_error(e: EventStoreError) -> AppError {
    match e {
        EventStoreError::BadCursor => {
            AppError::BadRequest { code: "invalid_cursor", detail: "the cursor is not valid".into() }
        }
        EventStoreError::InvalidQuery(why) => AppError::invalid("query", why),
        e if e.is_transient() => AppError::Unavailable {
            code: "activity_unavailable",
            detail: format!("the activity log is unavailable: {e}"),
        },
        e => AppError::Internal(anyhow::anyhow!(e).context("reading the activity log")),
    }
}

/// One page of a feed as the actor may see it.
pub async fn feed(
    db: &impl ConnectionTrait,
    store: &dyn EventStore,
    scope: &Scope,
    which: FeedRef,
    filters: Filters,
) -> Result<FeedPage, AppError> {
    let limit = filters.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 200"));
    }
    if let (Some(since), Some(until)) = (filters.since, filters.until) {
        if since >= until {
            return Err(AppError::invalid("since", "must be before until"));
        }
    }
    // Whole-feed access first; row-level visibility below for the feeds that span projects.
    let (feed, per_event_check) = match which {
        FeedRef::Org => (Feed::Org, true),
        FeedRef::User(user_id) => (Feed::User(user_id), true),
        FeedRef::Project(project_id) => {
            visible_project(db, scope, project_id).await?;
            (Feed::Project(project_id), false)
        }
        FeedRef::Task(task_ref) => {
            let (task, _) = find(db, scope, &task_ref).await?;
            (Feed::Task(task.id), false)
        }
    };
    let query = FeedQuery {
        feed,
        event_types: filters.event_types,
        actor_id: filters.actor_id,
        since: filters.since,
        until: filters.until,
        limit,
        cursor: filters.cursor,
    };
    let mut page = store.feed(scope.org_id(), &query).await.map_err(store_error)?;
    if per_event_check {
        let visible = visible_project_ids(db, scope).await?;
        let guest = scope.role() == entities::Role::Guest;
        page.events.retain(|e| sees(e, visible.as_deref(), guest));
    }
    Ok(page)
}

/// Whether an actor seeing `visible` projects (`None`: all) may read `event`.
pub(crate) fn sees(event: &ActivityEvent, visible: Option<&[Uuid]>, guest: bool) -> bool {
    match (event.project_id, visible) {
        (_, None) => true,
        (Some(project), Some(ids)) => ids.contains(&project),
        // Org-level events (renames, members) are for members, not guests.
        (None, Some(_)) => !guest,
    }
}

/// `{field, from, to}` of an update event's `changes`, in field order.
pub fn changes(event: &ActivityEvent) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    let Some(map) = event.payload.get("changes").and_then(|c| c.as_object()) else {
        return Vec::new();
    };
    map.iter()
        .map(|(field, change)| {
            let from = change.get("from").cloned().unwrap_or(serde_json::Value::Null);
            let to = change.get("to").cloned().unwrap_or(serde_json::Value::Null);
            (field.clone(), from, to)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(project_id: Option<Uuid>, payload: serde_json::Value) -> ActivityEvent {
        ActivityEvent {
            id: Uuid::now_v7(),
            org_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            event_type: "task.updated".into(),
            actor_id: None,
            entity_type: "task".into(),
            entity_id: Uuid::now_v7(),
            project_id,
            task_id: None,
            payload,
        }
    }

    #[test]
    fn visibility_follows_the_projects_and_guests_miss_org_events() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(sees(&event(Some(a), json!({})), Some(&[a]), true));
        assert!(!sees(&event(Some(b), json!({})), Some(&[a]), false));
        assert!(sees(&event(Some(b), json!({})), None, false));
        assert!(sees(&event(None, json!({})), Some(&[a]), false));
        assert!(!sees(&event(None, json!({})), Some(&[a]), true));
    }

    #[test]
    fn changes_list_each_field_from_and_to() {
        let e = event(
            None,
            json!({"changes": {"title": {"from": "a", "to": "b"}, "due_at": {"from": null, "to": "2026-12-01"}}}),
        );
        let c = changes(&e);
        assert_eq!(c.len(), 2);
        assert!(c.contains(&("title".into(), json!("a"), json!("b"))));
    }
}
