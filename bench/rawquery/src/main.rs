//! The database-side baseline of `make bench`: runs the SQL that `GET /orgs/{org}/projects/{p}/tasks?status=…&
//! assignee=…&limit=50` issues, straight against MySQL/MariaDB through a pool of plain sqlx connections, from N
//! concurrent loops for a fixed time, and prints throughput and latency in the same `RESULT` line format as the
//! wrk scripts (`bench/wrk/scenario.lua`), so `bench/run.sh` can put the API next to what the database alone does.
//!
//! The statements are the API's, byte for byte as sea-orm renders them for MySQL, with the same bind parameters and
//! prepared-statement caching (sea-orm runs on sqlx too). It is the page query, which returns everything the page
//! shows, the tasks' assignees and labels included, and the only statement a list request sends once the read cache
//! holds the caller's token, their membership and the project's gate (`project_access::visible_project_gate`).
//!
//! Each loop walks the same (project, Todo status, user) rotation as the wrk list script, starting at a different
//! offset.
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde::Deserialize;
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
    /// Scenario name on the RESULT line.
    #[arg(long, default_value = "raw-main")]
    name: String,
    /// Page size, as `limit` in the API request (the query fetches one more row to know if there is a next page).
    #[arg(long, default_value_t = 50)]
    limit: u64,
}

#[derive(Deserialize)]
struct Seed {
    org_id: Uuid,
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
    `tasks`.`started_at`, `tasks`.`completed_at`, `tasks`.`deleted_at`, `tasks`.`created_by`, `tasks`.`created_at`, `tasks`.`updated_at`";

/// The copies of the assignees' and labels' ids on each page row (`task_links::with_links`).
const LINKED_COLUMNS: &str = "`tasks`.`assignee_ids` AS `assignee_ids`, `tasks`.`label_ids` AS `label_ids`";

/// The page query of `task_query::list` for one project, one status and one assignee: the assignee's tasks in the
/// project and status read directly, newest first, one more than the page (see `task_query::list`).
fn main_sql() -> String {
    format!(
        "SELECT {TASK_COLUMNS}, {LINKED_COLUMNS} FROM `tasks` WHERE `tasks`.`org_id` = ? AND `tasks`.`project_id` = ? \
         AND `tasks`.`deleted_at` IS NULL AND `tasks`.`status_id` IN (?) AND `tasks`.`id` IN \
         (SELECT `task_id` FROM `task_assignees` WHERE `task_assignees`.`org_id` = ? AND \
         `task_assignees`.`user_id` = ? AND `task_assignees`.`project_id` = ? AND `task_assignees`.`status_id` IN (?)) \
         ORDER BY `tasks`.`id` DESC LIMIT ?"
    )
}

struct Workload {
    org_id: Uuid,
    limit: u64,
    main_sql: Arc<str>,
    filters: Vec<Filter>,
}

fn bytes(id: Uuid) -> Vec<u8> {
    id.as_bytes().to_vec()
}

impl Workload {
    /// Runs the page query of one list request; returns the number of tasks on the page.
    async fn run_once(&self, pool: &MySqlPool, f: Filter) -> Result<usize, sqlx::Error> {
        let rows: Vec<MySqlRow> = sqlx::query(AssertSqlSafe(self.main_sql.clone()))
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
        // Decode what the API reads of each row, so both sides pay for the same bytes.
        for row in rows.iter().take(self.limit as usize) {
            row.try_get::<Vec<u8>, _>(0)?;
            row.try_get::<Option<String>, _>("assignee_ids")?;
            row.try_get::<Option<String>, _>("label_ids")?;
        }
        Ok(rows.len().min(self.limit as usize))
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
    let workload =
        Arc::new(Workload { org_id: seed.org_id, limit: args.limit, main_sql: Arc::from(main_sql()), filters });
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
    let name = args.name;
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
