//! The SQS queue: one standard queue per pool, `{prefix}-{pool}`, each with a dead-letter queue
//! `{prefix}-{pool}-dlq` attached by a redrive policy whose `maxReceiveCount` is the pool's `max_attempts`. The
//! runtime dead-letters failed jobs itself (with the reason); the redrive policy catches what the runtime never
//! settles, such as a message whose worker keeps crashing.
//!
//! How the port's operations map onto SQS:
//! - claim: `ReceiveMessage` (at most 10 per call, an AWS limit) with a short long-poll wait ([`SqsQueue::wait_time`]):
//!   long polling asks every SQS server, so an empty answer means an empty queue, while a wait of a second or two
//!   keeps shutdown responsive because the runtime does not interrupt a receive.
//! - extend / retry_later: `ChangeMessageVisibility`; a retry's error is not stored (SQS has nowhere to keep it),
//!   the runtime logs it and the final dead letter carries the last one.
//! - ack: `DeleteMessage`.
//! - release: a fresh copy is sent and the delivery deleted, because a receive cannot be uncounted and released
//!   messages must not creep towards the redrive limit on every rolling restart.
//! - dead_letter: the body goes to the DLQ with the reason, attempts and time as message attributes, then the
//!   delivery is deleted.
//! - send: `SendMessageBatch` in chunks of 10. `DelaySeconds` stops at 15 minutes; a longer delay travels as a
//!   `not_before` attribute and a claim that receives the message too early sends it back with the remaining delay
//!   (as a new message, so waiting does not spend attempts).
//!
//! Time in SQS is whole seconds: visibility timeouts and delays are rounded up, and a lease is at least a second.
//! Listing dead letters reads the DLQ: messages are received with a short visibility timeout and made visible again
//! afterwards, so a concurrent listing may miss the ones the other is holding.
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::queue::{FailedJob, Lease, LeasedMessage, OutgoingMessage, PoolStats, Queue, QueueError};
use super::Pool;

/// `ReceiveMessage`, `SendMessageBatch` and the other batch calls take at most 10 entries.
const BATCH: usize = 10;
/// `DelaySeconds` of a message: at most 15 minutes.
const MAX_DELAY_SECS: u64 = 900;
/// A message's visibility timeout: at most 12 hours.
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// A batch request's total payload: at most 256 KiB; stay under it with room for the attributes.
const BATCH_BYTES: usize = 200 * 1024;
/// Dead letters are kept for the SQS maximum of 14 days so operators have time to look at them.
const DLQ_RETENTION_SECS: u64 = 14 * 24 * 3600;
/// How long a listing holds the dead letters it has read, so one pass does not read a message twice.
const SCAN_VISIBILITY_SECS: i32 = 30;
/// Dead letters one listing reads at most; a listing sorts them newest first.
const SCAN_LIMIT: usize = 1000;

/// The message attributes this adapter reads and writes: part of its wire format, like the body.
pub mod attr {
    pub const JOB_ID: &str = "job_id";
    pub const JOB_TYPE: &str = "job_type";
    pub const ORG_ID: &str = "org_id";
    pub const ENQUEUED_AT: &str = "enqueued_at";
    /// Unix milliseconds before which the job must not run: a delay longer than SQS's 15 minutes.
    pub const NOT_BEFORE: &str = "not_before";
    pub const REASON: &str = "reason";
    pub const ATTEMPTS: &str = "attempts";
    pub const FAILED_AT: &str = "failed_at";
}

/// The name of `pool`'s queue under `prefix`.
pub fn queue_name(prefix: &str, pool: Pool) -> String {
    format!("{prefix}-{}", pool.name())
}

/// The name of `pool`'s dead-letter queue under `prefix`.
pub fn dead_letter_queue_name(prefix: &str, pool: Pool) -> String {
    format!("{prefix}-{}-dlq", pool.name())
}

/// What [`SqsQueue::bootstrap`] did to one queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSetup {
    pub name: String,
    /// False when the queue existed already (its attributes were brought up to date).
    pub created: bool,
}

/// The [`Queue`] over Amazon SQS.
#[derive(Debug)]
pub struct SqsQueue {
    client: Client,
    prefix: String,
    /// How long a claim waits for a message when the queue is empty (SQS long polling, at most 20 s).
    wait_time: Duration,
    /// Queue URLs by name: a lookup per call would double the API calls.
    urls: RwLock<HashMap<String, String>>,
}

fn backend(context: &str, e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(format!("SQS {context}: {e}"))
}

/// An SDK error with its service code and message, which the SDK's `Display` leaves out.
fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    context: &str,
    e: SdkError<E, R>,
) -> QueueError {
    let detail = match e.as_service_error() {
        Some(s) => format!("{}: {}", s.code().unwrap_or("error"), s.message().unwrap_or("")),
        None => format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)),
    };
    backend(context, detail)
}

/// Whole seconds, rounded up, capped at `max`.
fn secs_ceil(d: Duration, max: u64) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs.min(max)).expect("capped far below i32::MAX")
}

fn string_attr(value: impl Into<String>) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data type and value are set")
}

fn number_attr(value: i64) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("Number")
        .string_value(value.to_string())
        .build()
        .expect("data type and value are set")
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// A received message with its attributes read.
struct Received {
    receipt_handle: String,
    body: String,
    job_id: Uuid,
    job_type: String,
    org_id: Option<Uuid>,
    enqueued_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    receive_count: u32,
    not_before: Option<DateTime<Utc>>,
    reason: Option<String>,
    attempts: Option<u32>,
    failed_at: Option<DateTime<Utc>>,
}

impl Received {
    /// Reads a message. Messages that did not come from [`SqsQueue::send`] (an EventBridge rule, the scan Lambda)
    /// lack the attributes: their id is the SQS message id and their type is taken from the body when it is a job.
    fn parse(message: Message) -> Result<Received, QueueError> {
        let attrs = message.message_attributes.unwrap_or_default();
        let text = |name: &str| attrs.get(name).and_then(|v| v.string_value()).map(str::to_owned);
        let number = |name: &str| text(name).and_then(|v| v.parse::<i64>().ok());
        let system = message.attributes.unwrap_or_default();
        let system_number = |name: MessageSystemAttributeName| system.get(&name).and_then(|v| v.parse::<i64>().ok());
        let receipt_handle =
            message.receipt_handle.ok_or_else(|| backend("receive", "a message came without a receipt handle"))?;
        let body = message.body.unwrap_or_default();
        let job_id = text(attr::JOB_ID)
            .and_then(|v| v.parse().ok())
            .or_else(|| message.message_id.as_deref().and_then(|v| v.parse().ok()))
            .unwrap_or_else(Uuid::now_v7);
        let job_type = text(attr::JOB_TYPE).unwrap_or_else(|| {
            super::Envelope::decode(&body).map(|e| e.job.type_name().to_owned()).unwrap_or_else(|_| "unknown".into())
        });
        let sent_at = system_number(MessageSystemAttributeName::SentTimestamp).and_then(from_millis);
        Ok(Received {
            receipt_handle,
            job_id,
            job_type,
            org_id: text(attr::ORG_ID).and_then(|v| v.parse().ok()),
            enqueued_at: number(attr::ENQUEUED_AT).and_then(from_millis).or(sent_at).unwrap_or_else(Utc::now),
            sent_at,
            receive_count: system_number(MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(1),
            not_before: number(attr::NOT_BEFORE).and_then(from_millis),
            reason: text(attr::REASON),
            attempts: number(attr::ATTEMPTS).and_then(|n| u32::try_from(n).ok()),
            failed_at: number(attr::FAILED_AT).and_then(from_millis),
            body,
        })
    }

    fn into_failed(self, pool: Pool) -> FailedJob {
        let max = pool.settings().max_attempts;
        FailedJob {
            id: self.job_id,
            pool,
            job_type: self.job_type,
            org_id: self.org_id,
            body: self.body,
            // No attributes means SQS moved the message itself, which it does after `maxReceiveCount` receives.
            attempts: self.attempts.unwrap_or(max),
            reason: self.reason.unwrap_or_else(|| {
                format!("received {max} times without being settled (SQS redrive): the worker crashed or hung")
            }),
            enqueued_at: self.enqueued_at,
            // A redriven message keeps its original send time, the best bound SQS gives.
            failed_at: self.failed_at.or(self.sent_at).unwrap_or(self.enqueued_at),
        }
    }
}

/// One message to send: the body and the attributes that travel with it.
struct Outgoing {
    body: String,
    attributes: HashMap<String, MessageAttributeValue>,
    delay_secs: i32,
}

impl Outgoing {
    fn new(
        body: String,
        job_id: Uuid,
        job_type: &str,
        org_id: Option<Uuid>,
        enqueued_at: DateTime<Utc>,
        delay: Duration,
    ) -> Outgoing {
        let mut attributes = HashMap::from([
            (attr::JOB_ID.to_owned(), string_attr(job_id.to_string())),
            (attr::JOB_TYPE.to_owned(), string_attr(job_type)),
            (attr::ENQUEUED_AT.to_owned(), number_attr(millis(enqueued_at))),
        ]);
        if let Some(org) = org_id {
            attributes.insert(attr::ORG_ID.to_owned(), string_attr(org.to_string()));
        }
        if delay > Duration::from_secs(MAX_DELAY_SECS) {
            let not_before = Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            attributes.insert(attr::NOT_BEFORE.to_owned(), number_attr(millis(not_before)));
        }
        Outgoing { body, attributes, delay_secs: secs_ceil(delay, MAX_DELAY_SECS) }
    }

    /// The same message again, keeping its id, type, org and enqueue time.
    fn copy_of(r: &Received, delay: Duration) -> Outgoing {
        let mut out = Outgoing::new(r.body.clone(), r.job_id, &r.job_type, r.org_id, r.enqueued_at, delay);
        if delay <= Duration::from_secs(MAX_DELAY_SECS) {
            if let Some(not_before) = r.not_before.filter(|t| *t > Utc::now()) {
                out.attributes.insert(attr::NOT_BEFORE.to_owned(), number_attr(millis(not_before)));
            }
        }
        out
    }

    fn size(&self) -> usize {
        self.body.len()
            + self.attributes.iter().map(|(k, v)| k.len() + v.string_value().map_or(0, str::len)).sum::<usize>()
    }
}

impl SqsQueue {
    /// A queue over `client` whose queue names start with `prefix`; claims long-poll for one second.
    pub fn new(client: Client, prefix: impl Into<String>) -> SqsQueue {
        SqsQueue { client, prefix: prefix.into(), wait_time: Duration::from_secs(1), urls: RwLock::default() }
    }

    /// A queue for `config`'s AWS region, endpoint and `sqs_prefix`.
    pub async fn from_config(config: &crate::Config) -> SqsQueue {
        SqsQueue::new(Client::new(&crate::aws::sdk_config(config).await), &config.sqs_prefix)
    }

    /// Sets how long a claim waits on an empty queue (rounded up to whole seconds, at most 20).
    pub fn with_wait_time(mut self, wait_time: Duration) -> SqsQueue {
        self.wait_time = wait_time.min(Duration::from_secs(20));
        self
    }

    /// How long a claim waits on an empty queue.
    pub fn wait_time(&self) -> Duration {
        self.wait_time
    }

    /// The SQS client (for tools and tests that manage the queues).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every queue name this queue uses: each pool's queue and its dead-letter queue.
    pub fn queue_names(&self) -> Vec<String> {
        Pool::ALL
            .into_iter()
            .flat_map(|p| [queue_name(&self.prefix, p), dead_letter_queue_name(&self.prefix, p)])
            .collect()
    }

    async fn url_of(&self, name: &str) -> Result<String, QueueError> {
        if let Some(url) = self.urls.read().expect("the URL cache lock is never poisoned").get(name) {
            return Ok(url.clone());
        }
        let found = self.client.get_queue_url().queue_name(name).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist()) {
                backend("queue lookup", format!("queue `{name}` does not exist; run `taskforge admin aws-bootstrap`"))
            } else {
                sdk_error(&format!("looking up queue `{name}`"), e)
            }
        })?;
        let url = found.queue_url.ok_or_else(|| backend("queue lookup", format!("no URL for `{name}`")))?;
        self.urls.write().expect("the URL cache lock is never poisoned").insert(name.to_owned(), url.clone());
        Ok(url)
    }

    async fn queue_url(&self, pool: Pool) -> Result<String, QueueError> {
        self.url_of(&queue_name(&self.prefix, pool)).await
    }

    async fn dlq_url(&self, pool: Pool) -> Result<String, QueueError> {
        self.url_of(&dead_letter_queue_name(&self.prefix, pool)).await
    }

    /// Looks up every queue, so a missing one fails start-up rather than the first job.
    pub async fn check(&self) -> Result<(), QueueError> {
        for name in self.queue_names() {
            self.url_of(&name).await?;
        }
        Ok(())
    }

    /// Creates every pool's queue and dead-letter queue, or brings an existing one's attributes up to date: the
    /// redrive policy (`maxReceiveCount` = the pool's `max_attempts`) and the pool's visibility timeout. Safe to
    /// run again.
    pub async fn bootstrap(&self) -> Result<Vec<QueueSetup>, QueueError> {
        let mut done = Vec::new();
        for pool in Pool::ALL {
            let settings = pool.settings();
            let dlq_name = dead_letter_queue_name(&self.prefix, pool);
            let dlq_attributes =
                HashMap::from([(QueueAttributeName::MessageRetentionPeriod, DLQ_RETENTION_SECS.to_string())]);
            let (dlq_url, created) = self.ensure_queue(&dlq_name, dlq_attributes).await?;
            done.push(QueueSetup { name: dlq_name, created });
            let dlq_arn = self
                .client
                .get_queue_attributes()
                .queue_url(&dlq_url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| sdk_error("reading the dead-letter queue's ARN", e))?
                .attributes
                .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
                .ok_or_else(|| backend("bootstrap", "the dead-letter queue has no ARN"))?;
            let redrive = serde_json::json!({
                "deadLetterTargetArn": dlq_arn,
                "maxReceiveCount": settings.max_attempts.to_string(),
            });
            let name = queue_name(&self.prefix, pool);
            let attributes = HashMap::from([
                (QueueAttributeName::VisibilityTimeout, settings.visibility_timeout.as_secs().to_string()),
                (QueueAttributeName::RedrivePolicy, redrive.to_string()),
            ]);
            let (_, created) = self.ensure_queue(&name, attributes).await?;
            done.push(QueueSetup { name, created });
        }
        Ok(done)
    }

    /// The queue's URL and whether it was created now.
    async fn ensure_queue(
        &self,
        name: &str,
        attributes: HashMap<QueueAttributeName, String>,
    ) -> Result<(String, bool), QueueError> {
        let existing = self.client.get_queue_url().queue_name(name).send().await;
        match existing {
            Ok(found) => {
                let url = found.queue_url.ok_or_else(|| backend("bootstrap", format!("no URL for `{name}`")))?;
                self.client
                    .set_queue_attributes()
                    .queue_url(&url)
                    .set_attributes(Some(attributes))
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("updating queue `{name}`"), e))?;
                Ok((url, false))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist()) => {
                let created = self
                    .client
                    .create_queue()
                    .queue_name(name)
                    .set_attributes(Some(attributes))
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("creating queue `{name}`"), e))?;
                let url = created.queue_url.ok_or_else(|| backend("bootstrap", format!("no URL for `{name}`")))?;
                self.urls.write().expect("the URL cache lock is never poisoned").insert(name.to_owned(), url.clone());
                Ok((url, true))
            }
            Err(e) => Err(sdk_error(&format!("looking up queue `{name}`"), e)),
        }
    }

    /// Sends messages to one queue in batches of 10 (and under the batch size limit). Entries SQS rejects for its
    /// own reasons (throttling, an internal error) are sent again a few times; a rejected message is an error.
    async fn send_to(&self, url: &str, messages: Vec<Outgoing>) -> Result<(), QueueError> {
        let mut pending: Vec<Outgoing> = messages;
        while !pending.is_empty() {
            let mut take = 0;
            let mut bytes = 0;
            while take < pending.len() && take < BATCH && (take == 0 || bytes + pending[take].size() <= BATCH_BYTES) {
                bytes += pending[take].size();
                take += 1;
            }
            let rest = pending.split_off(take);
            let mut batch: Vec<Option<Outgoing>> = pending.into_iter().map(Some).collect();
            pending = rest;
            for round in 0..3 {
                let entries: Vec<SendMessageBatchRequestEntry> = batch
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| m.as_ref().map(|m| (i, m)))
                    .map(|(i, m)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(&m.body)
                            .delay_seconds(m.delay_secs)
                            .set_message_attributes(Some(m.attributes.clone()))
                            .build()
                            .expect("id and body are set")
                    })
                    .collect();
                if entries.is_empty() {
                    break;
                }
                let sent = self
                    .client
                    .send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| sdk_error("sending messages", e))?;
                for ok in sent.successful {
                    if let Ok(i) = ok.id.parse::<usize>() {
                        batch[i] = None;
                    }
                }
                if let Some(bad) = sent.failed.iter().find(|f| f.sender_fault || round == 2) {
                    return Err(backend(
                        "sending messages",
                        format!("{}: {}", bad.code, bad.message.as_deref().unwrap_or("rejected")),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn receive(
        &self,
        url: &str,
        max: usize,
        visibility_secs: i32,
        wait_secs: i32,
    ) -> Result<Vec<Received>, QueueError> {
        let received = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(i32::try_from(max.min(BATCH)).expect("at most 10"))
            .visibility_timeout(visibility_secs)
            .wait_time_seconds(wait_secs)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| sdk_error("receiving messages", e))?;
        received.messages.unwrap_or_default().into_iter().map(Received::parse).collect()
    }

    /// Deletes one delivery; false when SQS says the handle is not valid (any more).
    async fn delete(&self, url: &str, receipt_handle: &str) -> Result<bool, QueueError> {
        match self.client.delete_message().queue_url(url).receipt_handle(receipt_handle).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_receipt_handle_is_invalid()) => Ok(false),
            Err(e) => Err(sdk_error("deleting a message", e)),
        }
    }

    async fn delete_batch(&self, url: &str, handles: &[String]) -> Result<(), QueueError> {
        for chunk in handles.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(h).build().expect("set")
                })
                .collect();
            let done = self
                .client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("deleting messages", e))?;
            if let Some(bad) = done.failed.first() {
                return Err(backend(
                    "deleting messages",
                    format!("{}: {}", bad.code, bad.message.as_deref().unwrap_or("")),
                ));
            }
        }
        Ok(())
    }

    /// Makes deliveries visible again at once (the end of a dead-letter listing).
    async fn make_visible(&self, url: &str, handles: &[String]) -> Result<(), QueueError> {
        for chunk in handles.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .visibility_timeout(0)
                        .build()
                        .expect("set")
                })
                .collect();
            self.client
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_error("releasing dead letters", e))?;
        }
        Ok(())
    }

    async fn change_visibility(&self, lease: &Lease, secs: i32) -> Result<bool, QueueError> {
        let handle = Self::handle(lease)?;
        let url = self.queue_url(lease.pool).await?;
        match self
            .client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(secs)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_receipt_handle_is_invalid() || s.is_message_not_inflight()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("changing a message's visibility", e)),
        }
    }

    fn handle(lease: &Lease) -> Result<&str, QueueError> {
        lease
            .receipt_handle
            .as_deref()
            .ok_or_else(|| backend("lease", "a lease without a receipt handle is not an SQS lease"))
    }

    /// Every message of `pool`'s dead-letter queue (up to [`SCAN_LIMIT`]), held invisible for the caller; the
    /// caller deletes or releases them. Skips the receive calls when SQS counts none.
    async fn read_dead_letters(&self, pool: Pool) -> Result<(String, Vec<Received>), QueueError> {
        let url = self.dlq_url(pool).await?;
        let counts = self.counts(&url).await?;
        let mut out: Vec<Received> = Vec::new();
        if counts.visible == 0 {
            return Ok((url, out));
        }
        while out.len() < SCAN_LIMIT {
            // Long polling (1 s) asks every SQS server; short polling may answer empty from a sample of them.
            let batch = self.receive(&url, BATCH, SCAN_VISIBILITY_SECS, 1).await?;
            if batch.is_empty() {
                break;
            }
            out.extend(batch);
            if out.len() as u64 >= counts.visible {
                break;
            }
        }
        Ok((url, out))
    }

    async fn counts(&self, url: &str) -> Result<Counts, QueueError> {
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| sdk_error("reading queue attributes", e))?
            .attributes
            .unwrap_or_default();
        let n = |name: QueueAttributeName| attrs.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Counts {
            visible: n(QueueAttributeName::ApproximateNumberOfMessages),
            not_visible: n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: n(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        })
    }

    fn pools(pool: Option<Pool>) -> Vec<Pool> {
        pool.map_or_else(|| Pool::ALL.to_vec(), |p| vec![p])
    }
}

/// The approximate counters SQS keeps per queue.
struct Counts {
    visible: u64,
    not_visible: u64,
    delayed: u64,
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, messages: Vec<OutgoingMessage>, delay: Duration) -> Result<(), QueueError> {
        let now = Utc::now();
        let mut by_pool: HashMap<Pool, Vec<Outgoing>> = HashMap::new();
        for m in messages {
            by_pool.entry(m.pool).or_default().push(Outgoing::new(m.body, m.id, &m.job_type, m.org_id, now, delay));
        }
        for (pool, messages) in by_pool {
            let url = self.queue_url(pool).await?;
            self.send_to(&url, messages).await?;
        }
        Ok(())
    }

    async fn claim_batch(
        &self,
        pool: Pool,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<LeasedMessage>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let url = self.queue_url(pool).await?;
        // A zero visibility timeout would hand the message to the next receive at once.
        let visibility_secs = secs_ceil(visibility, MAX_VISIBILITY_SECS).max(1);
        let wait_secs = secs_ceil(self.wait_time, 20);
        let received = self.receive(&url, max, visibility_secs, wait_secs).await?;
        let now = Utc::now();
        let mut claimed = Vec::with_capacity(received.len());
        let mut early = Vec::new();
        for r in received {
            match r.not_before.filter(|t| *t > now) {
                Some(t) => early.push((r, (t - now).to_std().unwrap_or_default())),
                None => claimed.push(LeasedMessage {
                    lease: Lease {
                        pool,
                        message_id: r.job_id,
                        token: Uuid::now_v7(),
                        receipt_handle: Some(r.receipt_handle),
                    },
                    job_type: r.job_type,
                    org_id: r.org_id,
                    body: r.body,
                    receive_count: r.receive_count,
                    enqueued_at: r.enqueued_at,
                }),
            }
        }
        // Delayed beyond what SQS can delay: back into the queue with the rest of the wait, as new messages.
        for (r, remaining) in early {
            self.send_to(&url, vec![Outgoing::copy_of(&r, remaining)]).await?;
            self.delete(&url, &r.receipt_handle).await?;
        }
        Ok(claimed)
    }

    async fn extend(&self, lease: &Lease, visibility: Duration) -> Result<bool, QueueError> {
        self.change_visibility(lease, secs_ceil(visibility, MAX_VISIBILITY_SECS).max(1)).await
    }

    async fn ack(&self, lease: &Lease) -> Result<bool, QueueError> {
        let url = self.queue_url(lease.pool).await?;
        self.delete(&url, Self::handle(lease)?).await
    }

    async fn retry_later(&self, lease: &Lease, delay: Duration, error: &str) -> Result<bool, QueueError> {
        tracing::debug!(error, "SQS keeps no retry error; the next attempt starts after the visibility delay");
        self.change_visibility(lease, secs_ceil(delay, MAX_VISIBILITY_SECS)).await
    }

    async fn release(&self, message: &LeasedMessage) -> Result<bool, QueueError> {
        let lease = &message.lease;
        let handle = Self::handle(lease)?;
        let url = self.queue_url(lease.pool).await?;
        // Send before delete: a failure in between leaves a duplicate, never a loss.
        let copy = Outgoing::new(
            message.body.clone(),
            lease.message_id,
            &message.job_type,
            message.org_id,
            message.enqueued_at,
            Duration::ZERO,
        );
        self.send_to(&url, vec![copy]).await?;
        self.delete(&url, handle).await
    }

    async fn dead_letter(&self, message: &LeasedMessage, reason: &str) -> Result<bool, QueueError> {
        let lease = &message.lease;
        let handle = Self::handle(lease)?;
        let url = self.queue_url(lease.pool).await?;
        let dlq = self.dlq_url(lease.pool).await?;
        let mut copy = Outgoing::new(
            message.body.clone(),
            lease.message_id,
            &message.job_type,
            message.org_id,
            message.enqueued_at,
            Duration::ZERO,
        );
        // SQS caps a string attribute at the message size limit; a reason is a sentence, keep it one.
        let reason: String = reason.chars().take(4000).collect();
        copy.attributes.insert(attr::REASON.to_owned(), string_attr(reason));
        copy.attributes.insert(attr::ATTEMPTS.to_owned(), number_attr(i64::from(message.receive_count)));
        copy.attributes.insert(attr::FAILED_AT.to_owned(), number_attr(millis(Utc::now())));
        self.send_to(&dlq, vec![copy]).await?;
        self.delete(&url, handle).await
    }

    async fn stats(&self) -> Result<Vec<PoolStats>, QueueError> {
        let mut out = Vec::with_capacity(Pool::ALL.len());
        for pool in Pool::ALL {
            let main = self.counts(&self.queue_url(pool).await?).await?;
            let dead = self.counts(&self.dlq_url(pool).await?).await?;
            out.push(PoolStats {
                pool,
                depth: main.visible,
                // SQS counts a message waiting out a retry delay (a visibility change) as not visible, like one
                // being worked on; only messages sent with a delay count as delayed.
                in_flight: main.not_visible,
                delayed: main.delayed,
                // Dead letters being read by a listing are invisible for a moment but still there.
                dead_letters: dead.visible + dead.not_visible + dead.delayed,
                oldest_age: None,
            });
        }
        Ok(out)
    }

    async fn failed_list(&self, pool: Option<Pool>, limit: u64) -> Result<Vec<FailedJob>, QueueError> {
        let mut all = Vec::new();
        for pool in Self::pools(pool) {
            let (url, read) = self.read_dead_letters(pool).await?;
            let handles: Vec<String> = read.iter().map(|r| r.receipt_handle.clone()).collect();
            all.extend(read.into_iter().map(|r| r.into_failed(pool)));
            self.make_visible(&url, &handles).await?;
        }
        all.sort_by(|a, b| b.failed_at.cmp(&a.failed_at).then(b.id.cmp(&a.id)));
        all.dedup_by_key(|f| f.id);
        all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(all)
    }

    async fn failed_show(&self, id: Uuid) -> Result<Option<FailedJob>, QueueError> {
        for pool in Pool::ALL {
            let (url, read) = self.read_dead_letters(pool).await?;
            let handles: Vec<String> = read.iter().map(|r| r.receipt_handle.clone()).collect();
            let found = read.into_iter().find(|r| r.job_id == id).map(|r| r.into_failed(pool));
            self.make_visible(&url, &handles).await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    async fn retry_failed(&self, id: Option<Uuid>, pool: Option<Pool>) -> Result<u64, QueueError> {
        let mut moved = 0;
        for pool in Self::pools(pool) {
            let (dlq, read) = self.read_dead_letters(pool).await?;
            let (chosen, others): (Vec<Received>, Vec<Received>) =
                read.into_iter().partition(|r| id.is_none_or(|id| r.job_id == id));
            let handles: Vec<String> = others.iter().map(|r| r.receipt_handle.clone()).collect();
            self.make_visible(&dlq, &handles).await?;
            if chosen.is_empty() {
                continue;
            }
            // A fresh message in the pool's queue: its receive count, and so its attempts, start again at zero.
            let copies = chosen.iter().map(|r| Outgoing::copy_of(r, Duration::ZERO)).collect();
            self.send_to(&self.queue_url(pool).await?, copies).await?;
            let handles: Vec<String> = chosen.iter().map(|r| r.receipt_handle.clone()).collect();
            self.delete_batch(&dlq, &handles).await?;
            moved += chosen.len() as u64;
        }
        Ok(moved)
    }

    async fn purge_failed(&self, pool: Option<Pool>) -> Result<u64, QueueError> {
        // Receive and delete rather than `PurgeQueue`: that one runs asynchronously for up to a minute, may be
        // called once a minute per queue, and does not say how many messages it removed.
        let mut deleted = 0;
        for pool in Self::pools(pool) {
            loop {
                let (dlq, read) = self.read_dead_letters(pool).await?;
                if read.is_empty() {
                    break;
                }
                let handles: Vec<String> = read.iter().map(|r| r.receipt_handle.clone()).collect();
                self.delete_batch(&dlq, &handles).await?;
                deleted += handles.len() as u64;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_up_to_whole_seconds_within_the_limit() {
        assert_eq!(secs_ceil(Duration::ZERO, 900), 0);
        assert_eq!(secs_ceil(Duration::from_millis(40), 900), 1);
        assert_eq!(secs_ceil(Duration::from_secs(2), 900), 2);
        assert_eq!(secs_ceil(Duration::from_millis(2001), 900), 3);
        assert_eq!(secs_ceil(Duration::from_secs(3600), 900), 900);
    }

    #[test]
    fn queue_names_follow_the_prefix_and_pool() {
        assert_eq!(queue_name("tf", Pool::Images), "tf-images");
        assert_eq!(dead_letter_queue_name("tf", Pool::Images), "tf-images-dlq");
    }
}
