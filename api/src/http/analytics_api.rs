//! `GET /orgs/{org}/analytics` and `GET /orgs/{org}/projects/{project}/analytics`: the dashboard's figures over a
//! range of UTC days (see `domain::analytics`).
use chrono::NaiveDate;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::ApiTags;
use crate::auth::schemes::Auth;
use crate::domain::access::scope;
use crate::domain::analytics::{self, flow, DayRange, Sources};
use crate::problem::ApiError;
use crate::state::AppState;
use platform::events::counter_names::CATEGORIES;

/// One day of created vs completed.
#[derive(Debug, Object)]
pub struct AnalyticsDay {
    pub date: NaiveDate,
    pub created: i64,
    pub completed: i64,
    /// Tasks that left completed or cancelled for an open status.
    pub reopened: i64,
}

/// Tasks per status category at the end of one day.
#[derive(Debug, Object)]
pub struct FlowPoint {
    pub date: NaiveDate,
    pub backlog: i64,
    pub unstarted: i64,
    pub started: i64,
    pub completed: i64,
    pub cancelled: i64,
}

/// A median duration and how many tasks it was measured over.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MedianDuration {
    /// Absent when no task could be measured.
    pub median_hours: Option<f64>,
    pub tasks: u64,
}

/// One assignee's throughput and open workload.
#[derive(Debug, Object)]
pub struct AssigneeFigures {
    pub user_id: Uuid,
    pub name: String,
    /// Tasks completed in the range that they are assigned to.
    pub completed: i64,
    /// Open tasks (not completed or cancelled) assigned to them now.
    pub open: i64,
}

/// Live tasks in one status now.
#[derive(Debug, Object)]
pub struct StatusFigures {
    pub status_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub category: String,
    pub tasks: i64,
}

/// The analytics of an org or a project.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AnalyticsReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The project, for a project's analytics; absent for the org's.
    pub project_id: Option<Uuid>,
    /// Every day of the range, oldest first.
    pub days: Vec<AnalyticsDay>,
    pub created: i64,
    pub completed: i64,
    pub reopened: i64,
    /// Completed ÷ created over the range; absent when nothing was created.
    pub completion_rate: Option<f64>,
    /// First start (entering a `started` status) → completion, over the tasks completed in the range.
    pub cycle_time: MedianDuration,
    /// Creation → completion, over the tasks completed in the range.
    pub lead_time: MedianDuration,
    /// Open tasks past their due time now.
    pub overdue: i64,
    /// Busiest first.
    pub assignees: Vec<AssigneeFigures>,
    /// Board order.
    pub statuses: Vec<StatusFigures>,
    /// Tasks per category at the end of each day of the range.
    pub cumulative_flow: Vec<FlowPoint>,
}

fn flow_point(f: &flow::FlowDay) -> FlowPoint {
    let at = |c: &str| CATEGORIES.iter().position(|x| *x == c).map(|i| f.by_category[i]).unwrap_or(0);
    FlowPoint {
        date: f.date,
        backlog: at("backlog"),
        unstarted: at("unstarted"),
        started: at("started"),
        completed: at("completed"),
        cancelled: at("cancelled"),
    }
}

impl From<analytics::Analytics> for AnalyticsReport {
    fn from(a: analytics::Analytics) -> AnalyticsReport {
        let median = |m: &analytics::MedianHours| MedianDuration { median_hours: m.hours, tasks: m.tasks as u64 };
        AnalyticsReport {
            from: a.range.from,
            to: a.range.to,
            project_id: a.project_id,
            days: a
                .days
                .iter()
                .map(|d| AnalyticsDay {
                    date: d.date,
                    created: d.created,
                    completed: d.completed,
                    reopened: d.reopened,
                })
                .collect(),
            created: a.created,
            completed: a.completed,
            reopened: a.reopened,
            completion_rate: a.completion_rate,
            cycle_time: median(&a.cycle_time),
            lead_time: median(&a.lead_time),
            overdue: a.overdue,
            assignees: a
                .assignees
                .into_iter()
                .map(|p| AssigneeFigures { user_id: p.user_id, name: p.name, completed: p.completed, open: p.open })
                .collect(),
            statuses: a
                .statuses
                .into_iter()
                .map(|s| StatusFigures {
                    status_id: s.status.id,
                    project_id: s.status.project_id,
                    name: s.status.name,
                    category: s.status.category,
                    tasks: s.tasks,
                })
                .collect(),
            cumulative_flow: a.cumulative_flow.iter().map(flow_point).collect(),
        }
    }
}

pub struct AnalyticsApi;

impl AnalyticsApi {
    async fn run(
        state: &AppState,
        auth: &Auth,
        org_id: Uuid,
        project_id: Option<Uuid>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Json<AnalyticsReport>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id).await?;
        let now = entities::now();
        let range = DayRange::parse(from, to, now.date_naive())?;
        let src = Sources { db: &state.db, events: state.events.as_ref(), cache: &state.analytics, now };
        Ok(Json(analytics::report(src, &s, project_id, range).await?.into()))
    }
}

#[OpenApi(tag = "ApiTags::Analytics")]
impl AnalyticsApi {
    /// The org's analytics over a range of days, across the projects the caller may see
    #[oai(path = "/orgs/:org_id/analytics", method = "get", operation_id = "orgAnalytics")]
    async fn org(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        /// First UTC day (default: 29 days before `to`).
        from: Query<Option<NaiveDate>>,
        /// Last UTC day, included (default: today); at most 366 days after `from`.
        to: Query<Option<NaiveDate>>,
    ) -> Result<Json<AnalyticsReport>, ApiError> {
        AnalyticsApi::run(&state, &auth, org_id.0, None, from.0, to.0).await
    }

    /// A project's analytics over a range of days
    #[oai(path = "/orgs/:org_id/projects/:project_id/analytics", method = "get", operation_id = "projectAnalytics")]
    async fn project(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        project_id: Path<Uuid>,
        /// First UTC day (default: 29 days before `to`).
        from: Query<Option<NaiveDate>>,
        /// Last UTC day, included (default: today); at most 366 days after `from`.
        to: Query<Option<NaiveDate>>,
    ) -> Result<Json<AnalyticsReport>, ApiError> {
        AnalyticsApi::run(&state, &auth, org_id.0, Some(project_id.0), from.0, to.0).await
    }
}
