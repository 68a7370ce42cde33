//! A real `taskforge worker` process killed with SIGKILL in the middle of a job: the job becomes visible again when
//! its visibility timeout runs out, a second worker runs it, and its effect (a `processed_jobs` row) exists once.
//! Run against the database queue (a SQLite file shared by the processes) and against SQS on moto, where the
//! queues come from `taskforge admin aws-bootstrap`.
#![allow(clippy::disallowed_methods)] // the test reads processed_jobs, which is not tenant data

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use entities::tables::processed_jobs;
use platform::jobs::{connect_queue, Envelope, Job, Pool, Queue, SqsQueue};
use platform::Config;
use sea_orm::{DatabaseConnection, EntityTrait};
use uuid::Uuid;

/// How long the test job runs: long enough to be killed in the middle, short enough for a quick second run.
const JOB_MS: u64 = 3000;

/// A private data directory and the environment every process of the test shares.
struct Deployment {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Deployment {
    fn new(queue: &str, aws_url: Option<&str>) -> Deployment {
        let dir = std::env::temp_dir().join(format!("taskforge-worker-test-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut env = vec![
            ("TASKFORGE_CONFIG".into(), dir.join("absent.toml").display().to_string()),
            ("TASKFORGE_DATA_DIR".into(), dir.display().to_string()),
            ("TASKFORGE_DATABASE_URL".into(), format!("sqlite://{}", dir.join("taskforge.db").display())),
            ("TASKFORGE_QUEUE".into(), queue.into()),
            ("TASKFORGE_LOG".into(), "warn".into()),
            ("TASKFORGE_NOOP_TEST_MODE".into(), "1".into()),
        ];
        if let Some(url) = aws_url {
            let prefix = format!("tfp-{}", &Uuid::now_v7().simple().to_string()[20..]);
            env.push(("TASKFORGE_SQS_PREFIX".into(), prefix.clone()));
            env.push(("TASKFORGE_AWS_ENDPOINT_URL".into(), url.into()));
            env.push(("TASKFORGE_MAIL_FROM".into(), format!("{prefix}@example.com")));
        }
        Deployment { dir, env }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskforge"));
        cmd.args(args).current_dir(&self.dir).envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs a command to completion and returns its standard output.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("running taskforge");
        assert!(out.status.success(), "taskforge {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn worker(&self) -> Child {
        self.worker_with(&[])
    }

    fn worker_with(&self, extra: &[&str]) -> Child {
        let mut args = vec!["worker", "--pool", "notifications"];
        args.extend_from_slice(extra);
        self.command(&args).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("starting a worker")
    }

    /// The same configuration in this process, from the same pairs.
    fn config(&self) -> Config {
        let pairs: Vec<(String, String)> = self
            .env
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("TASKFORGE_")?.to_ascii_lowercase(), v.clone())))
            .filter(|(k, _)| k != "config" && k != "noop_test_mode")
            .collect();
        Config::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.clone()))).expect("the test configuration is valid")
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn poll<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn notifications(queue: &dyn Queue) -> (u64, u64, u64) {
    let stats = queue.stats().await.expect("queue stats");
    let s = stats.into_iter().find(|s| s.pool == Pool::Notifications).unwrap();
    (s.depth, s.in_flight, s.dead_letters)
}

async fn processed(db: &DatabaseConnection, id: Uuid) -> bool {
    processed_jobs::Entity::find_by_id(id).one(db).await.unwrap().is_some()
}

async fn killed_worker_job_completes_once(deployment: Deployment) {
    deployment.run(&["migrate"]);
    let config = deployment.config();
    let db = platform::db::connect(&config).await.unwrap();
    let queue = connect_queue(&config, &db).await.unwrap();
    let job = Envelope::new(Job::Noop { label: format!("sleep:{JOB_MS}") }, None);
    queue.enqueue(std::slice::from_ref(&job), Duration::ZERO).await.unwrap();

    let mut doomed = deployment.worker();
    poll(Duration::from_secs(30), "the first worker to claim the job", || async {
        notifications(&*queue).await.1 == 1
    })
    .await;
    doomed.kill().expect("SIGKILL");
    doomed.wait().unwrap();
    let killed_at = Instant::now();
    assert!(!processed(&db, job.job_id).await, "the job was killed before it finished");

    // A free port for the rescuer's metrics endpoint.
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let mut rescuer = deployment.worker_with(&["--metrics-addr", &metrics_addr]);
    let visibility = Pool::Notifications.settings().visibility_timeout;
    poll(visibility + Duration::from_secs(30), "the second worker to complete the job", || async {
        processed(&db, job.job_id).await && notifications(&*queue).await == (0, 0, 0)
    })
    .await;
    // The lease of the killed worker had to run out first (less the few hundred milliseconds it held the job).
    assert!(killed_at.elapsed() >= visibility - Duration::from_secs(2), "rerun after {:?}", killed_at.elapsed());

    // A standalone worker serves its own metrics for Prometheus to scrape.
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("taskforge_jobs_processed_total{") && l.contains("pool=\"notifications\"")),
        "{metrics}"
    );

    // SIGTERM drains: the idle worker stops cleanly.
    let term = Command::new("kill").args(["-TERM", &rescuer.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = rescuer.wait().unwrap();
    assert!(status.success(), "the worker exits cleanly on SIGTERM: {status}");
    assert!(queue.failed_list(None, 10).await.unwrap().is_empty());
    assert!(processed(&db, job.job_id).await);
    operator_commands_work(&deployment, &*queue).await;
}

/// `taskforge jobs …` go through the same queue port: stats, a dead letter listed, shown, retried and purged.
async fn operator_commands_work(deployment: &Deployment, queue: &dyn Queue) {
    let stats = deployment.run(&["jobs", "stats"]);
    let row = stats.lines().find(|l| l.starts_with("notifications")).expect("a notifications row");
    assert_eq!(row.split_whitespace().take(5).collect::<Vec<_>>(), ["notifications", "0", "0", "0", "0"], "{stats}");

    let job = Envelope::new(Job::Noop { label: "broken".into() }, None);
    queue.enqueue(std::slice::from_ref(&job), Duration::ZERO).await.unwrap();
    let claim = || async {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(m) = queue.claim_batch(Pool::Notifications, 1, Duration::from_secs(30)).await.unwrap().pop() {
                return m;
            }
            assert!(Instant::now() < deadline, "the job never became claimable");
        }
    };
    assert!(queue.dead_letter(&claim().await, "the handler gave up").await.unwrap());
    let id = job.job_id.to_string();
    assert!(deployment.run(&["jobs", "failed", "list"]).contains(&id));
    assert!(deployment.run(&["jobs", "failed", "show", &id]).contains("the handler gave up"));
    assert!(deployment.run(&["jobs", "retry", &id]).contains("requeued"));
    assert!(queue.dead_letter(&claim().await, "still broken").await.unwrap());
    assert!(deployment.run(&["jobs", "purge"]).contains("deleted 1 dead letter(s)"));
    assert!(deployment.run(&["jobs", "failed", "list"]).contains("no dead letters"));
}

fn aws_url() -> String {
    std::env::var("TASKFORGE_TEST_AWS_URL").unwrap_or_else(|_| "http://127.0.0.1:5055".into())
}

/// Whether moto answers; under `CI=true` an unreachable moto fails the test.
fn moto_reachable(url: &str) -> bool {
    let authority = url.split("://").nth(1).unwrap_or(url).split('/').next().unwrap_or("");
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|addr| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if !reachable {
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "moto at {url} is unreachable and CI=true");
        eprintln!("skipping: moto at {url} is unreachable");
    }
    reachable
}

#[tokio::test]
async fn a_killed_workers_job_completes_once_on_the_database_queue() {
    killed_worker_job_completes_once(Deployment::new("database", None)).await;
}

#[tokio::test]
async fn a_killed_workers_job_completes_once_on_sqs() {
    let url = aws_url();
    if !moto_reachable(&url) {
        return;
    }
    let deployment = Deployment::new("sqs", Some(&url));
    let sqs = SqsQueue::from_config(&deployment.config()).await;
    // A worker refuses to start without its queues; bootstrap makes them, and a second run changes nothing.
    let first = deployment.run(&["admin", "aws-bootstrap"]);
    assert!(first.contains("13 created, 0 already present"), "{first}");
    let second = deployment.run(&["admin", "aws-bootstrap"]);
    assert!(second.contains("0 created, 13 already present"), "{second}");
    killed_worker_job_completes_once(deployment).await;
    for name in sqs.queue_names() {
        if let Ok(Some(url)) = sqs.client().get_queue_url().queue_name(name).send().await.map(|r| r.queue_url) {
            let _ = sqs.client().delete_queue().queue_url(url).send().await;
        }
    }
}
