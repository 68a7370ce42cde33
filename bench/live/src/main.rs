//! `make bench` (live): opens `--clients` Server-Sent Event streams on one project, then renames one task
//! `--writes` times at `--rate` per second through the API, and times each rename from the start of its PATCH
//! until each stream received it (write → outbox → relay → publish → bus → every stream). Prints one
//! `RESULT clients=… deliveries=… p50_ms=… p99_ms=… max_ms=…` line; any stream that misses a rename within
//! `--deadline` seconds fails the run.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::{json, Value};
use testkit::sse::SseStream;
use tokio::sync::{mpsc, Mutex};

#[derive(Parser)]
struct Args {
    /// The API's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    base: String,
    #[arg(long)]
    token: String,
    #[arg(long)]
    org: String,
    #[arg(long)]
    project: String,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    #[arg(long, default_value_t = 100)]
    writes: usize,
    /// Renames per second.
    #[arg(long, default_value_t = 10)]
    rate: u32,
    /// Seconds every stream has to receive every rename.
    #[arg(long, default_value_t = 30)]
    deadline: u64,
}

/// The rename number a stream message carries, if it is one of this run's renames.
fn rename_of(message: &testkit::sse::SseMessage) -> Option<usize> {
    let event: Value = serde_json::from_str(&message.data).ok()?;
    if event["type"] != "task.updated" {
        return None;
    }
    let changes = event["changes"].as_array()?;
    let title = changes.iter().find(|c| c["field"] == "title")?["to"].as_str()?;
    title.strip_prefix("live-")?.parse().ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let api = format!("{}/api/v1/orgs/{}", args.base, args.org);
    let http = reqwest::Client::builder().pool_max_idle_per_host(4).build()?;
    let task: Value = http
        .post(format!("{api}/projects/{}/tasks", args.project))
        .bearer_auth(&args.token)
        .json(&json!({"title": "live-0"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let task_url = format!("{api}/tasks/{}", task["id"].as_str().context("the created task has an id")?);

    // Every stream reports (rename, arrival) on one channel.
    let (tx, mut arrivals) = mpsc::unbounded_channel::<(usize, Instant)>();
    let stream_url = format!("{api}/stream?project_id={}", args.project);
    let opened = Arc::new(Mutex::new(0usize));
    let mut openers = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let (http, url, token, tx, opened) =
            (http.clone(), stream_url.clone(), args.token.clone(), tx.clone(), opened.clone());
        openers.spawn(async move {
            let mut stream = SseStream::open(&http, &url, &token, None).await;
            *opened.lock().await += 1;
            tokio::spawn(async move {
                while let Some(message) = stream.next_within(Duration::from_secs(3600)).await {
                    if let Some(n) = rename_of(&message) {
                        if tx.send((n, Instant::now())).is_err() {
                            break;
                        }
                    }
                }
            });
        });
        // Open in waves, as browsers arrive, instead of one SYN flood.
        if openers.len() >= 64 {
            openers.join_next().await.transpose()?;
        }
    }
    while openers.join_next().await.transpose()?.is_some() {}
    drop(tx);
    eprintln!("{} streams open", *opened.lock().await);

    let (rename_http, rename_token) = (http.clone(), args.token.clone());
    let rename = move |n: usize| {
        let (http, url, token) = (rename_http.clone(), task_url.clone(), rename_token.clone());
        async move {
            http.patch(url)
                .bearer_auth(token)
                .json(&json!({"title": format!("live-{n}")}))
                .send()
                .await?
                .error_for_status()?;
            anyhow::Ok(())
        }
    };
    // Warm-up: one rename every stream must see before timing starts (connections, pools and caches warm).
    rename(1).await?;
    let deadline = Duration::from_secs(args.deadline);
    let mut got = 0;
    let warm_until = Instant::now() + deadline;
    while got < args.clients {
        match tokio::time::timeout_at(warm_until.into(), arrivals.recv()).await {
            Ok(Some((1, _))) => got += 1,
            Ok(Some(_)) => {}
            _ => bail!("only {got} of {} streams received the warm-up rename within {deadline:?}", args.clients),
        }
    }

    let sent: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let writer = {
        let sent = sent.clone();
        let every = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
        let writes = args.writes;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            for n in 2..writes + 2 {
                tick.tick().await;
                sent.lock().await.insert(n, Instant::now());
                rename(n).await?;
            }
            anyhow::Ok(())
        })
    };
    let expected = args.clients * args.writes;
    let mut arrived: Vec<(usize, Instant)> = Vec::with_capacity(expected);
    let started = Instant::now();
    let mut last_write_done: Option<Instant> = None;
    while arrived.len() < expected {
        let limit = last_write_done.map_or(started + deadline * 10, |t| t + deadline);
        match tokio::time::timeout_at(limit.into(), arrivals.recv()).await {
            Ok(Some((n, at))) if n >= 2 => arrived.push((n, at)),
            Ok(Some(_)) => {}
            _ => break,
        }
        if last_write_done.is_none() && writer.is_finished() {
            last_write_done = Some(Instant::now());
        }
    }
    writer.await??;
    let sent = sent.lock().await;
    let mut delays: Vec<f64> =
        arrived.iter().filter_map(|(n, at)| Some(at.duration_since(*sent.get(n)?).as_secs_f64() * 1000.0)).collect();
    if delays.len() < expected {
        bail!("{} of {expected} deliveries arrived within the deadline", delays.len());
    }
    delays.sort_by(f64::total_cmp);
    let pct = |p: f64| delays[((delays.len() as f64 * p).ceil() as usize).clamp(1, delays.len()) - 1];
    println!(
        "RESULT clients={} deliveries={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        args.clients,
        delays.len(),
        pct(0.50),
        pct(0.99),
        delays[delays.len() - 1]
    );
    Ok(())
}
