//! Reports a member asks for: a project summary, the team's activity or the overdue tasks, as CSV or XLSX. Asking
//! creates a `pending` row and a `build_report` job; a worker of the `reports` pool builds and stores the file and
//! notifies the requester (`workers::reports`). Reports are private to their requester. A ready file is served
//! through a short-lived signed URL until it expires, seven days after it was built.
//!
//! Who may ask: anyone who sees the project for a project report; the whole org's reports need an admin, since
//! they cover private projects too. Both are checked again on download, so losing access also loses the files.
use std::time::Duration;

use chrono::NaiveDate;
use entities::tables::reports::{self, state, ReportFormat, ReportKind, MAX_PERIOD_DAYS};
use entities::{Permission, Scope};
use platform::jobs::{Envelope, Job, Queue};
use platform::storage::{GetSpec, PresignedRequest, Storage};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::access::require;
use super::project_access::visible_project;
use crate::error::{AppError, Validator};

/// How long a download URL stays valid.
pub const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);
/// The most reports a list returns (the newest).
pub const LIST_LIMIT: u64 = 100;

/// What to build.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub kind: ReportKind,
    pub format: ReportFormat,
    /// `None`: the whole org (admins only).
    pub project_id: Option<Uuid>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// The period to store: checked, and defaulted for the kinds that cover one.
fn period(input: &NewReport, today: NaiveDate) -> Result<(Option<NaiveDate>, Option<NaiveDate>), AppError> {
    let mut v = Validator::new();
    if input.kind == ReportKind::Overdue {
        // An overdue report is always as of the moment it is built.
        v.check(input.from.is_none(), "from", "an overdue report has no period");
        v.check(input.to.is_none(), "to", "an overdue report has no period");
        v.finish()?;
        return Ok((None, None));
    }
    let (default_from, default_to) = reports::default_period(today);
    let to = input.to.unwrap_or(default_to);
    let from = input.from.unwrap_or_else(|| to - chrono::Duration::days((default_to - default_from).num_days()));
    if from > to {
        v.push("from", "must not be after `to`");
    } else if (to - from).num_days() + 1 > MAX_PERIOD_DAYS {
        v.push("to", format!("a report covers at most {MAX_PERIOD_DAYS} days"));
    }
    v.finish()?;
    Ok((Some(from), Some(to)))
}

/// Fails unless the actor may read reports about `project_id` (or about the whole org when `None`).
pub async fn may_report_on(db: &impl ConnectionTrait, scope: &Scope, project_id: Option<Uuid>) -> Result<(), AppError> {
    match project_id {
        Some(id) => visible_project(db, scope, id).await.map(|_| ()),
        None => require(scope, Permission::AdministerProjects),
    }
}

/// Creates a pending report and queues its build.
pub async fn create(
    db: &DatabaseConnection,
    queue: &dyn Queue,
    scope: &Scope,
    input: NewReport,
) -> Result<reports::Model, AppError> {
    may_report_on(db, scope, input.project_id).await?;
    let (from, to) = period(&input, entities::now().date_naive())?;
    let period = from.zip(to);
    let report = reports::pending(scope.org_id(), input.project_id, scope.user_id(), input.kind, input.format, period)
        .insert(db)
        .await?;
    let id = report.id;
    let job = Envelope::new(Job::BuildReport { report_id: id }, Some(scope.org_id()));
    if let Err(e) = queue.enqueue(&[job], Duration::ZERO).await {
        tracing::warn!(error = %e, report_id = %id, "could not enqueue a report build");
        // Nothing would ever build it: the request fails as a whole rather than leave a report pending forever.
        scope.delete_many::<reports::Entity>().filter(reports::Column::Id.eq(id)).exec(db).await?;
        return Err(AppError::Unavailable {
            code: "queue_unavailable",
            detail: "the report could not be queued; try again".into(),
        });
    }
    Ok(report)
}

/// The actor's reports, newest first (at most [`LIST_LIMIT`]).
pub async fn list(db: &impl ConnectionTrait, scope: &Scope) -> Result<Vec<reports::Model>, AppError> {
    Ok(scope
        .find::<reports::Entity>()
        .filter(reports::Column::RequestedBy.eq(scope.user_id()))
        .order_by_desc(reports::Column::Id)
        .limit(LIST_LIMIT)
        .all(db)
        .await?)
}

/// One of the actor's own reports; anyone else's answers 404.
pub async fn get(db: &impl ConnectionTrait, scope: &Scope, id: Uuid) -> Result<reports::Model, AppError> {
    scope
        .find::<reports::Entity>()
        .filter(reports::Column::Id.eq(id))
        .filter(reports::Column::RequestedBy.eq(scope.user_id()))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("report_not_found"))
}

/// The file name a download is saved under, e.g. `project-summary-WEB-2026-11-25.csv`.
pub fn file_name(r: &reports::Model, project_key: Option<&str>) -> String {
    let kind = r.kind.replace('_', "-");
    let subject = project_key.unwrap_or("org");
    format!("{kind}-{subject}-{}.{}", r.created_at.format("%Y-%m-%d"), r.format)
}

/// A short-lived URL to download a ready report's file.
pub async fn download(
    db: &impl ConnectionTrait,
    storage: &dyn Storage,
    scope: &Scope,
    id: Uuid,
) -> Result<PresignedRequest, AppError> {
    let r = get(db, scope, id).await?;
    let project_key = match r.project_id {
        Some(pid) => Some(
            visible_project(db, scope, pid)
                .await
                .map_err(|e| match e {
                    AppError::NotFound(_) => AppError::NotFound("report_not_found"),
                    e => e,
                })?
                .key,
        ),
        None => {
            require(scope, Permission::AdministerProjects)?;
            None
        }
    };
    match r.state.as_str() {
        state::READY => {}
        state::FAILED => {
            let why = r.error.as_deref().unwrap_or("unknown error");
            return Err(AppError::conflict("report_failed", format!("the report could not be built: {why}")));
        }
        _ => return Err(AppError::conflict("report_not_ready", "the report is still being built; try again shortly")),
    }
    if r.expires_at.is_none_or(|t| t <= entities::now()) {
        return Err(AppError::Gone {
            code: "report_expired",
            detail: "the report has expired; ask for a new one".into(),
        });
    }
    let format: ReportFormat = r.format.parse().map_err(|e| anyhow::anyhow!("report {}: {e}", r.id))?;
    let spec = GetSpec {
        expires_in: DOWNLOAD_URL_TTL,
        content_disposition: Some(format!("attachment; filename=\"{}\"", file_name(&r, project_key.as_deref()))),
        response_content_type: Some(format.content_type().into()),
    };
    Ok(storage
        .presign_get(&r.storage_key, spec)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("signing a report URL"))?)
}

/// Deletes one of the actor's reports and its file.
pub async fn delete(db: &DatabaseConnection, storage: &dyn Storage, scope: &Scope, id: Uuid) -> Result<(), AppError> {
    let r = get(db, scope, id).await?;
    scope.delete_many::<reports::Entity>().filter(reports::Column::Id.eq(r.id)).exec(db).await?;
    // The row is gone, so nothing serves the file any more; a leftover costs space, not safety. A build still
    // running finds no row to finish and leaves its file behind in the same way.
    if let Err(e) = storage.delete(&r.storage_key).await {
        tracing::warn!(key = r.storage_key, error = %e, "could not delete a deleted report's file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: ReportKind, from: Option<&str>, to: Option<&str>) -> NewReport {
        NewReport {
            kind,
            format: ReportFormat::Csv,
            project_id: None,
            from: from.map(|d| d.parse().unwrap()),
            to: to.map(|d| d.parse().unwrap()),
        }
    }

    #[test]
    fn periods_default_to_the_last_thirty_days_and_are_bounded() {
        let today: NaiveDate = "2026-11-25".parse().unwrap();
        let d = |s: &str| Some(s.parse::<NaiveDate>().unwrap());
        assert_eq!(
            period(&input(ReportKind::TeamActivity, None, None), today).unwrap(),
            (d("2026-10-27"), d("2026-11-25"))
        );
        assert_eq!(
            period(&input(ReportKind::ProjectSummary, None, Some("2026-01-31")), today).unwrap(),
            (d("2026-01-02"), d("2026-01-31"))
        );
        assert!(period(&input(ReportKind::TeamActivity, Some("2026-11-02"), Some("2026-11-01")), today).is_err());
        assert!(period(&input(ReportKind::TeamActivity, Some("2025-01-01"), Some("2026-01-02")), today).is_err());
        assert!(period(&input(ReportKind::TeamActivity, Some("2025-01-01"), Some("2026-01-01")), today).is_ok());
        assert_eq!(period(&input(ReportKind::Overdue, None, None), today).unwrap(), (None, None));
        assert!(period(&input(ReportKind::Overdue, Some("2026-11-01"), None), today).is_err());
    }
}
