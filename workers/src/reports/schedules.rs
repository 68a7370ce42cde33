//! Weekly report schedules, run by the scheduler tick: a schedule whose weekday is today and whose hour (UTC) has
//! come is claimed with a conditional update of `last_run_on`, so overlapping ticks run it once, and a tick that
//! arrives late in the day still runs it. The claimed schedule becomes an ordinary pending report of its creator,
//! covering the seven days before today, and a `build_report` job; from there it is any other report, and the
//! "report ready" notification tells its creator.
//!
//! The creator must still be allowed the report when it runs (a member who sees the project, an admin for the
//! whole org); otherwise the week is skipped (claimed, no report), and the schedule waits for the access to return
//! or for someone to delete it.
#![allow(clippy::disallowed_methods)] // the scheduler looks across orgs; each update names the schedule's org

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use entities::tables::projects;
use entities::tables::report_schedules as schedules;
use entities::tables::reports::{self, ReportFormat, ReportKind};
use entities::{Permission, Scope};
use platform::jobs::{Envelope, Job, Queue};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::handler::HandlerError;

/// Schedules claimed per query; a tick repeats until a batch comes back short.
const BATCH: u64 = 100;

/// The period a scheduled report covers: the seven days before `today`.
pub fn week_before(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    (today - chrono::Duration::days(7), today - chrono::Duration::days(1))
}

/// Starts the reports of the schedules due at `at`; returns how many reports were asked for.
pub async fn enqueue_due(db: &DatabaseConnection, queue: &dyn Queue, at: DateTime<Utc>) -> Result<usize, HandlerError> {
    let today = at.date_naive();
    let today_s = today.to_string();
    let weekday = at.weekday().num_days_from_monday() as i16;
    let mut started = 0;
    loop {
        let due = schedules::Entity::find()
            .filter(schedules::Column::Weekday.eq(weekday))
            .filter(schedules::Column::Hour.lte(at.hour() as i16))
            .filter(
                Condition::any()
                    .add(schedules::Column::LastRunOn.is_null())
                    .add(schedules::Column::LastRunOn.lt(today_s.clone())),
            )
            .limit(BATCH)
            .all(db)
            .await?;
        let batch = due.len() as u64;
        for s in due {
            if claim(db, &s, &today_s).await? && run(db, queue, &s, today).await? {
                started += 1;
            }
        }
        if batch < BATCH {
            break;
        }
    }
    Ok(started)
}

/// Moves `last_run_on` from what `s` read to `today`; true when this call did it.
async fn claim(db: &DatabaseConnection, s: &schedules::Model, today: &str) -> Result<bool, DbErr> {
    let previous = match &s.last_run_on {
        Some(p) => schedules::Column::LastRunOn.eq(p.clone()),
        None => schedules::Column::LastRunOn.is_null(),
    };
    let result = Scope::system(s.org_id)
        .update_many::<schedules::Entity>()
        .col_expr(schedules::Column::LastRunOn, Expr::value(Some(today.to_owned())))
        .col_expr(schedules::Column::UpdatedAt, Expr::value(entities::now()))
        .filter(schedules::Column::Id.eq(s.id))
        .filter(previous)
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Whether the schedule's creator may still have its report.
async fn allowed(db: &DatabaseConnection, s: &schedules::Model) -> Result<bool, DbErr> {
    let Some(scope) = Scope::of_member(db, s.created_by, s.org_id).await? else {
        return Ok(false);
    };
    match s.project_id {
        None => Ok(scope.can(Permission::AdministerProjects)),
        Some(id) => {
            let project = scope.find::<projects::Entity>().filter(projects::Column::Id.eq(id)).one(db).await?;
            match project {
                Some(p) => crate::access::sees_project(db, s.created_by, &p).await,
                None => Ok(false),
            }
        }
    }
}

/// Creates the claimed schedule's report and queues its build; false when the week is skipped.
async fn run(
    db: &DatabaseConnection,
    queue: &dyn Queue,
    s: &schedules::Model,
    today: NaiveDate,
) -> Result<bool, HandlerError> {
    let (Ok(kind), Ok(format)) = (s.kind.parse::<ReportKind>(), s.format.parse::<ReportFormat>()) else {
        tracing::warn!(schedule_id = %s.id, kind = s.kind, format = s.format, "a report schedule names no report");
        return Ok(false);
    };
    if !allowed(db, s).await? {
        tracing::info!(schedule_id = %s.id, "skipping a report schedule whose creator lost access");
        return Ok(false);
    }
    let period = (kind != ReportKind::Overdue).then(|| week_before(today));
    let report = reports::pending(s.org_id, s.project_id, s.created_by, kind, format, period).insert(db).await?;
    let job = Envelope::new(Job::BuildReport { report_id: report.id }, Some(s.org_id));
    if let Err(e) = queue.enqueue(&[job], Duration::ZERO).await {
        // Give the week back so the next tick tries again, and leave no report that nothing would build.
        Scope::system(s.org_id)
            .delete_many::<reports::Entity>()
            .filter(reports::Column::Id.eq(report.id))
            .exec(db)
            .await?;
        Scope::system(s.org_id)
            .update_many::<schedules::Entity>()
            .col_expr(schedules::Column::LastRunOn, Expr::value(s.last_run_on.clone()))
            .filter(schedules::Column::Id.eq(s.id))
            .exec(db)
            .await?;
        return Err(HandlerError::retryable(e));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_report_covers_the_seven_days_before() {
        let monday: NaiveDate = "2026-11-23".parse().unwrap();
        let (from, to) = week_before(monday);
        assert_eq!((from.to_string(), to.to_string()), ("2026-11-16".into(), "2026-11-22".into()));
    }
}
