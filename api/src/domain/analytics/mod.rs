//! Analytics of an org or one project over a range of UTC days: created vs completed per day, completion rate,
//! throughput and open workload per assignee, median cycle time (first start → completion) and lead time
//! (creation → completion), overdue tasks, the status distribution and the cumulative flow.
//!
//! Day series and the flow come from the event store's daily counters (one small read per project in view, never a
//! scan of events); the rest from grouped queries on indexed task columns. Figures cover only the projects the caller
//! may see: an org view of a member sums the counters of their projects instead of reading the org totals, which
//! would include private projects.
//!
//! Reports are cached (`crate::analytics_cache`) until the next event of the org, keyed by the projects in view,
//! the range and the day.
pub mod flow;
mod queries;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use entities::tables::statuses;
use entities::Scope;
use platform::events::{counter_names as names, EventStore, MAX_COUNTER_DAYS};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use self::flow::{DaySeries, FlowDay};
use self::queries::Projects;
use super::project_access::{visible_project, visible_project_ids};
use crate::analytics_cache::AnalyticsCache;
use crate::error::AppError;

/// The days a report covers, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DayRange {
    /// The range asked for: `to` defaults to `today`, `from` to 29 days before `to`; at most
    /// [`MAX_COUNTER_DAYS`] days, and not after tomorrow (a caller ahead of UTC).
    pub fn parse(from: Option<NaiveDate>, to: Option<NaiveDate>, today: NaiveDate) -> Result<DayRange, AppError> {
        let to = to.unwrap_or(today);
        let from = from.unwrap_or_else(|| to.checked_sub_days(Days::new(29)).unwrap_or(to));
        if from > to {
            return Err(AppError::invalid("from", "must not be after `to`"));
        }
        if (to - from).num_days() >= MAX_COUNTER_DAYS {
            return Err(AppError::invalid("from", format!("the range covers at most {MAX_COUNTER_DAYS} days")));
        }
        if to > today.succ_opt().unwrap_or(today) {
            return Err(AppError::invalid("to", "must not be after tomorrow (UTC)"));
        }
        Ok(DayRange { from, to })
    }

    fn start(&self) -> DateTime<Utc> {
        self.from.and_time(NaiveTime::MIN).and_utc()
    }

    /// The first instant after the range.
    fn end(&self) -> DateTime<Utc> {
        self.to.succ_opt().unwrap_or(self.to).and_time(NaiveTime::MIN).and_utc()
    }
}

/// A median over the tasks it could be measured for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MedianHours {
    pub hours: Option<f64>,
    pub tasks: usize,
}

/// One assignee's share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssigneeLoad {
    pub user_id: Uuid,
    pub name: String,
    /// Tasks completed in the range that they are assigned to.
    pub completed: i64,
    /// Open tasks (not completed or cancelled) they are assigned to now.
    pub open: i64,
}

/// Live tasks in one status now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusCount {
    pub status: statuses::Model,
    pub tasks: i64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Analytics {
    pub range: DayRange,
    pub project_id: Option<Uuid>,
    pub days: Vec<DaySeries>,
    pub created: i64,
    pub completed: i64,
    pub reopened: i64,
    /// Completed ÷ created over the range; `None` when nothing was created.
    pub completion_rate: Option<f64>,
    pub cycle_time: MedianHours,
    pub lead_time: MedianHours,
    pub overdue: i64,
    pub assignees: Vec<AssigneeLoad>,
    pub statuses: Vec<StatusCount>,
    pub cumulative_flow: Vec<FlowDay>,
}

/// What the report needs from the process.
pub struct Sources<'a> {
    pub db: &'a DatabaseConnection,
    pub events: &'a dyn EventStore,
    /// Reports computed since the org last changed.
    pub cache: &'a AnalyticsCache,
    pub now: DateTime<Utc>,
}

/// The report for the org (`project_id` `None`) or one project the caller may see (404 otherwise), from the cache
/// when nothing in the org changed since it was computed for the same projects, range and day.
pub async fn report(
    src: Sources<'_>,
    scope: &Scope,
    project_id: Option<Uuid>,
    range: DayRange,
) -> Result<Analytics, AppError> {
    let db = src.db;
    let projects = match project_id {
        Some(p) => {
            visible_project(db, scope, p).await?;
            Projects::Only(vec![p])
        }
        None => match visible_project_ids(db, scope).await? {
            None => Projects::All,
            Some(ids) => Projects::Only(ids),
        },
    };
    // Everything the figures depend on besides the org's data: who sees what, the range, and today (the flow
    // walks back from it).
    let key = format!(
        "{}:{}:{}:{}:{}",
        project_id.map_or_else(|| "org".to_owned(), |p| p.to_string()),
        projects_digest(&projects),
        range.from,
        range.to,
        src.now.date_naive()
    );
    src.cache.report(scope.org_id(), &key, || compute(&src, scope, project_id, &projects, range)).await
}

/// Names the set of projects a report covers, in a few bytes.
fn projects_digest(projects: &Projects) -> String {
    match projects {
        Projects::All => "all".to_owned(),
        Projects::Only(ids) => {
            let mut ids = ids.clone();
            ids.sort();
            ids.dedup();
            let mut hash = Sha256::new();
            for id in &ids {
                hash.update(id.as_bytes());
            }
            hex::encode(&hash.finalize()[..16])
        }
    }
}

async fn compute(
    src: &Sources<'_>,
    scope: &Scope,
    project_id: Option<Uuid>,
    projects: &Projects,
    range: DayRange,
) -> Result<Analytics, AppError> {
    let db = src.db;
    let today = src.now.date_naive();
    // The reads are independent of each other beyond the statuses, so they run at once: on MySQL each on its own
    // pooled connection, which puts a cold report at the cost of its slowest query rather than of their sum.
    // The flow walks back from today, so the counters run to today even when the range ends earlier.
    let (counts, status_rows) = tokio::try_join!(
        queries::counters(src.events, scope, projects, range.from, range.to.max(today)),
        queries::statuses(db, scope, projects),
    )?;
    let days = flow::daily(&counts, range.from, range.to);
    let created: i64 = days.iter().map(|d| d.created).sum();
    let completed: i64 = days.iter().map(|d| d.completed).sum();
    let reopened: i64 = days.iter().map(|d| d.reopened).sum();

    let of_category =
        |category: &str| -> Vec<Uuid> { status_rows.iter().filter(|s| s.category == category).map(|s| s.id).collect() };
    let completed_ids = of_category("completed");
    let open_ids: Vec<Uuid> =
        status_rows.iter().filter(|s| s.category != "completed" && s.category != "cancelled").map(|s| s.id).collect();
    let (per_status, done, completed_by, open_by, overdue) = tokio::try_join!(
        queries::tasks_per_status(db, scope, projects),
        queries::completions(db, scope, projects, &completed_ids, range.start(), range.end()),
        queries::completed_per_assignee(db, scope, projects, &completed_ids, (range.start(), range.end())),
        queries::open_per_assignee(db, scope, projects, &open_ids),
        queries::overdue(db, scope, projects, src.now),
    )?;
    let mut now_by_category = [0i64; 5];
    for s in &status_rows {
        if let Some(i) = names::CATEGORIES.iter().position(|c| *c == s.category) {
            now_by_category[i] += per_status.get(&s.id).copied().unwrap_or(0);
        }
    }
    let cumulative_flow = flow::cumulative_flow(&counts, now_by_category, range.from, range.to, today);

    let mut lead: Vec<f64> = done.iter().map(|(created, _, at)| flow::hours_between(*created, *at)).collect();
    let mut cycle: Vec<f64> =
        done.iter().filter_map(|(_, started, at)| Some(flow::hours_between((*started)?, *at))).collect();

    let mut people: Vec<Uuid> = completed_by.keys().chain(open_by.keys()).copied().collect();
    people.sort();
    people.dedup();
    let names_of = queries::names(db, people.clone()).await?;
    let mut assignees: Vec<AssigneeLoad> = people
        .into_iter()
        .map(|user_id| AssigneeLoad {
            user_id,
            name: names_of.get(&user_id).cloned().unwrap_or_default(),
            completed: completed_by.get(&user_id).copied().unwrap_or(0),
            open: open_by.get(&user_id).copied().unwrap_or(0),
        })
        .collect();
    assignees.sort_by(|a, b| b.completed.cmp(&a.completed).then(b.open.cmp(&a.open)).then(a.name.cmp(&b.name)));

    let mut statuses: Vec<StatusCount> = status_rows
        .into_iter()
        .map(|status| StatusCount { tasks: per_status.get(&status.id).copied().unwrap_or(0), status })
        .collect();
    statuses.sort_by(|a, b| {
        (a.status.project_id, a.status.position, a.status.id).cmp(&(
            b.status.project_id,
            b.status.position,
            b.status.id,
        ))
    });

    Ok(Analytics {
        range,
        project_id,
        days,
        created,
        completed,
        reopened,
        completion_rate: (created > 0).then(|| completed as f64 / created as f64),
        cycle_time: MedianHours { tasks: cycle.len(), hours: flow::median(&mut cycle) },
        lead_time: MedianHours { tasks: lead.len(), hours: flow::median(&mut lead) },
        overdue,
        assignees,
        statuses,
        cumulative_flow,
    })
}
