//! `taskforge jobs …`: what operators need to see and steer the queues: per-pool counters, dead letters, redrive
//! and purge; and `enqueue-noop`, which loads a queue with no-op jobs for throughput benchmarks (`make bench`).
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Subcommand;
use platform::jobs::{Envelope, FailedJob, Job, Pool};
use platform::Config;
use uuid::Uuid;

/// Subcommands of `taskforge jobs`.
#[derive(Subcommand)]
pub enum JobsCommand {
    /// Depth, in flight, delayed, dead letters and age of the oldest ready job, per pool (SQS does not report the
    /// age: n/a; see the queue's CloudWatch metric ApproximateAgeOfOldestMessage).
    Stats,
    /// Dead letters.
    Failed {
        #[command(subcommand)]
        command: FailedCommand,
    },
    /// Move dead letters back to their queue with a fresh attempt count.
    Retry {
        /// One dead letter by id.
        id: Option<Uuid>,
        /// Every dead letter (of `--pool`, if given).
        #[arg(long, conflicts_with = "id")]
        all: bool,
        #[arg(long, requires = "all")]
        pool: Option<Pool>,
    },
    /// Delete dead letters (of one pool, or all).
    Purge {
        #[arg(long)]
        pool: Option<Pool>,
    },
    /// Enqueue no-op jobs (pool notifications) in batches, one `send` per batch, and print the enqueue rate as
    /// JSON: load for throughput benchmarks.
    EnqueueNoop {
        /// Jobs in all.
        #[arg(long)]
        count: usize,
        /// Jobs per `send` (one transaction and multi-row INSERT on the database queue).
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
}

/// Subcommands of `taskforge jobs failed`.
#[derive(Subcommand)]
pub enum FailedCommand {
    /// Newest dead letters first.
    List {
        #[arg(long)]
        pool: Option<Pool>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// One dead letter with its body and reason.
    Show { id: Uuid },
}

fn secs(d: Duration) -> String {
    format!("{:.0}s", d.as_secs_f64())
}

fn one_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max - 1).collect::<String>())
    } else {
        line.to_owned()
    }
}

fn show(job: &FailedJob) {
    println!("id:          {}", job.id);
    println!("pool:        {}", job.pool);
    println!("type:        {}", job.job_type);
    println!("org:         {}", job.org_id.map(|o| o.to_string()).unwrap_or_else(|| "-".into()));
    println!("attempts:    {}", job.attempts);
    println!("enqueued at: {}", job.enqueued_at.to_rfc3339());
    println!("failed at:   {}", job.failed_at.to_rfc3339());
    println!("reason:      {}", job.reason);
    let body = serde_json::from_str::<serde_json::Value>(&job.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| job.body.clone());
    println!("body:\n{body}");
}

/// Runs one operator command against the configured queue.
pub async fn run(config: Config, command: JobsCommand) -> anyhow::Result<()> {
    let db = platform::db::connect(&config).await?;
    let queue = platform::jobs::connect_queue(&config, &db).await?;
    match command {
        JobsCommand::Stats => {
            println!(
                "{:<14} {:>8} {:>9} {:>8} {:>12} {:>11}",
                "pool", "depth", "in_flight", "delayed", "dead_letters", "oldest_age"
            );
            for s in queue.stats().await? {
                println!(
                    "{:<14} {:>8} {:>9} {:>8} {:>12} {:>11}",
                    s.pool.name(),
                    s.depth,
                    s.in_flight,
                    s.delayed,
                    s.dead_letters,
                    s.oldest_age.map_or_else(|| "n/a".to_owned(), secs)
                );
            }
        }
        JobsCommand::Failed { command: FailedCommand::List { pool, limit } } => {
            let jobs = queue.failed_list(pool, limit).await?;
            if jobs.is_empty() {
                println!("no dead letters");
            }
            for j in jobs {
                println!(
                    "{}  {:<13} {:<14} attempts={} failed_at={}  {}",
                    j.id,
                    j.pool.name(),
                    j.job_type,
                    j.attempts,
                    j.failed_at.format("%Y-%m-%d %H:%M:%S"),
                    one_line(&j.reason, 80)
                );
            }
        }
        JobsCommand::Failed { command: FailedCommand::Show { id } } => match queue.failed_show(id).await? {
            Some(job) => show(&job),
            None => bail!("no dead letter {id}"),
        },
        JobsCommand::Retry { id: Some(id), .. } => match queue.retry_failed(Some(id), None).await? {
            0 => bail!("no dead letter {id}"),
            _ => println!("requeued {id}"),
        },
        JobsCommand::Retry { id: None, all: true, pool } => {
            let n = queue.retry_failed(None, pool).await?;
            println!("requeued {n} dead letter(s)");
        }
        JobsCommand::Retry { id: None, all: false, .. } => bail!("name a dead letter id, or pass --all"),
        JobsCommand::Purge { pool } => {
            let n = queue.purge_failed(pool).await?;
            println!("deleted {n} dead letter(s)");
        }
        JobsCommand::EnqueueNoop { count, batch } => {
            if batch == 0 {
                bail!("--batch must be at least 1");
            }
            // The envelopes are built before the clock starts, so the rate is the queue's, not serde's.
            let envelopes: Vec<Envelope> =
                (0..count).map(|i| Envelope::new(Job::Noop { label: format!("bench-{i}") }, None)).collect();
            let started = Instant::now();
            for chunk in envelopes.chunks(batch) {
                queue.enqueue(chunk, Duration::ZERO).await?;
            }
            let seconds = started.elapsed().as_secs_f64();
            let report = serde_json::json!({
                "jobs": count,
                "batch": batch,
                "seconds": seconds,
                "jobs_per_second": count as f64 / seconds.max(f64::EPSILON),
            });
            println!("{report}");
        }
    }
    Ok(())
}
