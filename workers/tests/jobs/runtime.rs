//! The worker runtime: retries, dead letters, poison, crashes, shutdown, and idempotent handling of duplicates.
#![allow(clippy::disallowed_methods)] // the test inspects the outbox and processed_jobs across orgs
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use entities::tables::{outbox, processed_jobs};
use platform::jobs::{Envelope, Job, OutgoingMessage, Pool};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tokio::sync::Semaphore;
use workers::{handler_fn, EventSink, HandlerError, PublishEventHandler, Registry};

use crate::common::{eventually, TestDb};

/// Generous: on SQS a retry waits out whole seconds and every empty receive long-polls for one.
const WAIT: Duration = Duration::from_secs(20);

fn label(env: &Envelope) -> String {
    match &env.job {
        Job::Noop { label } => label.clone(),
        other => panic!("unexpected job {other:?}"),
    }
}

async fn queue_is_empty(t: &TestDb) -> bool {
    let stats = t.queue.stats().await.unwrap();
    stats.iter().all(|s| s.depth == 0 && s.in_flight == 0 && s.delayed == 0)
}

/// Counts events it is given.
#[derive(Default)]
struct CountingSink(AtomicUsize);

#[async_trait]
impl EventSink for CountingSink {
    async fn publish(&self, _tx: &sea_orm::DatabaseTransaction, _event: &outbox::Model) -> Result<(), HandlerError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Inserts an outbox row as a domain write would.
pub async fn insert_outbox_row(t: &TestDb, org_id: uuid::Uuid) -> uuid::Uuid {
    let id = entities::new_id();
    outbox::ActiveModel {
        id: Set(id),
        org_id: Set(org_id),
        event_type: Set("task.created".into()),
        actor_id: Set(None),
        entity_type: Set("task".into()),
        entity_id: Set(entities::new_id()),
        payload: Set(serde_json::json!({"title": "x"})),
        created_at: Set(entities::now()),
        published_at: Set(None),
        claimed_until: Set(None),
    }
    .insert(&t.db)
    .await
    .expect("inserting an outbox row");
    id
}

every_queue! {
    async fn jobs_are_run_by_their_handler_and_acked(t: TestDb) {
        let done: Arc<Mutex<Vec<String>>> = Arc::default();
        let d = done.clone();
        let registry = Registry::new().register("noop", handler_fn(move |env| {
            let d = d.clone();
            async move {
                assert!(env.attempt >= 1);
                d.lock().unwrap().push(label(&env));
                Ok(())
            }
        }));
        let running = t.start(registry, t.fast_options(4));
        let labels: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
        t.enqueue_noops(&labels.iter().map(String::as_str).collect::<Vec<_>>()).await;
        eventually(WAIT, "all jobs done and acked", || async {
            done.lock().unwrap().len() == 20 && queue_is_empty(&t).await
        })
        .await;
        assert_eq!(running.stop().await, workers::DrainReport::default());
        let mut got = done.lock().unwrap().clone();
        got.sort();
        let mut want = labels.clone();
        want.sort();
        assert_eq!(got, want, "each job ran exactly once");
    }

    async fn a_failing_handler_is_retried_with_growing_delays_then_dead_lettered_with_its_last_error(t: TestDb) {
        let attempts: Arc<Mutex<Vec<(u32, Instant)>>> = Arc::default();
        let a = attempts.clone();
        let registry = Registry::new().register("noop", handler_fn(move |env| {
            let a = a.clone();
            async move {
                a.lock().unwrap().push((env.attempt, Instant::now()));
                Err(HandlerError::retryable(format!("boom on attempt {}", env.attempt)))
            }
        }));
        let mut options = t.fast_options(1);
        options.max_attempts = 4;
        options.backoff_base = Duration::from_millis(40);
        options.jitter = false;
        let running = t.start(registry, options);
        let sent = t.enqueue_noops(&["flaky"]).await;
        eventually(WAIT, "the job to be dead-lettered", || async {
            t.queue.failed_show(sent[0].job_id).await.unwrap().is_some()
        })
        .await;
        running.stop().await;
        let failed = t.queue.failed_show(sent[0].job_id).await.unwrap().unwrap();
        assert_eq!(failed.attempts, 4);
        assert!(failed.reason.contains("boom on attempt 4"), "reason: {}", failed.reason);
        let attempts = attempts.lock().unwrap().clone();
        assert_eq!(attempts.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        // Backoff 40 ms doubling: the gaps are at least 40, 80 and 160 ms.
        for (i, pair) in attempts.windows(2).enumerate() {
            let gap = pair[1].1 - pair[0].1;
            let min = Duration::from_millis(40 << i);
            assert!(gap >= min, "gap before attempt {} was {gap:?}, expected at least {min:?}", i + 2);
        }
        assert!(queue_is_empty(&t).await);
    }

    async fn a_permanent_failure_is_dead_lettered_at_once(t: TestDb) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let registry = Registry::new().register("noop", handler_fn(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Err(HandlerError::permanent("the task is gone")) }
        }));
        let running = t.start(registry, t.fast_options(1));
        let sent = t.enqueue_noops(&["doomed"]).await;
        eventually(WAIT, "the job to be dead-lettered", || async {
            t.queue.failed_show(sent[0].job_id).await.unwrap().is_some()
        })
        .await;
        running.stop().await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(t.queue.failed_show(sent[0].job_id).await.unwrap().unwrap().reason, "the task is gone");
    }

    async fn a_malformed_message_is_dead_lettered_at_once_as_poison(t: TestDb) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let registry = Registry::new().register("noop", handler_fn(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        }));
        let poison = |body: &str| OutgoingMessage {
            id: entities::new_id(),
            pool: Pool::Notifications,
            job_type: "unknown".into(),
            org_id: None,
            body: body.to_owned(),
        };
        let future_version = serde_json::json!({
            "job_id": entities::new_id(), "org_id": null, "attempt": 0, "enqueued_at": "2026-11-25T00:00:00Z",
            "trace": null, "job": {"type": "noop", "v": 9, "label": "from the future"}
        });
        let messages = vec![poison("{not json"), poison(r#"{"job": {"type": "launch_rockets", "v": 1}}"#),
            poison(&future_version.to_string())];
        let ids: Vec<_> = messages.iter().map(|m| m.id).collect();
        t.queue.send(messages, Duration::ZERO).await.unwrap();
        let running = t.start(registry, t.fast_options(2));
        eventually(WAIT, "all three to be dead-lettered", || async {
            t.queue.failed_list(None, 10).await.unwrap().len() == 3
        })
        .await;
        running.stop().await;
        for id in ids {
            let failed = t.queue.failed_show(id).await.unwrap().unwrap();
            assert_eq!(failed.attempts, 1, "never retried");
            assert!(failed.reason.starts_with("poison:"), "reason: {}", failed.reason);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    async fn a_job_outliving_its_timeout_is_a_failed_attempt(t: TestDb) {
        let registry = Registry::new().register("noop", handler_fn(|env| async move {
            if env.attempt == 1 {
                std::future::pending::<()>().await;
            }
            Ok(())
        }));
        let mut options = t.fast_options(1);
        options.job_timeout = Duration::from_millis(100);
        let running = t.start(registry, options);
        t.enqueue_noops(&["stuck once"]).await;
        eventually(WAIT, "the second attempt to succeed", || queue_is_empty(&t)).await;
        running.stop().await;
        assert!(t.queue.failed_list(None, 10).await.unwrap().is_empty());
    }

    async fn a_running_job_keeps_its_lease_beyond_the_visibility_timeout(t: TestDb) {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let job_length = t.fast_options(1).visibility_timeout * 3;
        let registry = Registry::new().register("noop", handler_fn(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(job_length).await;
                Ok(())
            }
        }));
        // A second runtime waits for work: without heartbeats it would take the job over once the visibility
        // timeout ran out, a third of the way through the job. It starts after the first claimed the job, because
        // simultaneous receives may both get a message on SQS (at-least-once), which is not what this tests.
        let first = t.start(registry.clone(), t.fast_options(1));
        t.enqueue_noops(&["long"]).await;
        eventually(WAIT, "the first runtime to start the job", || async { runs.load(Ordering::SeqCst) == 1 }).await;
        let second = t.start(registry, t.fast_options(1));
        eventually(WAIT, "the job to finish", || queue_is_empty(&t)).await;
        first.stop().await;
        second.stop().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    async fn shutdown_drains_running_jobs_and_releases_unstarted_ones(t: TestDb) {
        let gate = Arc::new(Semaphore::new(0));
        let started: Arc<Mutex<Vec<String>>> = Arc::default();
        let finished: Arc<Mutex<Vec<String>>> = Arc::default();
        let (g, s, f) = (gate.clone(), started.clone(), finished.clone());
        let registry = Registry::new().register("noop", handler_fn(move |env| {
            let (g, s, f) = (g.clone(), s.clone(), f.clone());
            async move {
                s.lock().unwrap().push(label(&env));
                let _pass = g.acquire().await.expect("gate open");
                f.lock().unwrap().push(label(&env));
                Ok(())
            }
        }));
        let mut options = t.fast_options(1);
        options.prefetch = 2;
        options.visibility_timeout = Duration::from_secs(30);
        let sent = t.enqueue_noops(&["first", "second", "third"]).await;
        let running = t.start(registry, options);
        eventually(WAIT, "the first job to start", || async { started.lock().unwrap().len() == 1 }).await;
        running.signal();
        eventually(WAIT, "the unstarted jobs to be released", || async {
            let s = t.queue.stats().await.unwrap().into_iter().find(|s| s.pool == Pool::Notifications).unwrap();
            s.depth == 2 && s.in_flight == 1
        })
        .await;
        assert!(finished.lock().unwrap().is_empty(), "the running job is still running");
        gate.add_permits(10);
        let report = running.stop().await;
        assert_eq!(report, workers::DrainReport { released: 2, cancelled: 0 });
        assert_eq!(*finished.lock().unwrap(), vec!["first".to_string()]);
        let rest = t.claim_n(Pool::Notifications, 2, Duration::from_secs(30)).await;
        let mut ids: Vec<_> = rest.iter().map(|m| m.lease.message_id).collect();
        let mut want = vec![sent[1].job_id, sent[2].job_id];
        if !t.is_ordered() {
            ids.sort();
            want.sort();
        }
        assert_eq!(ids, want);
        assert!(rest.iter().all(|m| m.receive_count == 1), "a release does not spend an attempt");
    }

    async fn a_duplicate_publish_event_delivery_has_one_effect(t: TestDb) {
        let org_id = entities::new_id();
        let outbox_id = insert_outbox_row(&t, org_id).await;
        let sink = Arc::new(CountingSink::default());
        let registry = Registry::new().register(
            "publish_event",
            PublishEventHandler::new(t.db.clone(), t.port(), vec![sink.clone()]),
        );
        // The same event enqueued twice (a relay crashed before marking it), each delivered on its own.
        let jobs: Vec<Envelope> =
            (0..2).map(|_| Envelope::new(Job::PublishEvent { outbox_id }, Some(org_id))).collect();
        t.queue.enqueue(&jobs, Duration::ZERO).await.unwrap();
        let running = t.start(registry, t.fast_options(2));
        eventually(WAIT, "both deliveries to be acked", || queue_is_empty(&t)).await;
        running.stop().await;
        assert_eq!(sink.0.load(Ordering::SeqCst), 1, "published once");
        assert!(t.queue.failed_list(None, 10).await.unwrap().is_empty(), "the duplicate is a success, not a failure");
    }

    async fn a_job_of_a_killed_worker_reappears_after_its_visibility_timeout_and_completes_once(t: TestDb) {
        let started = Arc::new(AtomicUsize::new(0));
        let completed = Arc::new(AtomicUsize::new(0));
        let (s, c) = (started.clone(), completed.clone());
        let registry = Registry::new().register("noop", handler_fn(move |env| {
            let (s, c) = (s.clone(), c.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                if env.attempt == 1 {
                    // The first worker dies while it is here.
                    std::future::pending::<()>().await;
                }
                c.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }));
        let doomed = t.start(registry.clone(), t.fast_options(1));
        t.enqueue_noops(&["survivor"]).await;
        eventually(WAIT, "the first attempt to start", || async { started.load(Ordering::SeqCst) == 1 }).await;
        doomed.kill().await;
        let killed_at = Instant::now();
        let rescuer = t.start(registry, t.fast_options(1));
        eventually(WAIT, "the job to complete elsewhere", || queue_is_empty(&t)).await;
        let lease = t.fast_options(1).visibility_timeout;
        assert!(killed_at.elapsed() >= lease * 2 / 3, "not before the lease expired");
        rescuer.stop().await;
        assert_eq!(completed.load(Ordering::SeqCst), 1);
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }

    async fn the_outbox_is_published_end_to_end_by_the_composed_workers(t: TestDb) {
        let org_id = entities::new_id();
        let ids = [insert_outbox_row(&t, org_id).await, insert_outbox_row(&t, org_id).await];
        let workers = workers::Workers::start(&t.db, t.port(), workers::WorkersConfig {
            pools: vec![Pool::Notifications],
            concurrency: Some(2),
            relay: true,
            mail: test_mail_deps(),
            files: test_file_deps(),
            events: test_event_store(&t),
            bus: None,
            scheduler_tick: None,
        });
        eventually(WAIT, "both events to be processed", || async {
            let processed = processed_jobs::Entity::find()
                .filter(processed_jobs::Column::Id.is_in(ids))
                .count(&t.db)
                .await
                .unwrap();
            processed == 2 && queue_is_empty(&t).await
        })
        .await;
        workers.shutdown().await;
        let unpublished =
            outbox::Entity::find().filter(outbox::Column::PublishedAt.is_null()).count(&t.db).await.unwrap();
        assert_eq!(unpublished, 0);
    }
}

/// Mail dependencies writing into a throw-away outbox directory.
fn test_mail_deps() -> workers::MailDeps {
    let dir = std::env::temp_dir().join(format!("taskforge-mail-{}", uuid::Uuid::now_v7()));
    workers::MailDeps {
        mailer: std::sync::Arc::new(platform::mail::OutboxMailer::new(&dir)),
        templates: std::sync::Arc::new(platform::mail::Templates::new()),
        secret: platform::secret_key::SecretKey::new("t".repeat(32)),
        public_url: "http://taskforge.test".into(),
        from: "Taskforge <no-reply@taskforge.test>".into(),
    }
}

fn test_file_deps() -> workers::FileDeps {
    let dir = std::env::temp_dir().join(format!("taskforge-blobs-{}", uuid::Uuid::now_v7()));
    let secret = platform::secret_key::SecretKey::new("t".repeat(32));
    workers::FileDeps {
        storage: std::sync::Arc::new(platform::storage::LocalStorage::new(dir, "http://taskforge.test", secret)),
        scanner: std::sync::Arc::new(platform::scanner::BuiltinScanner::new(Default::default())),
        thumbnail_sizes: vec![64, 256, 1024],
    }
}

/// The activity log in the test's own database.
fn test_event_store(t: &TestDb) -> Arc<dyn platform::events::EventStore> {
    Arc::new(platform::events::DbEventStore::new(t.db.clone(), chrono::Duration::days(400)))
}
