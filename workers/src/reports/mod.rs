//! `build_report`: builds the file of a pending report, stores it, and tells its requester it is ready.
//!
//! The row moves `pending` → `running` → `ready` (or `failed`). Delivery is at least once, so the job is
//! idempotent: a report already `ready` or `failed` (or deleted) is left alone, a second run of a `running` one
//! (its worker died) simply builds the file again under the same key, and the final update only applies while the
//! report is still unfinished, so the notification (deduplicated by its key as well) goes out once.
//!
//! Database and storage trouble is retried by the runtime; once the pool's attempts are used up, or on anything
//! retrying cannot fix (the project is gone, the writer refused the data), the report is marked `failed` with the
//! reason. The whole file is built in memory: the reports pool runs two jobs at a time and a report of tens of
//! thousands of tasks is a few megabytes.
mod content;
pub mod csv_file;
pub mod schedules;
mod sheet;
pub mod xlsx_file;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use entities::notification_kinds::{email_state, Kind};
use entities::tables::projects;
use entities::tables::reports::{self, state, ReportFormat, ReportKind, RETENTION_DAYS};
use entities::Scope;
use platform::jobs::{Envelope, Job, Pool, Queue};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use self::content::{Period, Subject};
pub use self::sheet::{Cell, ChartKind, ChartSpec, ReportContent, Series, Table};
use crate::attachments::FileDeps;
use crate::handler::{Handler, HandlerError};
use crate::notifications::create::{create, NewNotification};

pub struct BuildReportHandler {
    db: DatabaseConnection,
    queue: Arc<dyn Queue>,
    deps: FileDeps,
}

impl BuildReportHandler {
    pub fn new(db: DatabaseConnection, queue: Arc<dyn Queue>, deps: FileDeps) -> Self {
        BuildReportHandler { db, queue, deps }
    }
}

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    /// Worth another attempt: the database or the store failed.
    #[error("{0}")]
    Transient(String),
    /// Will fail the same way every time.
    #[error("{0}")]
    Final(String),
}

impl From<sea_orm::DbErr> for BuildError {
    fn from(e: sea_orm::DbErr) -> Self {
        BuildError::Transient(format!("database: {e}"))
    }
}

/// A stored report file.
struct Built {
    size: i64,
    row_count: i64,
}

fn parse_date(value: &Option<String>, field: &str) -> Result<Option<NaiveDate>, BuildError> {
    value
        .as_deref()
        .map(|v| v.parse::<NaiveDate>().map_err(|e| BuildError::Final(format!("stored {field} `{v}`: {e}"))))
        .transpose()
}

/// The report's period; one left open defaults to the 30 days up to the day it was asked for.
fn period_of(r: &reports::Model) -> Result<Period, BuildError> {
    let (default_from, default_to) = reports::default_period(r.created_at.date_naive());
    let from = parse_date(&r.period_from, "period_from")?.unwrap_or(default_from);
    let to = parse_date(&r.period_to, "period_to")?.unwrap_or(default_to);
    Ok(Period { from, to })
}

/// How the report is called in the notification, e.g. "Project summary of WEB (CSV)".
pub fn report_name(kind: ReportKind, format: ReportFormat, project: Option<&projects::Model>, org: &str) -> String {
    let subject = project.map_or_else(|| org.to_owned(), |p| p.key.clone());
    format!("{} of {subject} ({})", kind.title(), format.name().to_uppercase())
}

impl BuildReportHandler {
    /// Reads the data, writes the file and stores it.
    async fn build(&self, scope: &Scope, r: &reports::Model, now: DateTime<Utc>) -> Result<Built, BuildError> {
        let kind: ReportKind = r.kind.parse().map_err(|e| BuildError::Final(format!("{e}")))?;
        let format: ReportFormat = r.format.parse().map_err(|e| BuildError::Final(format!("{e}")))?;
        let project = self.project(scope, r).await?;
        let subject = Subject { scope, project: project.as_ref() };
        let content = match kind {
            ReportKind::ProjectSummary => content::project_summary(&self.db, &subject, period_of(r)?).await?,
            ReportKind::TeamActivity => content::team_activity(&self.db, &subject, period_of(r)?).await?,
            ReportKind::Overdue => content::overdue(&self.db, &subject, now).await?,
        };
        let row_count = content.table.rows.len() as i64;
        // Formatting is CPU work: off the async threads.
        let bytes = tokio::task::spawn_blocking(move || match format {
            ReportFormat::Csv => csv_file::write(&content.table).map_err(|e| e.to_string()),
            ReportFormat::Xlsx => xlsx_file::write(&content).map_err(|e| e.to_string()),
        })
        .await
        .map_err(|e| BuildError::Final(format!("the report writer stopped: {e}")))?
        .map_err(|e| BuildError::Final(format!("writing the {format} file: {e}")))?;
        let stored =
            self.deps.storage.put(&r.storage_key, &mut bytes.as_slice(), format.content_type()).await.map_err(|e| {
                if e.is_retryable() {
                    BuildError::Transient(format!("storing the file: {e}"))
                } else {
                    BuildError::Final(format!("storing the file: {e}"))
                }
            })?;
        Ok(Built { size: stored.size as i64, row_count })
    }

    async fn project(&self, scope: &Scope, r: &reports::Model) -> Result<Option<projects::Model>, BuildError> {
        let Some(id) = r.project_id else { return Ok(None) };
        let p = scope.find::<projects::Entity>().filter(projects::Column::Id.eq(id)).one(&self.db).await?;
        p.map(Some).ok_or_else(|| BuildError::Final("the project no longer exists".into()))
    }

    async fn fail(&self, scope: &Scope, id: Uuid, error: &str) -> Result<(), HandlerError> {
        scope
            .update_many::<reports::Entity>()
            .col_expr(reports::Column::State, Expr::value(state::FAILED))
            .col_expr(reports::Column::Error, Expr::value(Some(error.to_owned())))
            .col_expr(reports::Column::UpdatedAt, Expr::value(entities::now()))
            .filter(reports::Column::Id.eq(id))
            .filter(reports::Column::State.is_in([state::PENDING, state::RUNNING]))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Marks the report ready and creates the requester's notification in one transaction; returns the
    /// notification to email now, if any.
    async fn finish(&self, scope: &Scope, r: &reports::Model, built: &Built) -> Result<Option<Uuid>, HandlerError> {
        let now = entities::now();
        let expires_at = now + chrono::Duration::days(RETENTION_DAYS);
        let tx = entities::begin_write(&self.db).await?;
        let updated = scope
            .update_many::<reports::Entity>()
            .col_expr(reports::Column::State, Expr::value(state::READY))
            .col_expr(reports::Column::Size, Expr::value(Some(built.size)))
            .col_expr(reports::Column::RowCount, Expr::value(Some(built.row_count)))
            .col_expr(reports::Column::Error, Expr::value(None::<String>))
            .col_expr(reports::Column::ExpiresAt, Expr::value(Some(expires_at)))
            .col_expr(reports::Column::UpdatedAt, Expr::value(now))
            .filter(reports::Column::Id.eq(r.id))
            .filter(reports::Column::State.is_in([state::PENDING, state::RUNNING]))
            .exec(&tx)
            .await?;
        if updated.rows_affected == 0 {
            // Finished by a concurrent delivery, or deleted meanwhile.
            return Ok(None);
        }
        let notification = self.notify_requester(&tx, scope, r, expires_at).await?;
        tx.commit().await?;
        Ok(notification)
    }

    async fn notify_requester(
        &self,
        tx: &impl ConnectionTrait,
        scope: &Scope,
        r: &reports::Model,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<Uuid>, HandlerError> {
        let (Ok(kind), Ok(format)) = (r.kind.parse::<ReportKind>(), r.format.parse::<ReportFormat>()) else {
            return Ok(None);
        };
        let project = match r.project_id {
            Some(id) => scope.find::<projects::Entity>().filter(projects::Column::Id.eq(id)).one(tx).await?,
            None => None,
        };
        let org = org_name(tx, r.org_id).await?;
        let name = report_name(kind, format, project.as_ref(), &org);
        // The app's page of the report; the notify job makes it absolute like task links. A signed storage URL
        // would not do in a mail: it must be short-lived, and the page signs a fresh one on each download.
        let url = format!("/orgs/{}/reports/{}", r.org_id, r.id);
        let expires = expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
        let new = NewNotification {
            org_id: Some(r.org_id),
            user_id: r.requested_by,
            kind: Kind::ReportReady,
            actor_id: None,
            entity_type: Some("report"),
            entity_id: Some(r.id),
            title: format!("Your report {name} is ready"),
            body: format!("Download it before {expires}."),
            url: url.clone(),
            data: json!({"report_name": name, "download_url": url, "expires_at": expires}),
            dedupe_key: format!("report_ready:{}", r.id),
        };
        Ok(create(tx, new).await?.filter(|row| row.email_state == email_state::PENDING).map(|row| row.id))
    }
}

#[allow(clippy::disallowed_methods)] // the orgs row itself, keyed by the report's org id
async fn org_name(db: &impl ConnectionTrait, org_id: Uuid) -> Result<String, sea_orm::DbErr> {
    use sea_orm::EntityTrait;
    let org = entities::tables::orgs::Entity::find_by_id(org_id).one(db).await?;
    Ok(org.map_or_else(|| "the organisation".into(), |o| o.name))
}

#[async_trait]
impl Handler for BuildReportHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::BuildReport { report_id } = envelope.job else {
            return Err(HandlerError::permanent("not a build_report job"));
        };
        let org_id = envelope.org_id.ok_or_else(|| HandlerError::permanent("a build_report job names its org"))?;
        let scope = Scope::system(org_id);
        let found = scope.find::<reports::Entity>().filter(reports::Column::Id.eq(report_id)).one(&self.db).await?;
        let Some(report) = found else {
            return Ok(()); // deleted before it was built
        };
        if report.state != state::PENDING && report.state != state::RUNNING {
            return Ok(()); // built (or given up on) by an earlier delivery
        }
        scope
            .update_many::<reports::Entity>()
            .col_expr(reports::Column::State, Expr::value(state::RUNNING))
            .col_expr(reports::Column::UpdatedAt, Expr::value(entities::now()))
            .filter(reports::Column::Id.eq(report.id))
            .filter(reports::Column::State.eq(state::PENDING))
            .exec(&self.db)
            .await?;
        match self.build(&scope, &report, entities::now()).await {
            Ok(built) => {
                let notification = self.finish(&scope, &report, &built).await?;
                if let Some(id) = notification {
                    let job = Envelope::new(Job::Notify { notification_id: id }, Some(org_id));
                    self.queue.enqueue(&[job], Duration::ZERO).await.map_err(HandlerError::retryable)?;
                }
                tracing::info!(report_id = %report.id, kind = report.kind, format = report.format,
                    rows = built.row_count, bytes = built.size, "report built");
                Ok(())
            }
            Err(BuildError::Transient(reason)) => {
                if envelope.attempt >= Pool::Reports.settings().max_attempts {
                    // The runtime dead-letters the job after this attempt: say so on the report.
                    self.fail(&scope, report.id, &reason).await?;
                }
                Err(HandlerError::Retryable(reason))
            }
            Err(BuildError::Final(reason)) => {
                tracing::warn!(report_id = %report.id, reason, "the report cannot be built");
                self.fail(&scope, report.id, &reason).await?;
                Ok(())
            }
        }
    }
}
