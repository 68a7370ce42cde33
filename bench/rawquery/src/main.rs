//! The database-side baseline of `make bench`: runs the SQL that `GET /orgs/{org}/projects/{p}/tasks?status=…&
//! assignee=…&limit=50` issues, straight against MySQL/MariaDB through a pool of plain sqlx connections, from N
//! concurrent loops for a fixed time, and prints throughput and latency in the same `RESULT` line format as the
//! wrk scripts (`bench/wrk/scenario.lua`), so `bench/run.sh` can put the API next to what the database alone does.
//!
//! The statements are the API's, byte for byte as sea-orm renders them for MySQL, with the same bind parameters and
//! prepared-statement caching (sea-orm runs on sqlx too). `--mode` picks how much of a request to replay:
//!
//! - `main`: the page query alone (the fair comparison: everything else the API adds is per-request overhead);
//! - `page`: the page query and its follow-ups (project keys, assignees, labels of the page's tasks);
//! - `request`: every statement of one API request: the token lookup, the membership (tenant scope), the project
//!   visibility check, then `page`.
//!
//! Each loop walks the same (project, Todo status, user) rotation as the wrk list script, starting at a different
//! offset.
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::mysql::{MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

#[derive(Parser)]
#[command(about = "Replays the task-list SQL of the API against MySQL/MariaDB and reports rps, p50 and p99")]
struct Args {
    /// The JSON summary printed by `taskforge admin seed-bench`.
    #[arg(long)]
    seed: std::path::PathBuf,
    #[arg(long, env = "TASKFORGE_DATABASE_URL")]
    database_url: String,
    /// Concurrent loops, and connections in the pool.
    #[arg(long, default_value_t = 32)]
    concurrency: u32,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    #[arg(long, value_enum, default_value_t = Mode::Main)]
    mode: Mode,
    /// Scenario name on the RESULT line.
    #[arg(long)]
    name: Option<String>,
    /// Page size, as `limit` in the API request (the query fetches one more row to know if there is a next page).
    #[arg(long, default_value_t = 50)]
    limit: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Main,
    Page,
    Request,
}

#[derive(Deserialize)]
struct Seed {
    org_id: Uuid,
    owner_id: Uuid,
    token: String,
    user_ids: Vec<Uuid>,
    projects: Vec<SeedProject>,
}

#[derive(Deserialize)]
struct SeedProject {
    id: Uuid,
    statuses: SeedStatuses,
}

#[derive(Deserialize)]
struct SeedStatuses {
    unstarted: Uuid,
}

/// One list request: the same triples, in the same order, as the `list.txt` paths bench/run.sh writes for wrk.
#[derive(Clone, Copy)]
struct Filter {
    project_id: Uuid,
    status_id: Uuid,
    user_id: Uuid,
}

const TASK_COLUMNS: &str = "`tasks`.`id`, `tasks`.`org_id`, `tasks`.`project_id`, `tasks`.`number`, \
    `tasks`.`title`, `tasks`.`description`, `tasks`.`status_id`, `tasks`.`priority`, `tasks`.`due_at`, \
    `tasks`.`start_at`, `tasks`.`estimate`, `tasks`.`parent_id`, `tasks`.`position`, `tasks`.`version`, \
    `tasks`.`completed_at`, `tasks`.`deleted_at`, `tasks`.`created_by`, `tasks`.`created_at`, `tasks`.`updated_at`";

const TOKEN_SQL: &str = "SELECT `api_tokens`.`id`, `api_tokens`.`user_id`, `api_tokens`.`name`, \
    `api_tokens`.`token_hash`, `api_tokens`.`prefix`, `api_tokens`.`scopes`, `api_tokens`.`expires_at`, \
    `api_tokens`.`last_used_at`, `api_tokens`.`revoked_at`, `api_tokens`.`created_at` FROM `api_tokens` \
    WHERE `api_tokens`.`token_hash` = ? LIMIT ?";
const MEMBERSHIP_SQL: &str = "SELECT `memberships`.`id`, `memberships`.`org_id`, `memberships`.`user_id`, \
    `memberships`.`role`, `memberships`.`created_at` FROM `memberships` WHERE `memberships`.`org_id` = ? \
    AND `memberships`.`user_id` = ? LIMIT ?";
const PROJECT_SQL: &str = "SELECT `projects`.`id`, `projects`.`org_id`, `projects`.`key`, `projects`.`name`, \
    `projects`.`description`, `projects`.`visibility`, `projects`.`next_number`, `projects`.`archived_at`, \
    `projects`.`created_by`, `projects`.`created_at`, `projects`.`updated_at` FROM `projects` \
    WHERE `projects`.`org_id` = ? AND `projects`.`id` = ? LIMIT ?";

/// The page query of `task_query::list` for one project, one status and one assignee: the page's ids picked in a
/// derived table, then their rows (a deferred join, see `task_query::list`).
fn main_sql() -> String {
    format!(
        "SELECT {TASK_COLUMNS} FROM `tasks` WHERE `tasks`.`org_id` = ? AND `tasks`.`id` IN (SELECT `id` FROM \
         (SELECT `tasks`.`id` FROM `tasks` WHERE `tasks`.`org_id` = ? AND `tasks`.`project_id` = ? \
         AND `tasks`.`deleted_at` IS NULL AND `tasks`.`status_id` IN (?) AND `tasks`.`id` IN \
         (SELECT `task_id` FROM `task_assignees` WHERE `task_assignees`.`org_id` = ? AND \
         `task_assignees`.`user_id` = ? AND `task_assignees`.`project_id` = ? AND `task_assignees`.`status_id` IN (?)) \
         ORDER BY `tasks`.`id` DESC LIMIT ?) AS `page`) ORDER BY `tasks`.`id` DESC"
    )
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The follow-ups of `tasks::views` for a page of `n` tasks.
struct FollowUps {
    keys: Vec<Arc<str>>,
    assignees: Vec<Arc<str>>,
    labels: Vec<Arc<str>>,
}

impl FollowUps {
    fn new(max_rows: usize) -> FollowUps {
        let by_count = |f: &dyn Fn(&str) -> String| -> Vec<Arc<str>> {
            (0..=max_rows).map(|n| Arc::from(f(&placeholders(n.max(1))))).collect()
        };
        FollowUps {
            keys: by_count(&|p| {
                format!(
                    "SELECT `projects`.`id`, `projects`.`key` FROM `projects` WHERE `projects`.`org_id` = ? AND \
                     `projects`.`id` IN ({p})"
                )
            }),
            assignees: by_count(&|p| {
                format!(
                    "SELECT `task_assignees`.`task_id`, `task_assignees`.`user_id`, `task_assignees`.`org_id` FROM \
                     `task_assignees` WHERE `task_assignees`.`org_id` = ? AND `task_assignees`.`task_id` IN ({p}) \
                     ORDER BY `task_assignees`.`user_id` ASC"
                )
            }),
            labels: by_count(&|p| {
                format!(
                    "SELECT `task_labels`.`task_id`, `task_labels`.`label_id`, `task_labels`.`org_id` FROM \
                     `task_labels` WHERE `task_labels`.`org_id` = ? AND `task_labels`.`task_id` IN ({p}) \
                     ORDER BY `task_labels`.`label_id` ASC"
                )
            }),
        }
    }
}

struct Workload {
    mode: Mode,
    org_id: Uuid,
    owner_id: Uuid,
    token_hash: String,
    limit: u64,
    main_sql: Arc<str>,
    follow_ups: FollowUps,
    filters: Vec<Filter>,
}

fn bytes(id: Uuid) -> Vec<u8> {
    id.as_bytes().to_vec()
}

impl Workload {
    /// Runs the statements of one list request; returns the number of tasks on the page.
    async fn run_once(&self, pool: &MySqlPool, f: Filter) -> Result<usize, sqlx::Error> {
        if self.mode == Mode::Request {
            sqlx::query(TOKEN_SQL).bind(&self.token_hash).bind(1u64).fetch_optional(pool).await?;
            sqlx::query(MEMBERSHIP_SQL)
                .bind(bytes(self.org_id))
                .bind(bytes(self.owner_id))
                .bind(1u64)
                .fetch_optional(pool)
                .await?;
            sqlx::query(PROJECT_SQL)
                .bind(bytes(self.org_id))
                .bind(bytes(f.project_id))
                .bind(1u64)
                .fetch_optional(pool)
                .await?;
        }
        let rows: Vec<MySqlRow> = sqlx::query(AssertSqlSafe(self.main_sql.clone()))
            .bind(bytes(self.org_id))
            .bind(bytes(self.org_id))
            .bind(bytes(f.project_id))
            .bind(bytes(f.status_id))
            .bind(bytes(self.org_id))
            .bind(bytes(f.user_id))
            .bind(bytes(f.project_id))
            .bind(bytes(f.status_id))
            .bind(self.limit + 1)
            .fetch_all(pool)
            .await?;
        let mut page = Vec::with_capacity(rows.len());
        let mut projects = HashSet::new();
        for row in rows.iter().take(self.limit as usize) {
            page.push(row.try_get::<Vec<u8>, _>(0)?);
            projects.insert(row.try_get::<Vec<u8>, _>(2)?);
        }
        if self.mode == Mode::Main || page.is_empty() {
            return Ok(page.len());
        }
        let mut q = sqlx::query(AssertSqlSafe(self.follow_ups.keys[projects.len()].clone())).bind(bytes(self.org_id));
        for p in projects {
            q = q.bind(p);
        }
        q.fetch_all(pool).await?;
        for sql in [&self.follow_ups.assignees[page.len()], &self.follow_ups.labels[page.len()]] {
            let mut q = sqlx::query(AssertSqlSafe(sql.clone())).bind(bytes(self.org_id));
            for id in &page {
                q = q.bind(id.clone());
            }
            q.fetch_all(pool).await?;
        }
        Ok(page.len())
    }
}

/// What one loop measured.
#[derive(Default)]
struct LoopResult {
    latencies_us: Vec<u32>,
    errors: u64,
    rows: u64,
}

async fn run_loop(workload: Arc<Workload>, pool: MySqlPool, offset: usize, deadline: Instant) -> LoopResult {
    let mut result = LoopResult::default();
    let mut i = offset;
    while Instant::now() < deadline {
        let f = workload.filters[i % workload.filters.len()];
        i += 1;
        let started = Instant::now();
        match workload.run_once(&pool, f).await {
            Ok(n) => {
                result.latencies_us.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
                result.rows += n as u64;
            }
            Err(e) => {
                if result.errors == 0 {
                    eprintln!("query failed: {e}");
                }
                result.errors += 1;
            }
        }
    }
    result
}

fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let raw = std::fs::read_to_string(&args.seed).with_context(|| format!("reading {}", args.seed.display()))?;
    let seed: Seed = serde_json::from_str(&raw).context("parsing the seed summary")?;
    // The same rotation as bench/run.sh writes for wrk: for every user, every project with its Todo status.
    let filters: Vec<Filter> = seed
        .user_ids
        .iter()
        .flat_map(|u| {
            seed.projects.iter().map(|p| Filter { project_id: p.id, status_id: p.statuses.unstarted, user_id: *u })
        })
        .collect();
    anyhow::ensure!(!filters.is_empty(), "the seed has no projects or no users");
    let workload = Arc::new(Workload {
        mode: args.mode,
        org_id: seed.org_id,
        owner_id: seed.owner_id,
        token_hash: hex::encode(Sha256::digest(seed.token.as_bytes())),
        limit: args.limit,
        main_sql: Arc::from(main_sql()),
        follow_ups: FollowUps::new(args.limit as usize),
        filters,
    });
    let url = args.database_url.replacen("mariadb://", "mysql://", 1);
    let pool = MySqlPoolOptions::new()
        .max_connections(args.concurrency)
        .min_connections(args.concurrency)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await
        .context("connecting to the database")?;
    // Open every connection and prepare the statements before the clock starts, as a warm API pool would have.
    let warm: Vec<_> = (0..args.concurrency as usize)
        .map(|i| {
            let (w, p) = (workload.clone(), pool.clone());
            tokio::spawn(async move { w.run_once(&p, w.filters[i % w.filters.len()]).await })
        })
        .collect();
    for w in warm {
        w.await?.context("warm-up query")?;
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let loops: Vec<_> = (0..args.concurrency as usize)
        .map(|i| {
            let offset = i * workload.filters.len() / args.concurrency as usize;
            tokio::spawn(run_loop(workload.clone(), pool.clone(), offset, deadline))
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut errors, mut rows) = (0, 0);
    for l in loops {
        let r = l.await?;
        latencies.extend(r.latencies_us);
        errors += r.errors;
        rows += r.rows;
    }
    let elapsed = started.elapsed().as_secs_f64();
    pool.close().await;
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    let name = args.name.unwrap_or_else(|| {
        match args.mode {
            Mode::Main => "raw-main",
            Mode::Page => "raw-page",
            Mode::Request => "raw-request",
        }
        .to_owned()
    });
    println!(
        "RESULT {name} rps={:.1} p50_ms={:.2} p99_ms={:.2} requests={requests} non2xx={errors} errors=0 \
         rows_per_request={:.1}",
        requests as f64 / elapsed,
        percentile_ms(&latencies, 50.0),
        percentile_ms(&latencies, 99.0),
        if requests > 0 { rows as f64 / requests as f64 } else { 0.0 },
    );
    anyhow::ensure!(errors == 0, "{errors} queries failed");
    Ok(())
}
