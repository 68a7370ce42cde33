//! What each kind of report contains, read with tenant-scoped queries from the tasks and comments tables (not from
//! the activity event store, so a report depends only on the rows it describes).
//!
//! - `project_summary`: every live task (not deleted) of the project, or of every project of the org, with its
//!   status, priority, assignees and dates; charts: tasks by status (by status category for the whole org, whose
//!   projects have different statuses) and tasks created vs completed per day over the period.
//! - `overdue`: open tasks (status neither completed nor cancelled) whose due date has passed, most overdue first;
//!   chart: overdue tasks per assignee.
//! - `team_activity`: per member, over the period: tasks they created, tasks completed while assigned to them (no
//!   row says who completed a task, so completion is credited to its assignees), and comments they wrote, on live
//!   tasks only. Every current member is listed, plus anyone else with activity in the period.
#![allow(clippy::disallowed_methods)] // users are not tenant rows: their names are looked up by id

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entities::tables::{comments, memberships, projects, statuses, task_assignees, tasks, users};
use entities::Scope;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::sheet::{Cell, ChartKind, ChartSpec, ReportContent, Series, Table};

/// Status categories in board order.
const CATEGORIES: [&str; 5] = ["backlog", "unstarted", "started", "completed", "cancelled"];
/// Categories whose tasks are no longer open.
const CLOSED: [&str; 2] = ["completed", "cancelled"];

/// The first and last day a report covers, inclusive, in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    fn start(&self) -> DateTime<Utc> {
        self.from.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
    }

    /// The first instant after the period.
    fn end(&self) -> DateTime<Utc> {
        (self.to + Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
    }

    fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start() <= t && t < self.end()
    }

    fn days(&self) -> Vec<NaiveDate> {
        self.from.iter_days().take_while(|d| *d <= self.to).collect()
    }
}

/// What the queries need to know about the report.
pub struct Subject<'a> {
    pub scope: &'a Scope,
    /// `None`: the whole org.
    pub project: Option<&'a projects::Model>,
}

/// A task with what its rows show.
struct TaskFacts {
    task: tasks::Model,
    task_ref: String,
    status: Option<statuses::Model>,
    assignees: Vec<Uuid>,
}

fn priority_name(rank: i16) -> &'static str {
    match rank {
        1 => "low",
        2 => "medium",
        3 => "high",
        4 => "urgent",
        _ => "none",
    }
}

async fn user_names(db: &impl ConnectionTrait, ids: &HashSet<Uuid>) -> Result<HashMap<Uuid, users::Model>, DbErr> {
    let ids: Vec<Uuid> = ids.iter().copied().collect();
    let mut out = HashMap::new();
    // Chunks keep the IN list within every database's parameter limit.
    for chunk in ids.chunks(500) {
        for u in users::Entity::find().filter(users::Column::Id.is_in(chunk.to_vec())).all(db).await? {
            out.insert(u.id, u);
        }
    }
    Ok(out)
}

/// The live tasks of the subject with their refs, statuses and assignees, in project-key and number order.
async fn live_tasks(db: &impl ConnectionTrait, s: &Subject<'_>) -> Result<Vec<TaskFacts>, DbErr> {
    let mut projects_q = s.scope.find::<projects::Entity>();
    let mut tasks_q = s.scope.find::<tasks::Entity>().filter(tasks::Column::DeletedAt.is_null());
    let mut statuses_q = s.scope.find::<statuses::Entity>();
    if let Some(p) = s.project {
        projects_q = projects_q.filter(projects::Column::Id.eq(p.id));
        tasks_q = tasks_q.filter(tasks::Column::ProjectId.eq(p.id));
        statuses_q = statuses_q.filter(statuses::Column::ProjectId.eq(p.id));
    }
    let projects: HashMap<Uuid, projects::Model> = projects_q.all(db).await?.into_iter().map(|p| (p.id, p)).collect();
    let statuses: HashMap<Uuid, statuses::Model> =
        statuses_q.all(db).await?.into_iter().map(|st| (st.id, st)).collect();
    let tasks = tasks_q.order_by_asc(tasks::Column::Number).all(db).await?;
    let mut assignees: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let ids: Vec<Uuid> = tasks.iter().map(|t| t.id).collect();
    for chunk in ids.chunks(500) {
        let links = s
            .scope
            .find::<task_assignees::Entity>()
            .filter(task_assignees::Column::TaskId.is_in(chunk.to_vec()))
            .all(db)
            .await?;
        for a in links {
            assignees.entry(a.task_id).or_default().push(a.user_id);
        }
    }
    let mut facts: Vec<TaskFacts> = tasks
        .into_iter()
        .filter_map(|task| {
            let project = projects.get(&task.project_id)?;
            Some(TaskFacts {
                task_ref: format!("{}-{}", project.key, task.number),
                status: statuses.get(&task.status_id).cloned(),
                assignees: assignees.remove(&task.id).unwrap_or_default(),
                task,
            })
        })
        .collect();
    facts.sort_by(|a, b| {
        let key = |f: &TaskFacts| projects.get(&f.task.project_id).map(|p| p.key.clone()).unwrap_or_default();
        key(a).cmp(&key(b)).then(a.task.number.cmp(&b.task.number))
    });
    Ok(facts)
}

/// Assignee names of a task, sorted and joined with `; `.
fn names_of(ids: &[Uuid], names: &HashMap<Uuid, users::Model>) -> String {
    let mut list: Vec<&str> = ids.iter().filter_map(|id| names.get(id).map(|u| u.name.as_str())).collect();
    list.sort_unstable();
    list.join("; ")
}

fn category_of(f: &TaskFacts) -> &str {
    f.status.as_ref().map_or("", |s| s.category.as_str())
}

pub async fn project_summary(
    db: &impl ConnectionTrait,
    s: &Subject<'_>,
    period: Period,
) -> Result<ReportContent, DbErr> {
    let facts = live_tasks(db, s).await?;
    let people: HashSet<Uuid> = facts.iter().flat_map(|f| f.assignees.iter().copied()).collect();
    let names = user_names(db, &people).await?;
    let rows = facts
        .iter()
        .map(|f| {
            vec![
                Cell::text(&f.task_ref),
                Cell::text(&f.task.title),
                Cell::text(f.status.as_ref().map_or("", |s| s.name.as_str())),
                Cell::text(category_of(f)),
                Cell::text(priority_name(f.task.priority)),
                Cell::text(names_of(&f.assignees, &names)),
                Cell::time(f.task.due_at.map(entities::utc)),
                Cell::Time(f.task.created_at),
                Cell::time(f.task.completed_at),
            ]
        })
        .collect();
    let table = Table {
        sheet: "Tasks",
        headers: vec![
            "Ref",
            "Title",
            "Status",
            "Status category",
            "Priority",
            "Assignees",
            "Due",
            "Created",
            "Completed",
        ],
        rows,
    };
    let by_status = match s.project {
        Some(p) => {
            // The project's statuses in board order, each with its count (zero included).
            let list = s
                .scope
                .find::<statuses::Entity>()
                .filter(statuses::Column::ProjectId.eq(p.id))
                .order_by_asc(statuses::Column::Position)
                .all(db)
                .await?;
            let counts =
                list.iter().map(|st| facts.iter().filter(|f| f.task.status_id == st.id).count() as i64).collect();
            ChartSpec {
                kind: ChartKind::Column,
                title: "Tasks by status".into(),
                category_name: "Status",
                categories: list.into_iter().map(|st| st.name).collect(),
                series: vec![Series { name: "Tasks", values: counts }],
            }
        }
        None => ChartSpec {
            kind: ChartKind::Column,
            title: "Tasks by status category".into(),
            category_name: "Status category",
            categories: CATEGORIES.iter().map(|c| c.to_string()).collect(),
            series: vec![Series {
                name: "Tasks",
                values: CATEGORIES
                    .iter()
                    .map(|c| facts.iter().filter(|f| category_of(f) == *c).count() as i64)
                    .collect(),
            }],
        },
    };
    let days = period.days();
    let per_day = |times: Vec<DateTime<Utc>>| -> Vec<i64> {
        days.iter().map(|d| times.iter().filter(|t| t.date_naive() == *d).count() as i64).collect()
    };
    let created = per_day(facts.iter().map(|f| f.task.created_at).collect());
    let completed = per_day(facts.iter().filter_map(|f| f.task.completed_at).collect());
    let trend = ChartSpec {
        kind: ChartKind::Line,
        title: format!("Tasks created and completed per day, {} to {}", period.from, period.to),
        category_name: "Day",
        categories: days.iter().map(|d| d.to_string()).collect(),
        series: vec![Series { name: "Created", values: created }, Series { name: "Completed", values: completed }],
    };
    Ok(ReportContent { table, charts: vec![by_status, trend] })
}

pub async fn overdue(db: &impl ConnectionTrait, s: &Subject<'_>, now: DateTime<Utc>) -> Result<ReportContent, DbErr> {
    let mut facts: Vec<TaskFacts> = live_tasks(db, s)
        .await?
        .into_iter()
        .filter(|f| !CLOSED.contains(&category_of(f)))
        .filter(|f| f.task.due_at.is_some_and(|d| entities::utc(d) < now))
        .collect();
    facts.sort_by_key(|f| (f.task.due_at, f.task_ref.clone()));
    let people: HashSet<Uuid> = facts.iter().flat_map(|f| f.assignees.iter().copied()).collect();
    let names = user_names(db, &people).await?;
    let rows = facts
        .iter()
        .map(|f| {
            let due = f.task.due_at.map(entities::utc);
            vec![
                Cell::text(&f.task_ref),
                Cell::text(&f.task.title),
                Cell::text(f.status.as_ref().map_or("", |s| s.name.as_str())),
                Cell::text(priority_name(f.task.priority)),
                Cell::text(names_of(&f.assignees, &names)),
                Cell::time(due),
                Cell::Count(due.map_or(0, |d| (now - d).num_days())),
            ]
        })
        .collect();
    // Per assignee, by name; a task with two assignees counts for both, one with none under "Unassigned".
    let mut per_person: BTreeMap<String, i64> = BTreeMap::new();
    let mut unassigned = 0;
    for f in &facts {
        if f.assignees.is_empty() {
            unassigned += 1;
        }
        for id in &f.assignees {
            let name = names.get(id).map_or_else(|| id.to_string(), |u| u.name.clone());
            *per_person.entry(name).or_default() += 1;
        }
    }
    let mut categories: Vec<String> = per_person.keys().cloned().collect();
    let mut values: Vec<i64> = per_person.into_values().collect();
    if unassigned > 0 {
        categories.push("Unassigned".into());
        values.push(unassigned);
    }
    let chart = ChartSpec {
        kind: ChartKind::Column,
        title: "Overdue tasks per assignee".into(),
        category_name: "Assignee",
        categories,
        series: vec![Series { name: "Overdue tasks", values }],
    };
    let table = Table {
        sheet: "Overdue",
        headers: vec!["Ref", "Title", "Status", "Priority", "Assignees", "Due", "Days overdue"],
        rows,
    };
    Ok(ReportContent { table, charts: vec![chart] })
}

pub async fn team_activity(db: &impl ConnectionTrait, s: &Subject<'_>, period: Period) -> Result<ReportContent, DbErr> {
    let facts = live_tasks(db, s).await?;
    #[derive(Default)]
    struct Counts {
        created: i64,
        completed: i64,
        comments: i64,
    }
    let mut counts: HashMap<Uuid, Counts> = HashMap::new();
    for f in &facts {
        if period.contains(f.task.created_at) {
            counts.entry(f.task.created_by).or_default().created += 1;
        }
        if f.task.completed_at.is_some_and(|t| period.contains(t)) {
            for a in &f.assignees {
                counts.entry(*a).or_default().completed += 1;
            }
        }
    }
    let live: HashSet<Uuid> = facts.iter().map(|f| f.task.id).collect();
    let written: Vec<(Uuid, Uuid)> = s
        .scope
        .find::<comments::Entity>()
        .filter(comments::Column::CreatedAt.gte(period.start()))
        .filter(comments::Column::CreatedAt.lt(period.end()))
        .select_only()
        .column(comments::Column::AuthorId)
        .column(comments::Column::TaskId)
        .into_tuple()
        .all(db)
        .await?;
    for (author, task) in written {
        if live.contains(&task) {
            counts.entry(author).or_default().comments += 1;
        }
    }
    let members: Vec<Uuid> = s
        .scope
        .find::<memberships::Entity>()
        .select_only()
        .column(memberships::Column::UserId)
        .into_tuple()
        .all(db)
        .await?;
    let mut people: HashSet<Uuid> = members.into_iter().collect();
    people.extend(counts.keys().copied());
    let names = user_names(db, &people).await?;
    let mut listed: Vec<(String, String, Uuid)> = people
        .iter()
        .map(|id| match names.get(id) {
            Some(u) => (u.name.clone(), u.email.clone(), *id),
            // A deleted account: its activity still counts.
            None => ("(deleted user)".into(), String::new(), *id),
        })
        .collect();
    listed.sort();
    let zero = Counts::default();
    let rows: Vec<Vec<Cell>> = listed
        .iter()
        .map(|(name, email, id)| {
            let c = counts.get(id).unwrap_or(&zero);
            vec![
                Cell::text(name),
                Cell::text(email),
                Cell::Count(c.created),
                Cell::Count(c.completed),
                Cell::Count(c.comments),
            ]
        })
        .collect();
    let column = |i: usize| rows.iter().map(|r| if let Cell::Count(n) = r[i] { n } else { 0 }).collect::<Vec<_>>();
    let chart = ChartSpec {
        kind: ChartKind::Column,
        title: format!("Activity per member, {} to {}", period.from, period.to),
        category_name: "Member",
        categories: listed.iter().map(|(name, _, _)| name.clone()).collect(),
        series: vec![
            Series { name: "Tasks created", values: column(2) },
            Series { name: "Tasks completed", values: column(3) },
            Series { name: "Comments", values: column(4) },
        ],
    };
    let table = Table {
        sheet: "Team activity",
        headers: vec!["Member", "Email", "Tasks created", "Tasks completed", "Comments"],
        rows,
    };
    Ok(ReportContent { table, charts: vec![chart] })
}
