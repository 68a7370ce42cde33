//! A weekly report: every `weekday` (0 = Monday … 6 = Sunday) at `hour` UTC the scheduler asks for a report of
//! `kind` and `format` on the project (or the whole org) for `created_by`, covering the seven days before. The
//! claim is a conditional update of `last_run_on` (`YYYY-MM-DD`), so each schedule runs once a week whatever the
//! number of ticks and workers.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "report_schedules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    /// `None`: the whole org (an admin's schedule).
    pub project_id: Option<Uuid>,
    /// A [`super::reports::ReportKind`] name.
    pub kind: String,
    /// A [`super::reports::ReportFormat`] name.
    pub format: String,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: i16,
    /// 0 … 23, UTC.
    pub hour: i16,
    /// Who receives the reports; they must still see what the schedule reports on when it runs.
    pub created_by: Uuid,
    /// The UTC date of the last run; ISO dates compare correctly as strings.
    pub last_run_on: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
