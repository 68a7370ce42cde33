//! The job contract shared by everything that enqueues or runs jobs: the versioned [`Job`] type, its [`Envelope`],
//! the worker [`Pool`]s with their settings (the one place concurrency, visibility timeout, attempts and timeouts are
//! defined), and the [`Queue`] port with its database and SQS adapters ([`connect_queue`] picks the configured one).
//!
//! A job is a plain serde value (`{"type": "noop", "v": 1, "label": "…"}`) so the same bytes travel through the
//! database queue and SQS. Decoding is strict about what it cannot understand: an unknown type, an unsupported
//! version or a malformed body is *poison*, dead-lettered at once by the runtime instead of being retried.
mod clock;
mod db_queue;
mod queue;
pub mod sqs_queue;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
pub use lambdas::report::ScanReport;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use clock::Clock;
pub use db_queue::DbQueue;
pub use queue::{FailedJob, Lease, LeasedMessage, OutgoingMessage, PoolStats, Queue, QueueError};
pub use sqs_queue::SqsQueue;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::{Config, QueueKind};

/// The configured queue adapter: the database queue over `db`, or SQS with the queues named by `sqs_prefix` (all
/// looked up now, so a missing queue fails start-up with a hint to run `taskforge admin aws-bootstrap`).
pub async fn connect_queue(config: &Config, db: &DatabaseConnection) -> Result<Arc<dyn Queue>, QueueError> {
    match config.queue {
        QueueKind::Database => Ok(Arc::new(DbQueue::new(db.clone()))),
        QueueKind::Sqs => {
            let queue =
                SqsQueue::new(aws_sdk_sqs::Client::new(&crate::aws::sdk_config(config).await), &config.sqs_prefix);
            queue.check().await?;
            Ok(Arc::new(queue))
        }
    }
}

/// Work to do. Each variant names its pool ([`Job::pool`]); the wire format carries a per-type version `v`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// Does nothing: for tests and throughput benchmarks.
    Noop { label: String },
    /// Publishes one outbox row (event store, live bus, follow-up jobs).
    PublishEvent { outbox_id: Uuid },
    /// Delivers one in-app notification by email when its recipient's preferences ask for it (`notifications`
    /// row id); a no-op once the row's email is sent, skipped or left to the digest.
    Notify { notification_id: Uuid },
    /// Emails the link of an account token (email verification or password reset; `account_tokens` row id).
    AccountMail { token_id: Uuid },
    /// Emails an invitation to its invitee (`invitations` row id).
    InvitationMail { invitation_id: Uuid },
    /// One scheduler run at `at`: fires due reminders and claims the daily digests due by then.
    SchedulerTick { at: DateTime<Utc> },
    /// Mails a user the overdue tasks assigned to them, as of their local day `local_date`.
    OverdueDigest { user_id: Uuid, local_date: NaiveDate },
    /// Mails a user their notifications waiting for the digest (`email_state = digest`), for `local_date`.
    NotificationDigest { user_id: Uuid, local_date: NaiveDate },
    /// Scans a stored upload in-process (the embedded mode's stand-in for the scan Lambda) and sends its
    /// [`ScanReport`] as a [`Job::ScanResult`].
    ScanUpload { key: String },
    /// Records what a scan found on the attachment (sent by the scan Lambda, or by [`Job::ScanUpload`]).
    ScanResult(ScanReport),
    /// Renders the thumbnails of a clean image attachment.
    Thumbnails { attachment_id: Uuid },
    /// Builds the file of a pending report (`reports` row id) and tells its requester it is ready.
    BuildReport { report_id: Uuid },
}

impl Job {
    /// Every job type name, as it appears in `type` on the wire.
    pub const TYPES: [&'static str; 12] = [
        "noop",
        "publish_event",
        "notify",
        "account_mail",
        "invitation_mail",
        "scheduler_tick",
        "overdue_digest",
        "notification_digest",
        "scan_upload",
        lambdas::report::JOB_TYPE,
        "thumbnails",
        "build_report",
    ];

    /// The wire name of this job's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Job::Noop { .. } => "noop",
            Job::PublishEvent { .. } => "publish_event",
            Job::Notify { .. } => "notify",
            Job::AccountMail { .. } => "account_mail",
            Job::InvitationMail { .. } => "invitation_mail",
            Job::SchedulerTick { .. } => "scheduler_tick",
            Job::OverdueDigest { .. } => "overdue_digest",
            Job::NotificationDigest { .. } => "notification_digest",
            Job::ScanUpload { .. } => "scan_upload",
            Job::ScanResult(_) => lambdas::report::JOB_TYPE,
            Job::Thumbnails { .. } => "thumbnails",
            Job::BuildReport { .. } => "build_report",
        }
    }

    /// The pool whose workers run this job.
    pub fn pool(&self) -> Pool {
        match self {
            Job::Noop { .. } => Pool::Notifications,
            Job::PublishEvent { .. } => Pool::Notifications,
            Job::Notify { .. } | Job::AccountMail { .. } | Job::InvitationMail { .. } => Pool::Notifications,
            Job::SchedulerTick { .. } => Pool::Scheduler,
            Job::OverdueDigest { .. } | Job::NotificationDigest { .. } => Pool::Notifications,
            Job::ScanUpload { .. } | Job::ScanResult(_) => Pool::Scans,
            Job::Thumbnails { .. } => Pool::Images,
            Job::BuildReport { .. } => Pool::Reports,
        }
    }
}

/// The wire shape of [`Job`]: the serde-tagged enum plus a version check in the (de)serialiser below. A new field
/// that old workers can ignore keeps the version; a change they would misread bumps it, and old workers then
/// dead-letter the job instead of misinterpreting it.
mod wire {
    use super::*;

    pub const VERSION: u64 = 1;

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum JobV1 {
        Noop { label: String },
        PublishEvent { outbox_id: Uuid },
        Notify { notification_id: Uuid },
        AccountMail { token_id: Uuid },
        InvitationMail { invitation_id: Uuid },
        SchedulerTick { at: DateTime<Utc> },
        OverdueDigest { user_id: Uuid, local_date: NaiveDate },
        NotificationDigest { user_id: Uuid, local_date: NaiveDate },
        ScanUpload { key: String },
        ScanResult(ScanReport),
        Thumbnails { attachment_id: Uuid },
        BuildReport { report_id: Uuid },
    }

    impl From<&Job> for JobV1 {
        fn from(job: &Job) -> Self {
            match job.clone() {
                Job::Noop { label } => JobV1::Noop { label },
                Job::PublishEvent { outbox_id } => JobV1::PublishEvent { outbox_id },
                Job::Notify { notification_id } => JobV1::Notify { notification_id },
                Job::AccountMail { token_id } => JobV1::AccountMail { token_id },
                Job::InvitationMail { invitation_id } => JobV1::InvitationMail { invitation_id },
                Job::SchedulerTick { at } => JobV1::SchedulerTick { at },
                Job::OverdueDigest { user_id, local_date } => JobV1::OverdueDigest { user_id, local_date },
                Job::NotificationDigest { user_id, local_date } => JobV1::NotificationDigest { user_id, local_date },
                Job::ScanUpload { key } => JobV1::ScanUpload { key },
                Job::ScanResult(report) => JobV1::ScanResult(report),
                Job::Thumbnails { attachment_id } => JobV1::Thumbnails { attachment_id },
                Job::BuildReport { report_id } => JobV1::BuildReport { report_id },
            }
        }
    }

    impl From<JobV1> for Job {
        fn from(job: JobV1) -> Self {
            match job {
                JobV1::Noop { label } => Job::Noop { label },
                JobV1::PublishEvent { outbox_id } => Job::PublishEvent { outbox_id },
                JobV1::Notify { notification_id } => Job::Notify { notification_id },
                JobV1::AccountMail { token_id } => Job::AccountMail { token_id },
                JobV1::InvitationMail { invitation_id } => Job::InvitationMail { invitation_id },
                JobV1::SchedulerTick { at } => Job::SchedulerTick { at },
                JobV1::OverdueDigest { user_id, local_date } => Job::OverdueDigest { user_id, local_date },
                JobV1::NotificationDigest { user_id, local_date } => Job::NotificationDigest { user_id, local_date },
                JobV1::ScanUpload { key } => Job::ScanUpload { key },
                JobV1::ScanResult(report) => Job::ScanResult(report),
                JobV1::Thumbnails { attachment_id } => Job::Thumbnails { attachment_id },
                JobV1::BuildReport { report_id } => Job::BuildReport { report_id },
            }
        }
    }
}

impl Serialize for Job {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(wire::JobV1::from(self)).map_err(serde::ser::Error::custom)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("v".into(), wire::VERSION.into());
        }
        value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Job {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = serde_json::Value::deserialize(deserializer)?;
        let map = value.as_object_mut().ok_or_else(|| D::Error::custom("a job must be a JSON object"))?;
        match map.remove("v").and_then(|v| v.as_u64()) {
            Some(wire::VERSION) => {}
            Some(v) => return Err(D::Error::custom(format!("unsupported job version {v}"))),
            None => return Err(D::Error::custom("missing job version `v`")),
        }
        serde_json::from_value::<wire::JobV1>(value).map(Job::from).map_err(D::Error::custom)
    }
}

/// A job with its delivery metadata; this is the message body on every queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUIDv7, unique per enqueue; also the message id in the database queue.
    pub job_id: Uuid,
    /// The org the job works for, when it is tenant work.
    pub org_id: Option<Uuid>,
    /// Which delivery this is, starting at 1. Set from the queue's receive count when a message is claimed, so a
    /// redelivery after a crash counts too.
    pub attempt: u32,
    pub enqueued_at: DateTime<Utc>,
    /// Trace context of the code that enqueued the job (W3C `traceparent`), when there is one.
    pub trace: Option<String>,
    pub job: Job,
}

impl Envelope {
    /// A new envelope for `job` with a fresh id.
    pub fn new(job: Job, org_id: Option<Uuid>) -> Envelope {
        Envelope { job_id: entities::new_id(), org_id, attempt: 0, enqueued_at: entities::now(), trace: None, job }
    }

    /// The pool the job goes to.
    pub fn pool(&self) -> Pool {
        self.job.pool()
    }

    /// Decodes a message body. An error means the message is poison.
    pub fn decode(body: &str) -> Result<Envelope, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// The message body.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("an envelope always serialises: it holds only strings, ids and numbers")
    }
}

/// A worker pool: one queue, one Deployment in production, its own concurrency and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pool {
    Notifications,
    Images,
    Reports,
    Reminders,
    Scans,
    Scheduler,
}

/// How one pool runs. The KEDA `queueLength` of a pool is its `concurrency` (messages one pod handles at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Jobs one worker process runs at once.
    pub concurrency: usize,
    /// How long a claimed message stays invisible; the runtime extends it while the job runs (heartbeat).
    pub visibility_timeout: Duration,
    /// Deliveries before a failing job is dead-lettered.
    pub max_attempts: u32,
    /// A job running longer than this is cancelled and counts as a failed attempt.
    pub job_timeout: Duration,
}

impl Pool {
    /// Every pool.
    pub const ALL: [Pool; 6] =
        [Pool::Notifications, Pool::Images, Pool::Reports, Pool::Reminders, Pool::Scans, Pool::Scheduler];

    /// The pool's name: queue name suffix, metrics label, CLI argument.
    pub fn name(self) -> &'static str {
        match self {
            Pool::Notifications => "notifications",
            Pool::Images => "images",
            Pool::Reports => "reports",
            Pool::Reminders => "reminders",
            Pool::Scans => "scans",
            Pool::Scheduler => "scheduler",
        }
    }

    /// The pool's settings: the single source for the runtime and (later) the checked KEDA manifests.
    ///
    /// Notifications and reminders are many small latency-sensitive jobs; images and reports are CPU- or
    /// IO-heavy and few at a time; the scheduler tick must never overlap itself, hence concurrency 1.
    pub fn settings(self) -> PoolSettings {
        let s = |concurrency, visibility_secs, max_attempts, timeout_secs| PoolSettings {
            concurrency,
            visibility_timeout: Duration::from_secs(visibility_secs),
            max_attempts,
            job_timeout: Duration::from_secs(timeout_secs),
        };
        match self {
            Pool::Notifications => s(16, 30, 8, 20),
            Pool::Images => s(4, 120, 5, 90),
            Pool::Reports => s(2, 300, 3, 240),
            Pool::Reminders => s(8, 30, 8, 20),
            Pool::Scans => s(8, 60, 5, 45),
            Pool::Scheduler => s(1, 60, 3, 30),
        }
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of [`Pool::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown pool `{0}`; expected one of notifications, images, reports, reminders, scans, scheduler")]
pub struct UnknownPool(pub String);

impl FromStr for Pool {
    type Err = UnknownPool;

    fn from_str(s: &str) -> Result<Pool, UnknownPool> {
        Pool::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| UnknownPool(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_travels_as_a_tagged_versioned_object() {
        let job = Job::Noop { label: "x".into() };
        let value = serde_json::to_value(&job).unwrap();
        assert_eq!(value, serde_json::json!({"type": "noop", "v": 1, "label": "x"}));
        assert_eq!(serde_json::from_value::<Job>(value).unwrap(), job);
    }

    #[test]
    fn the_scan_lambdas_message_is_a_scan_result_job() {
        use lambdas::report::{job_message, ScanOutcome};
        let org_id = Uuid::now_v7();
        let mut report = ScanReport::failed("uploads/a/b", "clamd down", true);
        report.outcome = ScanOutcome::Infected;
        report.signature = Some("Eicar-Test-Signature".into());
        let envelope = Envelope::decode(&job_message(&report, org_id)).unwrap();
        assert_eq!(envelope.org_id, Some(org_id));
        assert_eq!(envelope.pool(), Pool::Scans);
        assert_eq!(envelope.job, Job::ScanResult(report));
        let again = Envelope::decode(&envelope.encode()).unwrap();
        assert_eq!(again, envelope);
    }

    #[test]
    fn scheduler_and_digest_jobs_travel_with_plain_dates() {
        let tick: Job = serde_json::from_value(serde_json::json!(
            {"type": "scheduler_tick", "v": 1, "at": "2026-11-25T10:00:00Z"}
        ))
        .unwrap();
        assert_eq!(tick, Job::SchedulerTick { at: "2026-11-25T10:00:00Z".parse().unwrap() });
        assert_eq!(tick.pool(), Pool::Scheduler);
        let user_id = Uuid::now_v7();
        let digest = Job::OverdueDigest { user_id, local_date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap() };
        let value = serde_json::to_value(&digest).unwrap();
        assert_eq!(value["local_date"], "2026-11-26");
        assert_eq!(serde_json::from_value::<Job>(value).unwrap(), digest);
    }

    #[test]
    fn a_report_build_travels_to_the_reports_pool() {
        let report_id = Uuid::now_v7();
        let job = Job::BuildReport { report_id };
        let value = serde_json::to_value(&job).unwrap();
        assert_eq!(value, serde_json::json!({"type": "build_report", "v": 1, "report_id": report_id}));
        assert_eq!(serde_json::from_value::<Job>(value).unwrap(), job);
        assert_eq!(job.pool(), Pool::Reports);
        assert!(Job::TYPES.contains(&job.type_name()));
    }

    #[test]
    fn an_envelope_round_trips() {
        let env = Envelope::new(Job::PublishEvent { outbox_id: Uuid::now_v7() }, Some(Uuid::now_v7()));
        assert_eq!(Envelope::decode(&env.encode()).unwrap(), env);
    }

    #[test]
    fn unknown_types_versions_and_shapes_do_not_decode() {
        for bad in [
            r#"{"type": "launch_rockets", "v": 1}"#,
            r#"{"type": "noop", "v": 2, "label": "x"}"#,
            r#"{"type": "noop", "label": "x"}"#,
            r#"{"type": "publish_event", "v": 1, "outbox_id": "nope"}"#,
            r#"[1, 2]"#,
        ] {
            assert!(serde_json::from_str::<Job>(bad).is_err(), "{bad} decoded");
        }
        assert!(Envelope::decode("not json").is_err());
    }

    #[test]
    fn every_pool_has_sane_settings_and_parses_from_its_name() {
        for pool in Pool::ALL {
            let s = pool.settings();
            assert!(s.concurrency >= 1 && s.max_attempts >= 1, "{pool}");
            // The heartbeat extends the lease every third of the visibility timeout, so a timeout shorter than a
            // few seconds would mean a database write per job per second.
            assert!(s.visibility_timeout >= Duration::from_secs(10), "{pool}");
            assert_eq!(pool.name().parse::<Pool>().unwrap(), pool);
        }
        assert!("bogus".parse::<Pool>().is_err());
    }
}
