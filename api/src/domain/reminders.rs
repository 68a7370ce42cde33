//! Reminders on tasks: at an absolute time, or a number of minutes before the task's due date. Each reminder keeps
//! its computed `fire_at`, which the scheduler (`workers::reminders`) scans; this module keeps it true on every
//! write, including the task's own due-date changes ([`due_date_moved`]).
//!
//! Permissions follow watchers: whoever sees a task may set a reminder for themselves alone (guests included);
//! reminding others, or changing someone else's reminder, needs the task-writing permission.
use chrono::{DateTime, Duration, Utc};
use entities::tables::{projects, reminders, tasks};
use entities::{Permission, Scope};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};
use uuid::Uuid;

use super::access::require;
use super::outbox::{self, Event};
use super::project_access::{ensure_not_archived, member_sees};
use super::tasks::find;
use crate::error::{AppError, Validator};

/// The longest lead time before a due date: 60 days.
pub const MAX_OFFSET_MINUTES: i32 = 60 * 24 * 60;
pub const MAX_RECIPIENTS: usize = 50;
pub const MAX_NOTE_CHARS: usize = 1000;

/// A reminder with its recipients decoded.
#[derive(Debug, Clone)]
pub struct ReminderView {
    pub reminder: reminders::Model,
    /// `None`: the task's assignees at firing time.
    pub recipients: Option<Vec<Uuid>>,
}

impl ReminderView {
    fn of(reminder: reminders::Model) -> Result<ReminderView, AppError> {
        let recipients = match &reminder.recipients {
            None => None,
            Some(v) => Some(
                serde_json::from_value(v.clone())
                    .map_err(|e| anyhow::anyhow!("reminder {} has malformed recipients: {e}", reminder.id))?,
            ),
        };
        Ok(ReminderView { reminder, recipients })
    }

    fn snapshot(&self) -> Value {
        let r = &self.reminder;
        json!({
            "task_id": r.task_id, "remind_at": r.remind_at.map(entities::utc), "offset_minutes": r.offset_minutes,
            "recipients": self.recipients, "fire_at": r.fire_at.map(entities::utc),
        })
    }
}

/// Input of a new reminder: exactly one of `remind_at` and `offset_minutes`.
#[derive(Debug, Default)]
pub struct NewReminder {
    pub remind_at: Option<DateTime<Utc>>,
    pub offset_minutes: Option<i32>,
    pub recipients: Option<Vec<Uuid>>,
    pub note: Option<String>,
}

/// A merge patch: `None` keeps a field, `Some(None)` clears it, `Some(Some(v))` sets it. Setting one of
/// `remind_at` / `offset_minutes` alone switches the reminder to that kind and clears the other.
#[derive(Debug, Default)]
pub struct ReminderPatch {
    pub remind_at: Option<Option<DateTime<Utc>>>,
    pub offset_minutes: Option<Option<i32>>,
    pub recipients: Option<Option<Vec<Uuid>>>,
    pub note: Option<Option<String>>,
}

/// When a reminder is due: its absolute time, or its offset before the due date (`None` without a due date).
pub fn fire_time(
    remind_at: Option<DateTime<Utc>>,
    offset_minutes: Option<i32>,
    due_at: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (remind_at, offset_minutes) {
        (Some(at), _) => Some(at),
        (None, Some(m)) => due_at.map(|d| d - Duration::minutes(i64::from(m))),
        (None, None) => None,
    }
}

fn check_timing(v: &mut Validator, remind_at: Option<DateTime<Utc>>, offset_minutes: Option<i32>, now: DateTime<Utc>) {
    match (remind_at, offset_minutes) {
        (Some(_), Some(_)) => v.push("remind_at", "give either remind_at or offset_minutes, not both"),
        (None, None) => v.push("remind_at", "give remind_at or offset_minutes"),
        (Some(at), None) => {
            v.check(at > now, "remind_at", "must be in the future");
        }
        (None, Some(m)) => {
            v.check((0..=MAX_OFFSET_MINUTES).contains(&m), "offset_minutes", "must be between 0 and 86400 (60 days)");
        }
    }
}

fn check_note(v: &mut Validator, note: Option<String>) -> Option<String> {
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if let Some(n) = &note {
        v.check(n.chars().count() <= MAX_NOTE_CHARS, "note", "must be at most 1000 characters");
    }
    note
}

/// Checks explicit recipients like assignees: distinct org members who see the project.
async fn check_recipients(
    db: &impl ConnectionTrait,
    scope: &Scope,
    project: &projects::Model,
    recipients: Option<Vec<Uuid>>,
    v: &mut Validator,
) -> Result<Option<Vec<Uuid>>, AppError> {
    let Some(ids) = recipients else {
        return Ok(None);
    };
    let mut distinct: Vec<Uuid> = Vec::new();
    for id in ids {
        if !distinct.contains(&id) {
            distinct.push(id);
        }
    }
    if distinct.is_empty() {
        v.push("recipients", "must not be empty; null means the task's assignees");
    } else if distinct.len() > MAX_RECIPIENTS {
        v.push("recipients", "at most 50 recipients");
    } else {
        for id in &distinct {
            if !member_sees(db, scope, *id, project).await? {
                v.push("recipients", format!("{id} is not a member with access to this project"));
            }
        }
    }
    Ok(Some(distinct))
}

/// A reminder for the actor alone needs only to see the task; anything else needs the task-writing permission.
fn authorize(scope: &Scope, created_by: Uuid, recipients: &Option<Vec<Uuid>>) -> Result<(), AppError> {
    let personal = created_by == scope.user_id() && recipients.as_deref() == Some(&[scope.user_id()][..]);
    if personal {
        Ok(())
    } else {
        require(scope, Permission::WriteTasks)
    }
}

fn ensure_live(task: &tasks::Model) -> Result<(), AppError> {
    if task.deleted_at.is_some() {
        return Err(AppError::conflict("task_deleted", "the task is deleted; restore it first"));
    }
    Ok(())
}

/// Reminders of a task, oldest first.
pub async fn list(db: &impl ConnectionTrait, scope: &Scope, task_ref: &str) -> Result<Vec<ReminderView>, AppError> {
    let (task, _) = find(db, scope, task_ref).await?;
    scope
        .find::<reminders::Entity>()
        .filter(reminders::Column::TaskId.eq(task.id))
        .order_by_asc(reminders::Column::CreatedAt)
        .order_by_asc(reminders::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(ReminderView::of)
        .collect()
}

/// Adds a reminder to a task.
pub async fn create(
    db: &DatabaseConnection,
    scope: &Scope,
    task_ref: &str,
    input: NewReminder,
) -> Result<ReminderView, AppError> {
    let (task, project) = find(db, scope, task_ref).await?;
    ensure_not_archived(&project)?;
    ensure_live(&task)?;
    let now = entities::now();
    let mut v = Validator::new();
    check_timing(&mut v, input.remind_at, input.offset_minutes, now);
    let note = check_note(&mut v, input.note);
    let recipients = check_recipients(db, scope, &project, input.recipients, &mut v).await?;
    v.finish()?;
    authorize(scope, scope.user_id(), &recipients)?;
    let remind_at = input.remind_at.map(entities::far_date);
    let fire_at = fire_time(remind_at.map(entities::utc), input.offset_minutes, task.due_at.map(entities::utc));
    let tx = entities::begin_write(db).await?;
    let reminder = reminders::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(scope.org_id()),
        task_id: Set(task.id),
        created_by: Set(scope.user_id()),
        remind_at: Set(remind_at),
        offset_minutes: Set(input.offset_minutes),
        recipients: Set(recipients.as_ref().map(|r| json!(r))),
        note: Set(note),
        fire_at: Set(fire_at.map(entities::far_date)),
        fired_at: Set(None),
        claim_token: Set(None),
        claimed_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await?;
    let view = ReminderView::of(reminder)?;
    record(&tx, scope, "reminder.created", &view).await?;
    tx.commit().await?;
    Ok(view)
}

async fn record(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    event_type: &str,
    view: &ReminderView,
) -> Result<(), AppError> {
    outbox::record(
        tx,
        Event {
            org_id: scope.org_id(),
            actor_id: Some(scope.user_id()),
            event_type,
            entity_type: "reminder",
            entity_id: view.reminder.id,
            payload: view.snapshot(),
        },
    )
    .await
}

/// The reminder `id` of the task, for a write: the task is visible, live and its project not archived.
async fn writable(
    db: &impl ConnectionTrait,
    scope: &Scope,
    task_ref: &str,
    id: Uuid,
) -> Result<(ReminderView, tasks::Model, projects::Model), AppError> {
    let (task, project) = find(db, scope, task_ref).await?;
    let reminder = scope
        .find::<reminders::Entity>()
        .filter(reminders::Column::Id.eq(id))
        .filter(reminders::Column::TaskId.eq(task.id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("reminder_not_found"))?;
    ensure_not_archived(&project)?;
    ensure_live(&task)?;
    Ok((ReminderView::of(reminder)?, task, project))
}

/// Changes a reminder. A new time re-arms it, even if it fired already.
pub async fn update(
    db: &DatabaseConnection,
    scope: &Scope,
    task_ref: &str,
    id: Uuid,
    patch: ReminderPatch,
) -> Result<ReminderView, AppError> {
    let (current, task, project) = writable(db, scope, task_ref, id).await?;
    let r = &current.reminder;
    // Whoever may change it now, before the patch can make it look personal.
    authorize(scope, r.created_by, &current.recipients)?;
    let now = entities::now();
    let mut v = Validator::new();
    let (mut remind_at, mut offset) = (r.remind_at.map(entities::utc), r.offset_minutes);
    let retimed = patch.remind_at.is_some() || patch.offset_minutes.is_some();
    match (patch.remind_at, patch.offset_minutes) {
        (Some(Some(at)), None) => (remind_at, offset) = (Some(at), None),
        (None, Some(Some(m))) => (remind_at, offset) = (None, Some(m)),
        (at, m) => {
            remind_at = at.unwrap_or(remind_at);
            offset = m.unwrap_or(offset);
        }
    }
    if retimed {
        check_timing(&mut v, remind_at, offset, now);
    }
    let note = match patch.note {
        Some(n) => check_note(&mut v, n),
        None => r.note.clone(),
    };
    let recipients = match patch.recipients {
        Some(list) => check_recipients(db, scope, &project, list, &mut v).await?,
        None => current.recipients.clone(),
    };
    v.finish()?;
    authorize(scope, r.created_by, &recipients)?;
    let mut active: reminders::ActiveModel = r.clone().into();
    let remind_at = remind_at.map(entities::far_date);
    active.remind_at = Set(remind_at);
    active.offset_minutes = Set(offset);
    active.note = Set(note);
    active.recipients = Set(recipients.as_ref().map(|r| json!(r)));
    if retimed {
        let fire_at = fire_time(remind_at.map(entities::utc), offset, task.due_at.map(entities::utc));
        active.fire_at = Set(fire_at.map(entities::far_date));
        active.fired_at = Set(None);
    }
    active.updated_at = Set(now);
    let tx = entities::begin_write(db).await?;
    let view = ReminderView::of(active.update(&tx).await?)?;
    record(&tx, scope, "reminder.updated", &view).await?;
    tx.commit().await?;
    Ok(view)
}

/// Deletes a reminder.
pub async fn delete(db: &DatabaseConnection, scope: &Scope, task_ref: &str, id: Uuid) -> Result<(), AppError> {
    let (current, _, _) = writable(db, scope, task_ref, id).await?;
    authorize(scope, current.reminder.created_by, &current.recipients)?;
    let tx = entities::begin_write(db).await?;
    scope.delete_many::<reminders::Entity>().filter(reminders::Column::Id.eq(id)).exec(&tx).await?;
    record(&tx, scope, "reminder.deleted", &current).await?;
    tx.commit().await?;
    Ok(())
}

/// Moves the task's relative reminders with its due date, inside the transaction that changes it.
///
/// Unfired ones follow the new date (a time already past fires at the next scheduler tick: the lead time the user
/// asked for is gone, so they hear about it at once); without a due date they wait (`fire_at` null). A relative
/// reminder that already fired is re-armed when the new time is still ahead, so postponing a task reminds again
/// before the new date; a move whose new time is past leaves it fired rather than repeating it at once.
pub(crate) async fn due_date_moved(
    tx: &impl ConnectionTrait,
    scope: &Scope,
    task_id: Uuid,
    due_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let relative = scope
        .find::<reminders::Entity>()
        .filter(reminders::Column::TaskId.eq(task_id))
        .filter(reminders::Column::OffsetMinutes.is_not_null())
        .filter(reminders::Column::RemindAt.is_null())
        .all(tx)
        .await?;
    for r in relative {
        let old = r.fire_at.map(entities::utc);
        let new = fire_time(None, r.offset_minutes, due_at);
        let rearm = r.fired_at.is_some() && new.is_some_and(|t| t > now);
        if r.fired_at.is_some() && !rearm {
            continue;
        }
        if old == new && !rearm {
            continue;
        }
        let mut update = scope
            .update_many::<reminders::Entity>()
            .col_expr(reminders::Column::FireAt, Expr::value(new.map(entities::far_date)))
            .col_expr(reminders::Column::UpdatedAt, Expr::value(now))
            .filter(reminders::Column::Id.eq(r.id));
        if rearm {
            update = update.col_expr(reminders::Column::FiredAt, Expr::value(Option::<DateTime<Utc>>::None));
        }
        update.exec(tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reminder_fires_at_its_time_or_its_offset_before_the_due_date() {
        let due: DateTime<Utc> = "2030-01-10T09:00:00Z".parse().unwrap();
        let at: DateTime<Utc> = "2030-01-01T08:00:00Z".parse().unwrap();
        assert_eq!(fire_time(Some(at), None, Some(due)), Some(at));
        assert_eq!(fire_time(None, Some(90), Some(due)), Some("2030-01-10T07:30:00Z".parse().unwrap()));
        assert_eq!(fire_time(None, Some(0), Some(due)), Some(due));
        assert_eq!(fire_time(None, Some(30), None), None, "a relative reminder waits for a due date");
    }

    #[test]
    fn timing_needs_exactly_one_future_time_or_a_bounded_offset() {
        let now: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let fields = |at: Option<&str>, m: Option<i32>| {
            let mut v = Validator::new();
            check_timing(&mut v, at.map(|s| s.parse().unwrap()), m, now);
            match v.finish() {
                Ok(()) => Vec::new(),
                Err(AppError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
                Err(e) => panic!("{e}"),
            }
        };
        assert!(fields(Some("2030-01-02T00:00:00Z"), None).is_empty());
        assert!(fields(None, Some(0)).is_empty());
        assert!(fields(None, Some(MAX_OFFSET_MINUTES)).is_empty());
        assert_eq!(fields(None, Some(MAX_OFFSET_MINUTES + 1)), ["offset_minutes"]);
        assert_eq!(fields(None, Some(-1)), ["offset_minutes"]);
        assert_eq!(fields(Some("2029-12-31T23:59:00Z"), None), ["remind_at"]);
        assert_eq!(fields(Some("2030-01-02T00:00:00Z"), Some(5)), ["remind_at"]);
        assert_eq!(fields(None, None), ["remind_at"]);
    }
}
