//! Test harness: a private, migrated database per test (a SQLite file, or a fresh MariaDB database dropped
//! afterwards, also when the test panics), a queue over it with a manual clock, and `eventually` for polling.
//!
//! The SQS variant runs the queue on a moto server (`TASKFORGE_TEST_AWS_URL`, default `http://127.0.0.1:5055`)
//! under a unique queue prefix per test, with a SQLite database beside it for handlers. SQS time is real: tests
//! let time pass with [`TestDb::elapse`] (a clock advance for the database queue, a real wait for SQS) and use
//! [`TestDb::lease`], a visibility timeout short enough to wait out on SQS.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use platform::jobs::{Clock, DbQueue, Envelope, Job, LeasedMessage, Pool, Queue, SqsQueue};
use platform::Config;
use sea_orm::DatabaseConnection;
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

/// Runs each listed test on SQLite, on MariaDB and on SQS (moto, with a SQLite database for the handlers).
///
/// moto comes from `TASKFORGE_TEST_AWS_URL`; like MariaDB, when it is unreachable the SQS variant fails under
/// `CI=true` and is skipped with a message elsewhere.
macro_rules! every_queue {
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

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqs() {
                    let Some($t) = $crate::common::TestDb::new($crate::common::Backend::Sqs).await else {
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
    /// SQS on moto for the queue, SQLite for the rest.
    Sqs,
}

/// A migrated private database with a queue over it (or beside it, for SQS).
pub struct TestDb {
    pub backend: Backend,
    pub db: DatabaseConnection,
    /// The database queue's clock: tests move it forward (through [`TestDb::elapse`]) to expire leases and reach
    /// delayed jobs. SQS ignores it.
    pub clock: Clock,
    pub queue: Arc<dyn Queue>,
    /// Deletes the test's SQS queues afterwards; declared before `_handle` so it drops first.
    _sqs: Option<SqsQueues>,
    sqs_prefix: Option<String>,
    _handle: testkit::PrivateDb,
}

impl TestDb {
    /// A fresh database and queue; `None` when MariaDB (or moto) is unreachable outside CI.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let id = Uuid::now_v7().simple().to_string();
        let kind = if backend == Backend::MariaDb { testkit::DbKind::MariaDb } else { testkit::DbKind::Sqlite };
        let handle = testkit::PrivateDb::create(kind).await?;
        let url = handle.url.clone();
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
        let (queue, sqs, sqs_prefix): (Arc<dyn Queue>, _, _) = if backend == Backend::Sqs {
            let (queue, cleanup, prefix) = sqs_queue().await?;
            (Arc::new(queue), Some(cleanup), Some(prefix))
        } else {
            (Arc::new(DbQueue::with_clock(db.clone(), clock.clone())), None, None)
        };
        Some(TestDb { backend, db, clock, queue, _sqs: sqs, sqs_prefix, _handle: handle })
    }

    /// The SQS queue prefix of this test.
    pub fn sqs_prefix(&self) -> Option<String> {
        self.sqs_prefix.clone()
    }

    /// A visibility timeout (and delay) for tests that wait one out: 30 s of manual clock for the database
    /// queue, 3 s of real time on SQS (whole seconds there, and margins of a second around a 1 s long poll).
    pub fn lease(&self) -> Duration {
        match self.backend {
            Backend::Sqs => Duration::from_secs(3),
            _ => Duration::from_secs(30),
        }
    }

    /// Lets `d` pass for the queue: the database queue's clock moves forward, on SQS the test waits.
    pub async fn elapse(&self, d: Duration) {
        match self.backend {
            Backend::Sqs => tokio::time::sleep(d).await,
            _ => self.clock.advance(d),
        }
    }

    /// Whether the queue hands out messages in enqueue order (SQS standard queues promise no order).
    pub fn is_ordered(&self) -> bool {
        self.backend != Backend::Sqs
    }

    /// Claims until `n` messages are held, failing after a deadline (SQS may answer a receive with fewer than are
    /// ready).
    pub async fn claim_n(&self, pool: Pool, n: usize, visibility: Duration) -> Vec<LeasedMessage> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        while got.len() < n {
            assert!(Instant::now() < deadline, "claimed {} of {n} messages before the deadline", got.len());
            got.extend(self.queue.claim_batch(pool, n - got.len(), visibility).await.expect("claiming"));
        }
        got
    }

    /// [`fast_options`] with the visibility timeout of the backend: SQS counts whole seconds.
    pub fn fast_options(&self, concurrency: usize) -> RuntimeOptions {
        let mut o = fast_options(concurrency);
        if self.backend == Backend::Sqs {
            o.visibility_timeout = Duration::from_secs(1);
        }
        o
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

/// The moto address; `None` when moto is unreachable outside CI (under `CI=true` that fails the test).
pub async fn moto_url() -> Option<String> {
    let url = testkit::moto_url();
    if let Err(e) = testkit::reachable(&url).await {
        testkit::unavailable("SQS (moto)", &url, e);
        return None;
    }
    Some(url)
}

/// A queue prefix no other test uses.
pub fn unique_prefix() -> String {
    // The random tail of a UUIDv7: its head is the time, shared by tests started in the same millisecond.
    format!("tft-{}", &Uuid::now_v7().simple().to_string()[20..])
}

/// A bootstrapped set of SQS queues on moto under a fresh prefix; `None` when moto is unreachable outside CI.
async fn sqs_queue() -> Option<(SqsQueue, SqsQueues, String)> {
    let url = moto_url().await?;
    let prefix = unique_prefix();
    let sdk = platform::aws::sdk_config_for("us-east-1", Some(&url)).await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &prefix);
    queue.bootstrap().await.expect("creating the test queues on moto");
    let names = queue.queue_names();
    Some((queue, SqsQueues::new(url, names), prefix))
}

/// The SQS queues of one test, deleted when it ends (also when it panicked) so moto does not pile them up.
pub struct SqsQueues {
    url: String,
    names: Vec<String>,
}

impl SqsQueues {
    /// Deletes these queues of the moto server at `url` on drop.
    pub fn new(url: String, names: Vec<String>) -> SqsQueues {
        SqsQueues { url, names }
    }
}

impl Drop for SqsQueues {
    fn drop(&mut self) {
        let (url, names) = (self.url.clone(), std::mem::take(&mut self.names));
        // Its own client: the test's runtime may be shutting down.
        testkit::run_detached(async move {
            let client = aws_sdk_sqs::Client::new(&platform::aws::sdk_config_for("us-east-1", Some(&url)).await);
            for name in names {
                if let Ok(found) = client.get_queue_url().queue_name(&name).send().await {
                    if let Some(q) = found.queue_url {
                        let _ = client.delete_queue().queue_url(q).send().await;
                    }
                }
            }
        });
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
        // Close the pool before the handle (a field, dropped after this) removes the database.
        testkit::run_detached(async move {
            testkit::close_pool(db).await;
        });
    }
}
