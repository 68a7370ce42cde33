//! The `taskforge` binary: one executable for every role. `serve` runs everything in one process on embedded
//! defaults; `api` runs the HTTP API alone and `worker` one job pool (production); `migrate`, `openapi`, `jobs` and
//! `admin` are operator tools.
use anyhow::Context;
use clap::{Parser, Subcommand};
use platform::Config;

mod admin;
mod demo;
mod jobs_cli;
mod seed;
mod seed_events;
mod worker_cli;

/// mimalloc rather than the system allocator: serving a task list allocates per row and per field (decoding,
/// serialising), and glibc's malloc and free took a fifth of the API's CPU under list load (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "taskforge", version, about = "Task management and analytics for teams")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: migrations, API, web app (SQLite and local files by default).
    Serve {
        /// Seed a demo org with users, projects and tasks, and print the login.
        #[arg(long)]
        demo: bool,
    },
    /// Run the HTTP API only (migrations are a separate `migrate` step in production).
    Api,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
    /// Run one worker pool and an outbox relay (production); SIGTERM drains.
    Worker(worker_cli::WorkerArgs),
    /// Inspect and steer the job queues: stats, dead letters, retry, purge.
    Jobs {
        #[command(subcommand)]
        command: jobs_cli::JobsCommand,
    },
    /// Operator commands.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Openapi { output } = &cli.command {
        let spec = api::openapi_json();
        match output {
            Some(path) => std::fs::write(path, spec + "\n").with_context(|| format!("writing {}", path.display()))?,
            None => println!("{spec}"),
        }
        return Ok(());
    }
    let config = Config::load()?;
    platform::telemetry::init(&config);
    match cli.command {
        Command::Serve { demo } => serve(config, demo, true).await,
        Command::Api => serve(config, false, false).await,
        Command::Migrate => {
            let db = platform::db::connect(&config).await?;
            platform::db::migrate(&db).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Admin { command: admin::AdminCommand::AwsBootstrap } => admin::aws_bootstrap(&config).await,
        Command::Admin { command } => {
            let db = platform::db::connect(&config).await?;
            platform::db::migrate(&db).await?;
            admin::run(&api::AppState::new(db, config)?, command).await
        }
        Command::Worker(args) => worker_cli::run(config, args).await,
        Command::Jobs { command } => jobs_cli::run(config, command).await,
        Command::Openapi { .. } => unreachable!("handled before configuration is loaded"),
    }
}

async fn serve(config: Config, demo: bool, embedded: bool) -> anyhow::Result<()> {
    let db = platform::db::connect(&config).await?;
    if embedded {
        platform::db::migrate(&db).await?;
    }
    let addr = config.http_addr;
    let public_url = config.public_url.clone();
    // The API enqueues too (account mail), on the same queue the workers drain.
    let queue = platform::jobs::connect_queue(&config, &db).await?;
    // One bus for the process: the embedded publisher and the SSE streams meet on it.
    let bus = platform::bus::bus_from_config(&config).await?;
    if !embedded && config.bus_redis_url.is_none() {
        tracing::warn!(
            "TASKFORGE_BUS is `memory`: live streams of this process only see events published by this process, \
             and its cached analytics only learn of changes when they expire (a minute); set TASKFORGE_BUS to a \
             redis:// URL when workers run separately"
        );
    }
    let workers =
        if embedded { Some(worker_cli::start_embedded(&config, &db, queue.clone(), bus.clone()).await?) } else { None };
    let storage = platform::storage::storage_from_config(&config).await?;
    let events = platform::events::event_store_from_config(&config, &db).await?;
    let cache = platform::cache::cache_from_config(&config)?;
    if !embedded && config.cache == platform::config::CacheKind::Memory {
        tracing::warn!(
            "TASKFORGE_CACHE is `memory`: with several API processes each keeps its own cache, and a revoked token \
             or a changed role can be honoured by the others for up to a minute; set TASKFORGE_CACHE to a \
             redis:// URL (or `none`) when more than one API process runs"
        );
    }
    let state = api::AppState::new(db, config)?
        .with_queue(queue)
        .with_storage(storage)
        .with_events(events)
        .with_bus(bus)
        .with_cache(cache);
    if demo {
        let login = demo::seed(&state).await.context("seeding the demo data")?;
        println!("Demo data ready. Sign in as {} with password {}", login.email, login.password);
        println!("API token for scripts: {}", login.token);
    }
    let app = api::RunningApp::start(state, addr).await.with_context(|| format!("binding {addr}"))?;
    println!("Taskforge is listening on http://{}", app.addr);
    println!("  API:     {public_url}/api/v1");
    println!("  Docs:    {public_url}/docs");
    println!("  OpenAPI: {public_url}/openapi.json");
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    app.stop().await?;
    if let Some(workers) = workers {
        workers.shutdown().await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler cannot fail on unix");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
