//! Test harness: a private, migrated database per test (a SQLite file, or a fresh MariaDB database dropped
//! afterwards, also when the test panics), a queue over it with a manual clock, and `eventually` for polling.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use platform::jobs::{Clock, DbQueue, Envelope, Job, Queue};
use platform::Config;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tokio::sync::watch;
use uuid::Uuid;
use workers::{DrainReport, Registry, Runtime, RuntimeOptions};

/// Runs each listed test on SQLite and on MariaDB.
///
/// MariaDB comes from `TASKFORGE_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`). When it is unreachable
/// the MariaDB variant fails under `CI=true` and is skipped with a message elsewhere.
macro_rules! both_backends {
    ($( $(#[$meta:meta])* async fn $name:ident($t:ident: TestDb) $body:block )*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let $t = $crate::common::TestDb::new($crate::common::Backend::Sqlite).await
                        .expect("SQLite is always available");
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn mariadb() {
                    let Some($t) = $crate::common::TestDb::new($crate::common::Backend::MariaDb).await else {
                        return;
                    };
                    $body
                }
            }
        )*
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
}

fn mysql_server_url() -> String {
    std::env::var("TASKFORGE_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// Where the test's database lives, so it can be removed afterwards.
enum DbHandle {
    Sqlite(std::path::PathBuf),
    MariaDb { server: String, name: String },
}

/// A migrated private database with a queue over it.
pub struct TestDb {
    pub backend: Backend,
    pub db: DatabaseConnection,
    /// The queue's clock: tests move it forward to expire leases and reach delayed jobs.
    pub clock: Clock,
    pub queue: Arc<DbQueue>,
    _handle: DbHandle,
}

impl TestDb {
    /// A fresh database; `None` when MariaDB is unreachable outside CI.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let id = Uuid::now_v7().simple().to_string();
        let (url, handle) = match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("taskforge-jobs-test-{id}.db"));
                (format!("sqlite://{}", path.display()), DbHandle::Sqlite(path))
            }
            Backend::MariaDb => {
                let server = mysql_server_url();
                let name = format!("tf_test_{id}");
                let admin = match Database::connect(&server).await {
                    Ok(c) => c,
                    Err(e) => {
                        if std::env::var("CI").is_ok_and(|v| v == "true") {
                            panic!("MariaDB at {server} is unreachable and CI=true: {e}");
                        }
                        eprintln!("skipping the MariaDB variant: {server} unreachable ({e})");
                        return None;
                    }
                };
                admin
                    .execute_unprepared(&format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    ))
                    .await
                    .expect("creating the test database");
                admin.close().await.ok();
                (format!("{server}/{name}"), DbHandle::MariaDb { server, name })
            }
        };
        let config = Config::from_pairs([
            ("database_url", url),
            ("data_dir", std::env::temp_dir().join(format!("taskforge-data-{id}")).display().to_string()),
            ("log", std::env::var("TASKFORGE_TEST_LOG").unwrap_or_else(|_| "warn".into())),
        ])
        .expect("test configuration is valid");
        platform::telemetry::init(&config);
        let db = platform::db::connect(&config).await.expect("connecting to the test database");
        platform::db::migrate(&db).await.expect("migrating the test database");
        let clock = Clock::system();
        let queue = Arc::new(DbQueue::with_clock(db.clone(), clock.clone()));
        Some(TestDb { backend, db, clock, queue, _handle: handle })
    }

    /// The queue as the port the runtime takes.
    pub fn port(&self) -> Arc<dyn Queue> {
        self.queue.clone()
    }

    /// Enqueues `Noop` jobs with these labels, in order; returns their envelopes.
    pub async fn enqueue_noops(&self, labels: &[&str]) -> Vec<Envelope> {
        let envs: Vec<Envelope> =
            labels.iter().map(|l| Envelope::new(Job::Noop { label: (*l).to_owned() }, None)).collect();
        self.queue.enqueue(&envs, Duration::ZERO).await.expect("enqueueing");
        envs
    }

    /// Starts a runtime in the background; stop it with the returned handle.
    pub fn start(&self, registry: Registry, options: RuntimeOptions) -> RunningRuntime {
        let (stop, shutdown) = watch::channel(false);
        let runtime = Runtime::new(self.port(), Arc::new(registry), options);
        RunningRuntime { stop, task: tokio::spawn(runtime.run(shutdown)) }
    }
}

/// A runtime running in the background.
pub struct RunningRuntime {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<DrainReport>,
}

impl RunningRuntime {
    /// Signals shutdown without waiting.
    pub fn signal(&self) {
        let _ = self.stop.send(true);
    }

    /// Kills the runtime without a drain, like SIGKILL: its running jobs stop and their leases are left to expire.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Signals shutdown and waits for the drain.
    pub async fn stop(self) -> DrainReport {
        self.signal();
        self.task.await.expect("the runtime does not panic")
    }
}

/// Options for fast tests: short visibility timeout and poll interval, tiny backoff.
pub fn fast_options(concurrency: usize) -> RuntimeOptions {
    let mut o = RuntimeOptions::for_pool(platform::jobs::Pool::Notifications).with_concurrency(concurrency);
    o.visibility_timeout = Duration::from_millis(300);
    o.poll_interval = Duration::from_millis(10);
    o.backoff_base = Duration::from_millis(20);
    o.backoff_cap = Duration::from_millis(200);
    o.job_timeout = Duration::from_secs(5);
    o.grace = Duration::from_secs(5);
    o
}

/// Polls `check` until it holds, failing with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let db = self.db.clone();
        // Close the pool before the handle (a field, dropped after this) removes the database. This needs its own
        // runtime: the test's runtime may be shutting down.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let _ = db.close().await;
            });
        })
        .join()
        .ok();
    }
}

impl Drop for DbHandle {
    /// Removes the test database, also when the test panicked half-way.
    fn drop(&mut self) {
        let target = match self {
            DbHandle::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                return;
            }
            DbHandle::MariaDb { server, name } => (server.clone(), name.clone()),
        };
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let (server, name) = target;
                if let Ok(admin) = Database::connect(&server).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`")).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join()
        .ok();
    }
}
