//! A report a member asked for: built by a `build_report` job on the `reports` pool into a CSV or XLSX file under
//! `storage_key` (`reports/{org}/{id}.{ext}`). `pending` (asked for) → `running` (a worker took it) → `ready`
//! (downloadable until `expires_at`) | `failed` (`error` says why). A project-less report covers the whole org.
use std::fmt;
use std::str::FromStr;

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    /// `None`: every project of the org.
    pub project_id: Option<Uuid>,
    pub requested_by: Uuid,
    /// A [`ReportKind`] name.
    pub kind: String,
    /// A [`ReportFormat`] name.
    pub format: String,
    /// First and last day covered (`YYYY-MM-DD`, UTC, inclusive); ISO dates compare correctly as strings.
    pub period_from: Option<String>,
    pub period_to: Option<String>,
    pub state: String,
    pub storage_key: String,
    /// Bytes of the stored file, once ready.
    pub size: Option<i64>,
    /// Data rows in the file (the header not counted), once ready.
    pub row_count: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// When the file stops being served (ready + [`RETENTION_DAYS`]).
    pub expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// How long a ready report stays downloadable.
pub const RETENTION_DAYS: i64 = 7;
/// The days a report covers when no period is given: the last 30, today included.
pub const DEFAULT_PERIOD_DAYS: i64 = 30;
/// The longest period a report may cover, in days.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// The period a report covers when none is given: the [`DEFAULT_PERIOD_DAYS`] days up to `today`, inclusive.
pub fn default_period(today: chrono::NaiveDate) -> (chrono::NaiveDate, chrono::NaiveDate) {
    (today - chrono::Duration::days(DEFAULT_PERIOD_DAYS - 1), today)
}

/// The `state` values.
pub mod state {
    pub const PENDING: &str = "pending";
    pub const RUNNING: &str = "running";
    pub const READY: &str = "ready";
    pub const FAILED: &str = "failed";
}

/// What a report is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// Every live task of a project (or of the org) with its status, priority, assignees and dates.
    ProjectSummary,
    /// Per member: tasks created, tasks completed and comments written over the period.
    TeamActivity,
    /// Open tasks past their due date.
    Overdue,
}

/// The file a report is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    Csv,
    Xlsx,
}

/// Not a report kind or format name.
#[derive(Debug, thiserror::Error)]
#[error("unknown report {what} `{value}`")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
}

impl ReportKind {
    pub const ALL: [ReportKind; 3] = [ReportKind::ProjectSummary, ReportKind::TeamActivity, ReportKind::Overdue];

    pub fn name(self) -> &'static str {
        match self {
            ReportKind::ProjectSummary => "project_summary",
            ReportKind::TeamActivity => "team_activity",
            ReportKind::Overdue => "overdue",
        }
    }

    /// How people call it, e.g. in the "report ready" mail.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::ProjectSummary => "Project summary",
            ReportKind::TeamActivity => "Team activity",
            ReportKind::Overdue => "Overdue tasks",
        }
    }
}

impl ReportFormat {
    pub const ALL: [ReportFormat; 2] = [ReportFormat::Csv, ReportFormat::Xlsx];

    /// The name, which is also the file extension.
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Csv => "csv",
            ReportFormat::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReportKind {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| UnknownName { what: "kind", value: s.into() })
    }
}

impl FromStr for ReportFormat {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Self::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| UnknownName { what: "format", value: s.into() })
    }
}

/// A new `pending` report, as the API writes it on request and the scheduler for a weekly schedule.
pub fn pending(
    org_id: Uuid,
    project_id: Option<Uuid>,
    requested_by: Uuid,
    kind: ReportKind,
    format: ReportFormat,
    period: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
) -> ActiveModel {
    use sea_orm::ActiveValue::Set;
    let id = crate::new_id();
    let now = crate::now();
    ActiveModel {
        id: Set(id),
        org_id: Set(org_id),
        project_id: Set(project_id),
        requested_by: Set(requested_by),
        kind: Set(kind.name().into()),
        format: Set(format.name().into()),
        period_from: Set(period.map(|(from, _)| from.to_string())),
        period_to: Set(period.map(|(_, to)| to.to_string())),
        state: Set(state::PENDING.into()),
        storage_key: Set(storage_key(org_id, id, format)),
        size: Set(None),
        row_count: Set(None),
        error: Set(None),
        expires_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// Where the file of report `id` of `org_id` is stored.
pub fn storage_key(org_id: Uuid, id: Uuid, format: ReportFormat) -> String {
    format!("reports/{org_id}/{id}.{}", format.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_formats_round_trip_through_their_names() {
        for k in ReportKind::ALL {
            assert_eq!(k.name().parse::<ReportKind>().unwrap(), k);
        }
        for f in ReportFormat::ALL {
            assert_eq!(f.name().parse::<ReportFormat>().unwrap(), f);
        }
        assert!("pdf".parse::<ReportFormat>().is_err());
        assert!("everything".parse::<ReportKind>().is_err());
    }
}
