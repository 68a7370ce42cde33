//! `/orgs/{org_id}/reports*`: asking for a report, following it while it is built, and downloading its file.
use chrono::{DateTime, NaiveDate, Utc};
use entities::tables::report_schedules as schedule_rows;
use entities::tables::reports::{self as report_rows, ReportFormat, ReportKind};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use uuid::Uuid;

use super::attachments_api::SignedRequest;
use super::types::{Created, NoContent};
use super::ApiTags;
use crate::auth::schemes::Auth;
use crate::domain::access::scope;
use crate::domain::report_schedules::{self, NewSchedule};
use crate::domain::reports::{self, NewReport};
use crate::problem::ApiError;
use crate::state::AppState;

/// What a report is about.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReportKindName {
    /// Every live task with its status, priority, assignees and dates; charts of tasks by status and of tasks
    /// created vs completed per day over the period.
    ProjectSummary,
    /// Per member over the period: tasks created, tasks completed while assigned to them, comments written.
    TeamActivity,
    /// Open tasks past their due date, most overdue first, as of when the report is built.
    Overdue,
}

/// The file format.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ReportFormatName {
    /// RFC 4180 CSV in UTF-8; text cells that a spreadsheet would run as a formula start with `'`.
    Csv,
    /// An Excel workbook with the rows and a "Charts" sheet of native charts.
    Xlsx,
}

impl From<ReportKindName> for ReportKind {
    fn from(k: ReportKindName) -> Self {
        match k {
            ReportKindName::ProjectSummary => ReportKind::ProjectSummary,
            ReportKindName::TeamActivity => ReportKind::TeamActivity,
            ReportKindName::Overdue => ReportKind::Overdue,
        }
    }
}

impl From<ReportFormatName> for ReportFormat {
    fn from(f: ReportFormatName) -> Self {
        match f {
            ReportFormatName::Csv => ReportFormat::Csv,
            ReportFormatName::Xlsx => ReportFormat::Xlsx,
        }
    }
}

/// A report and where its build stands.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Report {
    pub id: Uuid,
    /// Absent for a report on the whole organisation.
    pub project_id: Option<Uuid>,
    pub requested_by: Uuid,
    /// `project_summary`, `team_activity` or `overdue`.
    pub kind: String,
    /// `csv` or `xlsx`.
    pub format: String,
    /// First day covered (UTC), inclusive; absent for overdue reports.
    pub period_from: Option<NaiveDate>,
    /// Last day covered (UTC), inclusive.
    pub period_to: Option<NaiveDate>,
    /// `pending`, `running`, `ready` (downloadable until `expires_at`) or `failed` (see `error`).
    pub state: String,
    /// Bytes of the file, once ready.
    pub size: Option<i64>,
    /// Data rows in the file (without the header), once ready.
    pub row_count: Option<i64>,
    pub error: Option<String>,
    /// When the file stops being served: seven days after it was built.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether `expires_at` has passed.
    pub expired: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<report_rows::Model> for Report {
    fn from(r: report_rows::Model) -> Self {
        Report {
            id: r.id,
            project_id: r.project_id,
            requested_by: r.requested_by,
            kind: r.kind,
            format: r.format,
            period_from: r.period_from.and_then(|d| d.parse().ok()),
            period_to: r.period_to.and_then(|d| d.parse().ok()),
            state: r.state,
            size: r.size,
            row_count: r.row_count,
            error: r.error,
            expired: r.expires_at.is_some_and(|t| t <= entities::now()),
            expires_at: r.expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A report to build.
#[derive(Debug, Object)]
pub struct NewReportInput {
    pub kind: ReportKindName,
    pub format: ReportFormatName,
    /// The project to report on; without it the report covers the whole organisation (admins only).
    pub project_id: Option<Uuid>,
    /// First day covered (UTC); defaults to 29 days before `to`. Not for overdue reports.
    pub from: Option<NaiveDate>,
    /// Last day covered (UTC); defaults to today. At most 366 days after `from`.
    pub to: Option<NaiveDate>,
}

/// A weekly report: every `weekday` at `hour` (UTC) a report of the seven days before is built for its creator.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ReportSchedule {
    pub id: Uuid,
    /// Absent for a schedule on the whole organisation.
    pub project_id: Option<Uuid>,
    /// `project_summary`, `team_activity` or `overdue`.
    pub kind: String,
    /// `csv` or `xlsx`.
    pub format: String,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: i32,
    /// 0 … 23, UTC.
    pub hour: i32,
    pub created_by: Uuid,
    /// The UTC day it last ran.
    pub last_run_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}

impl From<schedule_rows::Model> for ReportSchedule {
    fn from(s: schedule_rows::Model) -> Self {
        ReportSchedule {
            id: s.id,
            project_id: s.project_id,
            kind: s.kind,
            format: s.format,
            weekday: s.weekday.into(),
            hour: s.hour.into(),
            created_by: s.created_by,
            last_run_on: s.last_run_on.and_then(|d| d.parse().ok()),
            created_at: s.created_at,
        }
    }
}

/// A weekly report to set up.
#[derive(Debug, Object)]
pub struct NewReportScheduleInput {
    pub kind: ReportKindName,
    pub format: ReportFormatName,
    /// The project to report on; without it the reports cover the whole organisation (admins only).
    pub project_id: Option<Uuid>,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: i32,
    /// 0 … 23, UTC.
    pub hour: i32,
}

pub struct ReportsApi;

#[OpenApi(tag = "ApiTags::Reports")]
impl ReportsApi {
    /// Ask for a report: it is built in the background, and you are notified when it is ready
    #[oai(path = "/orgs/:org_id/reports", method = "post", operation_id = "createReport")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<NewReportInput>,
    ) -> Result<Created<Report>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let b = body.0;
        let input = NewReport {
            kind: b.kind.into(),
            format: b.format.into(),
            project_id: b.project_id,
            from: b.from,
            to: b.to,
        };
        let report = reports::create(&state.db, state.queue.as_ref(), &s, input).await?;
        Ok(Created::Created(Json(report.into())))
    }

    /// My reports in this organisation, newest first (the latest 100)
    #[oai(path = "/orgs/:org_id/reports", method = "get", operation_id = "listReports")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<Vec<Report>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(reports::list(&state.db, &s).await?.into_iter().map(Report::from).collect()))
    }

    /// Get one of my reports
    #[oai(path = "/orgs/:org_id/reports/:report_id", method = "get", operation_id = "getReport")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        report_id: Path<Uuid>,
    ) -> Result<Json<Report>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(reports::get(&state.db, &s, report_id.0).await?.into()))
    }

    /// A short-lived download URL of a ready report (409 while it is built, 410 once expired)
    #[oai(path = "/orgs/:org_id/reports/:report_id/download", method = "get", operation_id = "downloadReport")]
    async fn download(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        report_id: Path<Uuid>,
    ) -> Result<Json<SignedRequest>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(reports::download(&state.db, state.storage.as_ref(), &s, report_id.0).await?.into()))
    }

    /// Set up a weekly report for me
    #[oai(path = "/orgs/:org_id/report-schedules", method = "post", operation_id = "createReportSchedule")]
    async fn create_schedule(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<NewReportScheduleInput>,
    ) -> Result<Created<ReportSchedule>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let b = body.0;
        let input = NewSchedule {
            kind: b.kind.into(),
            format: b.format.into(),
            project_id: b.project_id,
            weekday: b.weekday,
            hour: b.hour,
        };
        Ok(Created::Created(Json(report_schedules::create(&state.db, &s, input).await?.into())))
    }

    /// My weekly reports in this organisation
    #[oai(path = "/orgs/:org_id/report-schedules", method = "get", operation_id = "listReportSchedules")]
    async fn list_schedules(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<Vec<ReportSchedule>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(report_schedules::list(&state.db, &s).await?.into_iter().map(ReportSchedule::from).collect()))
    }

    /// Stop one of my weekly reports (the reports it made stay)
    #[oai(
        path = "/orgs/:org_id/report-schedules/:schedule_id",
        method = "delete",
        operation_id = "deleteReportSchedule"
    )]
    async fn delete_schedule(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        schedule_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        report_schedules::delete(&state.db, &s, schedule_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Delete one of my reports and its file
    #[oai(path = "/orgs/:org_id/reports/:report_id", method = "delete", operation_id = "deleteReport")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        report_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        reports::delete(&state.db, state.storage.as_ref(), &s, report_id.0).await?;
        Ok(NoContent::Done)
    }
}
