//! `taskforge admin seed-bench`: one org filled with enough people, projects and tasks to load-test the API
//! (`make bench` runs it against a throw-away MariaDB database).
//!
//! The rows are the ones the API itself would write: projects with the five default statuses, tasks numbered
//! gap-free per project with `projects.next_number` one past the last number, board positions spaced by
//! [`POSITION_STEP`] per column, one or two assignees per task. It writes them with multi-row inserts in batches of
//! [`BATCH`] rows, one transaction per batch, instead of going through the services row by row: 100,000 tasks then
//! take seconds rather than an hour. Bulk rows get no outbox events and no watchers, like a restored backup.
//!
//! A fixed random seed makes two runs with the same sizes produce the same shape of data (ids and times differ).
use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use api::domain::accounts;
use api::domain::tasks::POSITION_STEP;
use chrono::{DateTime, Duration, Utc};
use entities::tables::{labels, memberships, orgs, projects, statuses, task_assignees, task_labels, tasks, users};
use entities::Role;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};
use serde::Serialize;
use uuid::Uuid;

/// Rows per multi-row INSERT (and per transaction for tasks): about 19,000 bind parameters for tasks, well under
/// MySQL's limit of 65,535 per statement.
const BATCH: usize = 1000;
/// How many task ids the summary lists for load generators to pick from.
const SAMPLE_TASKS: usize = 1000;
/// Every bench user signs in with this password (hashed once: argon2 per user would dominate the run).
pub const PASSWORD: &str = "taskforge-bench";

/// The statuses a new project starts with, in board order: the same rows the projects API creates.
const DEFAULT_STATUSES: [(&str, &str); 5] = [
    ("Backlog", "backlog"),
    ("Todo", "unstarted"),
    ("In progress", "started"),
    ("Done", "completed"),
    ("Cancelled", "cancelled"),
];
/// How tasks spread over the default statuses (percent, same order).
const STATUS_WEIGHTS: [u32; 5] = [20, 25, 15, 35, 5];
/// How tasks spread over priorities none, low, medium, high, urgent (percent).
const PRIORITY_WEIGHTS: [u32; 5] = [30, 25, 25, 15, 5];

const PROJECTS: [(&str, &str); 10] = [
    ("WEB", "Web app"),
    ("API", "Public API"),
    ("MOB", "Mobile apps"),
    ("OPS", "Operations"),
    ("DATA", "Data platform"),
    ("DOCS", "Documentation"),
    ("INFRA", "Infrastructure"),
    ("QA", "Quality"),
    ("DES", "Design system"),
    ("GROW", "Growth"),
];
const LABELS: [(&str, &str); 5] = [
    ("bug", "#d73a4a"),
    ("feature", "#0e8a16"),
    ("chore", "#c5def5"),
    ("design", "#fbca04"),
    ("performance", "#5319e7"),
];
const FIRST_NAMES: [&str; 16] = [
    "Ada", "Bram", "Chloé", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Luca", "Maya",
    "Nils", "Omar", "Priya",
];
const LAST_NAMES: [&str; 12] = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Silva",
    "Novak",
    "Haddad",
    "Schmidt",
    "Rossi",
    "Kowalski",
    "Chen",
    "Diaz",
];
const VERBS: [&str; 10] =
    ["Fix", "Add", "Update", "Refactor", "Investigate", "Document", "Remove", "Improve", "Migrate", "Test"];
const OBJECTS: [&str; 20] = [
    "login redirect",
    "invoice export",
    "search filters",
    "dark mode",
    "password reset email",
    "CSV import",
    "billing page",
    "notification settings",
    "API rate limits",
    "onboarding checklist",
    "audit log",
    "file uploads",
    "team invitations",
    "mobile navigation",
    "dashboard charts",
    "webhook retries",
    "timezone handling",
    "session expiry",
    "board drag and drop",
    "report scheduling",
];
const QUALIFIERS: [&str; 8] = [
    "",
    " on Safari",
    " for large orgs",
    " in the admin panel",
    " after the last release",
    " (customer report)",
    " behind a feature flag",
    " for screen readers",
];
const DESCRIPTIONS: [&str; 4] = [
    "",
    "Steps to reproduce:\n\n1. Sign in\n2. Open the page\n3. Watch it fail\n\nExpected: it works.",
    "Follow-up from the planning meeting. See the linked design for details.",
    "Acceptance criteria:\n\n- [ ] works on desktop and mobile\n- [ ] covered by tests\n- [ ] documented",
];

/// How much to seed.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub users: usize,
    pub projects: usize,
    pub tasks: usize,
    /// Activity events over the last year (see `seed_events`).
    pub events: usize,
}

/// Status ids of one project by category.
#[derive(Debug, Serialize)]
pub struct StatusIds {
    pub backlog: Uuid,
    pub unstarted: Uuid,
    pub started: Uuid,
    pub completed: Uuid,
    pub cancelled: Uuid,
}

/// One seeded project.
#[derive(Debug, Serialize)]
pub struct SeededProject {
    pub id: Uuid,
    pub key: String,
    pub tasks: usize,
    pub statuses: StatusIds,
}

/// What `seed-bench` prints as JSON: everything a load generator needs to build requests.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub org_id: Uuid,
    pub owner_id: Uuid,
    pub owner_email: String,
    pub password: &'static str,
    /// A personal access token of the owner with the read, write and admin scopes.
    pub token: String,
    pub user_ids: Vec<Uuid>,
    pub project_ids: Vec<Uuid>,
    pub projects: Vec<SeededProject>,
    pub tasks: usize,
    /// Live (not deleted) task ids spread evenly over the seeding order.
    pub sample_task_ids: Vec<Uuid>,
    pub seconds: f64,
}

/// Inserts the bench org and returns its summary.
pub async fn seed_bench(db: &DatabaseConnection, sizes: Sizes) -> anyhow::Result<Summary> {
    anyhow::ensure!(sizes.users >= 1, "--users must be at least 1 (the owner)");
    anyhow::ensure!((1..=1000).contains(&sizes.projects), "--projects must be between 1 and 1000");
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(0x7a5c_f09e);
    let now = entities::now();
    let org_id = entities::new_id();
    // Emails are unique across orgs: tag them with the org so a database can hold several bench orgs.
    let tag = &org_id.simple().to_string()[24..];

    let password_hash = api::auth::passwords::hash(PASSWORD.to_owned()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let user_ids: Vec<Uuid> = (0..sizes.users).map(|_| entities::new_id()).collect();
    let email_of = |i: usize| format!("user{i:04}.{tag}@bench.taskforge.localhost");
    let people: Vec<users::ActiveModel> = user_ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let first = FIRST_NAMES[i % FIRST_NAMES.len()];
            let last = LAST_NAMES[(i / FIRST_NAMES.len() + i) % LAST_NAMES.len()];
            users::ActiveModel {
                id: Set(*id),
                email: Set(email_of(i)),
                name: Set(format!("{first} {last}")),
                password_hash: Set(password_hash.clone()),
                time_zone: Set("UTC".into()),
                locale: Set("en".into()),
                email_verified_at: Set(Some(now)),
                created_at: Set(now),
                updated_at: Set(now),
            }
        })
        .collect();
    let owner_id = user_ids[0];
    let owner_email = email_of(0);

    let plan = TaskPlan::new(&mut rng, sizes);
    let mut seeded = Vec::with_capacity(sizes.projects);
    let mut project_rows = Vec::with_capacity(sizes.projects);
    let mut status_rows = Vec::with_capacity(sizes.projects * DEFAULT_STATUSES.len());
    let mut label_rows = Vec::with_capacity(sizes.projects * LABELS.len());
    let mut label_ids: Vec<Vec<Uuid>> = Vec::with_capacity(sizes.projects);
    let mut status_ids: Vec<[Uuid; 5]> = Vec::with_capacity(sizes.projects);
    for p in 0..sizes.projects {
        let (key, name) = match PROJECTS.get(p) {
            Some((k, n)) => ((*k).to_owned(), (*n).to_owned()),
            None => (format!("P{p}"), format!("Project {p}")),
        };
        let project_id = entities::new_id();
        project_rows.push(projects::ActiveModel {
            id: Set(project_id),
            org_id: Set(org_id),
            key: Set(key.clone()),
            name: Set(name),
            description: Set(String::new()),
            visibility: Set("org".into()),
            // Numbers 1..=n are taken by the tasks seeded below.
            next_number: Set(plan.per_project[p] as i64 + 1),
            archived_at: Set(None),
            created_by: Set(owner_id),
            created_at: Set(now),
            updated_at: Set(now),
        });
        let ids: Vec<Uuid> = DEFAULT_STATUSES.iter().map(|_| entities::new_id()).collect();
        for (position, ((name, category), id)) in DEFAULT_STATUSES.iter().zip(&ids).enumerate() {
            status_rows.push(statuses::ActiveModel {
                id: Set(*id),
                org_id: Set(org_id),
                project_id: Set(project_id),
                name: Set((*name).to_owned()),
                category: Set((*category).to_owned()),
                position: Set(position as i32),
                created_at: Set(now),
            });
        }
        let mut labels_here = Vec::with_capacity(LABELS.len());
        for (name, color) in LABELS {
            let id = entities::new_id();
            labels_here.push(id);
            label_rows.push(labels::ActiveModel {
                id: Set(id),
                org_id: Set(org_id),
                project_id: Set(project_id),
                name: Set(name.to_owned()),
                color: Set(color.to_owned()),
                created_at: Set(now),
            });
        }
        label_ids.push(labels_here);
        status_ids.push([ids[0], ids[1], ids[2], ids[3], ids[4]]);
        seeded.push(SeededProject {
            id: project_id,
            key,
            tasks: plan.per_project[p],
            statuses: StatusIds {
                backlog: ids[0],
                unstarted: ids[1],
                started: ids[2],
                completed: ids[3],
                cancelled: ids[4],
            },
        });
    }

    let tx = entities::begin_write(db).await?;
    orgs::ActiveModel {
        id: Set(org_id),
        name: Set("Bench Co".into()),
        max_attachment_bytes: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&tx)
    .await?;
    for chunk in people.chunks(BATCH) {
        users::Entity::insert_many(chunk.to_vec()).exec_without_returning(&tx).await.context("inserting users")?;
    }
    let members: Vec<memberships::ActiveModel> = user_ids
        .iter()
        .enumerate()
        .map(|(i, user_id)| memberships::ActiveModel {
            id: Set(entities::new_id()),
            org_id: Set(org_id),
            user_id: Set(*user_id),
            role: Set(match i {
                0 => Role::Owner,
                1 | 2 => Role::Admin,
                _ => Role::Member,
            }
            .as_str()
            .to_owned()),
            created_at: Set(now),
        })
        .collect();
    for chunk in members.chunks(BATCH) {
        memberships::Entity::insert_many(chunk.to_vec()).exec_without_returning(&tx).await?;
    }
    for chunk in project_rows.chunks(BATCH) {
        projects::Entity::insert_many(chunk.to_vec()).exec_without_returning(&tx).await?;
    }
    for chunk in status_rows.chunks(BATCH) {
        statuses::Entity::insert_many(chunk.to_vec()).exec_without_returning(&tx).await?;
    }
    for chunk in label_rows.chunks(BATCH) {
        labels::Entity::insert_many(chunk.to_vec()).exec_without_returning(&tx).await?;
    }
    tx.commit().await?;
    tracing::info!(org_id = %org_id, users = sizes.users, projects = sizes.projects, "seeded the org");

    let sample_every = (sizes.tasks / SAMPLE_TASKS).max(1);
    let mut sample_task_ids = Vec::with_capacity(SAMPLE_TASKS);
    let mut next_number = vec![0i64; sizes.projects];
    let mut column_end: HashMap<(usize, usize), f64> = HashMap::new();
    let mut done = 0;
    while done < sizes.tasks {
        let n = BATCH.min(sizes.tasks - done);
        let mut task_rows = Vec::with_capacity(n);
        let mut assignee_rows = Vec::with_capacity(n * 2);
        let mut label_link_rows = Vec::with_capacity(n / 2);
        for i in done..done + n {
            let p = plan.project_of[i] as usize;
            let s = pick_weighted(&mut rng, &STATUS_WEIGHTS);
            let status_id = status_ids[p][s];
            next_number[p] += 1;
            let position = column_end.entry((p, s)).or_insert(0.0);
            *position += POSITION_STEP;
            let is_deleted = rng.random_ratio(1, 100);
            let task = fake_task(&mut rng, now, &user_ids);
            // A year of history: created some time in it, started within three days, done within ten more.
            let created_at = now - Duration::seconds(rng.random_range(0..365 * 86_400));
            let started_at = (created_at + Duration::seconds(rng.random_range(0..3 * 86_400))).min(now);
            let completed_at = (started_at + Duration::seconds(rng.random_range(0..10 * 86_400))).min(now);
            let id = entities::new_id();
            if i % sample_every == 0 && !is_deleted && sample_task_ids.len() < SAMPLE_TASKS {
                sample_task_ids.push(id);
            }
            task_rows.push(tasks::ActiveModel {
                id: Set(id),
                org_id: Set(org_id),
                project_id: Set(seeded[p].id),
                number: Set(next_number[p]),
                title: Set(task.title),
                description: Set(task.description),
                status_id: Set(status_id),
                priority: Set(pick_weighted(&mut rng, &PRIORITY_WEIGHTS) as i16),
                due_at: Set(task.due_at.map(entities::far_date)),
                start_at: Set(task.start_at.map(entities::far_date)),
                estimate: Set(task.estimate),
                parent_id: Set(None),
                position: Set(*position),
                version: Set(1),
                // In progress, Done and Cancelled are the last three default statuses.
                started_at: Set((s >= 2).then_some(started_at)),
                completed_at: Set((s >= 3).then_some(completed_at)),
                deleted_at: Set(is_deleted.then_some(now)),
                created_by: Set(task.created_by),
                created_at: Set(created_at),
                updated_at: Set(completed_at),
            });
            let how_many = if rng.random_bool(0.5) { 1 } else { 2 };
            for user_id in user_ids.choose_multiple(&mut rng, how_many) {
                assignee_rows.push(task_assignees::ActiveModel {
                    task_id: Set(id),
                    user_id: Set(*user_id),
                    org_id: Set(org_id),
                    project_id: Set(Some(seeded[p].id)),
                    status_id: Set(Some(status_id)),
                });
            }
            let label_count = match rng.random_range(0..10) {
                0..=5 => 0,
                6..=8 => 1,
                _ => 2,
            };
            for label_id in label_ids[p].choose_multiple(&mut rng, label_count) {
                label_link_rows.push(task_labels::ActiveModel {
                    task_id: Set(id),
                    label_id: Set(*label_id),
                    org_id: Set(org_id),
                });
            }
        }
        let tx = entities::begin_write(db).await?;
        tasks::Entity::insert_many(task_rows).exec_without_returning(&tx).await.context("inserting tasks")?;
        for chunk in assignee_rows.chunks(BATCH) {
            task_assignees::Entity::insert_many(chunk.to_vec()).exec_without_returning(&tx).await?;
        }
        for chunk in label_link_rows.chunks(BATCH) {
            task_labels::Entity::insert_many(chunk.to_vec()).exec_without_returning(&tx).await?;
        }
        tx.commit().await?;
        done += n;
        if done % (BATCH * 10) == 0 || done == sizes.tasks {
            tracing::info!(tasks = done, of = sizes.tasks, "seeding tasks");
        }
    }
    // The tasks' copies of their links, in one pass (see `entities::link_copies`).
    entities::link_copies::refresh_org(db, org_id).await.context("filling the tasks' link copies")?;

    let project_ids: Vec<Uuid> = seeded.iter().map(|p| p.id).collect();
    crate::seed_events::seed_events(db, &mut rng, org_id, &project_ids, &user_ids, sizes.events, now).await?;

    let (_, token) = accounts::create_token(
        db,
        owner_id,
        accounts::NewToken {
            name: "bench".into(),
            scopes: vec!["read".into(), "write".into(), "admin".into()],
            expires_in_days: Some(7),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    Ok(Summary {
        org_id,
        owner_id,
        owner_email,
        password: PASSWORD,
        token,
        project_ids: seeded.iter().map(|p| p.id).collect(),
        user_ids,
        projects: seeded,
        tasks: sizes.tasks,
        sample_task_ids,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Which project each task goes to, decided up front so the projects can be written with their final
/// `next_number` before the tasks.
struct TaskPlan {
    project_of: Vec<u16>,
    per_project: Vec<usize>,
}

impl TaskPlan {
    fn new(rng: &mut StdRng, sizes: Sizes) -> TaskPlan {
        let project_of: Vec<u16> = (0..sizes.tasks).map(|_| rng.random_range(0..sizes.projects) as u16).collect();
        let mut per_project = vec![0; sizes.projects];
        for p in &project_of {
            per_project[*p as usize] += 1;
        }
        TaskPlan { project_of, per_project }
    }
}

/// The free-form parts of a task.
struct FakeTask {
    title: String,
    description: String,
    due_at: Option<DateTime<Utc>>,
    start_at: Option<DateTime<Utc>>,
    estimate: Option<i32>,
    created_by: Uuid,
}

fn fake_task(rng: &mut StdRng, now: DateTime<Utc>, user_ids: &[Uuid]) -> FakeTask {
    let title = format!(
        "{} {}{}",
        VERBS.choose(rng).expect("not empty"),
        OBJECTS.choose(rng).expect("not empty"),
        QUALIFIERS.choose(rng).expect("not empty")
    );
    // About half the tasks have a due date, from a month ago to three months ahead; some of those a start date.
    let due_at = rng.random_bool(0.55).then(|| now + Duration::hours(rng.random_range(-30 * 24..90 * 24)));
    let start_at = due_at.filter(|_| rng.random_bool(0.3)).map(|d| d - Duration::days(rng.random_range(1..15)));
    FakeTask {
        title,
        description: DESCRIPTIONS.choose(rng).expect("not empty").to_string(),
        due_at,
        start_at,
        estimate: rng.random_bool(0.4).then(|| *[1, 2, 3, 5, 8, 13].choose(rng).expect("not empty")),
        created_by: *user_ids.choose(rng).expect("at least the owner"),
    }
}

/// An index drawn with the given weights.
fn pick_weighted(rng: &mut StdRng, weights: &[u32]) -> usize {
    let mut x = rng.random_range(0..weights.iter().sum::<u32>());
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}
