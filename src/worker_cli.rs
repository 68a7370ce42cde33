//! `taskforge worker --pool NAME`: one pool's runtime plus an outbox relay, drained on SIGTERM/SIGINT; and the
//! in-process pools of `serve`.
use std::sync::Arc;

use anyhow::{bail, Context};
use platform::bus::Bus;
use platform::jobs::{connect_queue, Pool, Queue};
use platform::Config;
use sea_orm::DatabaseConnection;
use workers::{FileDeps, MailDeps, Workers, WorkersConfig};

/// Arguments of `taskforge worker`.
#[derive(clap::Args)]
pub struct WorkerArgs {
    /// The pool to run: notifications, images, reports, reminders, scans or scheduler.
    #[arg(long)]
    pool: Pool,
    /// Jobs run at once (default: the pool's setting).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Serve Prometheus metrics (`/metrics`) and `/healthz` on this address, e.g. `0.0.0.0:9090`.
    #[arg(long, env = "TASKFORGE_WORKER_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

/// Runs one pool until SIGTERM/SIGINT, then drains it.
pub async fn run(config: Config, args: WorkerArgs) -> anyhow::Result<()> {
    if args.concurrency == Some(0) {
        bail!("--concurrency must be at least 1");
    }
    let db = platform::db::connect(&config).await?;
    let queue = connect_queue(&config, &db).await?;
    let mail = MailDeps::from_config(&config).await?;
    let files = FileDeps::from_config(&config).await?;
    let events = platform::events::event_store_from_config(&config, &db).await?;
    // A separate worker only reaches the API processes' streams through Redis; with the in-process bus its
    // publishes would go nowhere, so it publishes nothing and clients catch up from the event store.
    let bus = match config.bus_redis_url {
        Some(_) => Some(platform::bus::bus_from_config(&config).await?),
        None => None,
    };
    let metrics = match args.metrics_addr {
        Some(addr) => Some(
            api::RunningApp::start_metrics(addr)
                .await
                .with_context(|| format!("binding the metrics address {addr}"))?,
        ),
        None => None,
    };
    let workers = Workers::start(
        &db,
        queue,
        WorkersConfig {
            pools: vec![args.pool],
            concurrency: args.concurrency,
            relay: true,
            mail,
            files,
            events,
            bus,
            scheduler_tick: None,
        },
    );
    crate::shutdown_signal().await;
    tracing::info!(pool = args.pool.name(), "shutting down: draining jobs");
    workers.shutdown().await;
    if let Some(m) = metrics {
        m.stop().await?;
    }
    Ok(())
}

/// Starts every pool and the outbox relay inside `serve`.
pub async fn start_embedded(
    config: &Config,
    db: &DatabaseConnection,
    queue: Arc<dyn Queue>,
    bus: Arc<dyn Bus>,
) -> anyhow::Result<Workers> {
    let scheduler_tick = Some(config.scheduler_tick);
    let mail = MailDeps::from_config(config).await?;
    let files = FileDeps::from_config(config).await?;
    let events = platform::events::event_store_from_config(config, db).await?;
    Ok(Workers::start(
        db,
        queue,
        WorkersConfig {
            pools: Pool::ALL.to_vec(),
            concurrency: None,
            relay: true,
            mail,
            files,
            events,
            bus: Some(bus),
            scheduler_tick,
        },
    ))
}
