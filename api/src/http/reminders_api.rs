//! `/orgs/{org_id}/tasks/{task}/reminders*`: reminders on a task.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::types::{Created, NoContent};
use super::ApiTags;
use crate::auth::schemes::Auth;
use crate::domain::access::scope;
use crate::domain::reminders::{self, NewReminder, ReminderPatch, ReminderView};
use crate::problem::ApiError;
use crate::state::AppState;

/// A reminder on a task.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Reminder {
    pub id: Uuid,
    pub task_id: Uuid,
    pub created_by: Uuid,
    /// Absolute time; absent for a reminder relative to the due date.
    pub remind_at: Option<DateTime<Utc>>,
    /// Minutes before the task's due date; absent for an absolute reminder.
    pub offset_minutes: Option<i32>,
    /// Who is reminded; absent means the task's assignees at the time it fires.
    pub recipients: Option<Vec<Uuid>>,
    pub note: Option<String>,
    /// When it fires next; absent while a relative reminder's task has no due date.
    pub fire_at: Option<DateTime<Utc>>,
    /// When it last fired; cleared when a new time re-arms it.
    pub fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ReminderView> for Reminder {
    fn from(v: ReminderView) -> Self {
        let r = v.reminder;
        Reminder {
            id: r.id,
            task_id: r.task_id,
            created_by: r.created_by,
            remind_at: r.remind_at.map(entities::utc),
            offset_minutes: r.offset_minutes,
            recipients: v.recipients,
            note: r.note,
            fire_at: r.fire_at.map(entities::utc),
            fired_at: r.fired_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// New reminder: exactly one of `remind_at` and `offset_minutes`.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewReminderInput {
    /// A time in the future.
    pub remind_at: Option<DateTime<Utc>>,
    /// 0–86400 minutes (60 days) before the task's due date.
    pub offset_minutes: Option<i32>,
    /// Members who can see the project; absent or null means the task's assignees when it fires. Guests may only
    /// remind themselves.
    pub recipients: Option<Vec<Uuid>>,
    /// Up to 1,000 characters, shown with the reminder.
    pub note: Option<String>,
}

/// JSON merge patch of a reminder. Setting `remind_at` alone makes it absolute, `offset_minutes` alone relative; a
/// new time re-arms a reminder that already fired.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReminderPatchInput {
    pub remind_at: MaybeUndefined<DateTime<Utc>>,
    pub offset_minutes: MaybeUndefined<i32>,
    /// null: the task's assignees.
    pub recipients: MaybeUndefined<Vec<Uuid>>,
    pub note: MaybeUndefined<String>,
}

/// Merge-patch value of a nullable field: absent → keep, null → clear, value → set.
fn maybe<T>(m: MaybeUndefined<T>) -> Option<Option<T>> {
    match m {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

pub struct RemindersApi;

#[OpenApi(tag = "ApiTags::Tasks")]
impl RemindersApi {
    /// List a task's reminders, oldest first
    #[oai(path = "/orgs/:org_id/tasks/:task/reminders", method = "get", operation_id = "listReminders")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
    ) -> Result<Json<Vec<Reminder>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(reminders::list(&state.db, &s, &task.0).await?.into_iter().map(Reminder::from).collect()))
    }

    /// Add a reminder to a task
    #[oai(path = "/orgs/:org_id/tasks/:task/reminders", method = "post", operation_id = "createReminder")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        body: Json<NewReminderInput>,
    ) -> Result<Created<Reminder>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let b = body.0;
        let input = NewReminder {
            remind_at: b.remind_at,
            offset_minutes: b.offset_minutes,
            recipients: b.recipients,
            note: b.note,
        };
        Ok(Created::Created(Json(reminders::create(&state.db, &s, &task.0, input).await?.into())))
    }

    /// Change a reminder (JSON merge patch)
    #[oai(path = "/orgs/:org_id/tasks/:task/reminders/:reminder_id", method = "patch", operation_id = "updateReminder")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        reminder_id: Path<Uuid>,
        body: Json<ReminderPatchInput>,
    ) -> Result<Json<Reminder>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let b = body.0;
        let patch = ReminderPatch {
            remind_at: maybe(b.remind_at),
            offset_minutes: maybe(b.offset_minutes),
            recipients: maybe(b.recipients),
            note: maybe(b.note),
        };
        Ok(Json(reminders::update(&state.db, &s, &task.0, reminder_id.0, patch).await?.into()))
    }

    /// Delete a reminder
    #[oai(
        path = "/orgs/:org_id/tasks/:task/reminders/:reminder_id",
        method = "delete",
        operation_id = "deleteReminder"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        task: Path<String>,
        reminder_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        reminders::delete(&state.db, &s, &task.0, reminder_id.0).await?;
        Ok(NoContent::Done)
    }
}
