//! The services the scan Lambda talks to, for tests: moto's S3 at `TASKFORGE_TEST_S3_URL` (default
//! http://127.0.0.1:5056) and SQS at `TASKFORGE_TEST_AWS_URL` (default http://127.0.0.1:5055), both started by
//! scripts/moto.sh, and clamd at `TASKFORGE_TEST_CLAMD_ADDR` (scripts/clamd.sh). Without them the tests are skipped
//! with a message, except under `CI=true`, where that fails them. moto's state is shared, so every test makes a
//! bucket and a queue of its own.
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use lambdas::aws::Settings;
use lambdas::scanner::{Blocklist, ClamdScanner};
use serde_json::Value;
use uuid::Uuid;

pub const REGION: &str = "us-east-1";
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// An S3 `ObjectCreated` notification as AWS delivers it to Lambda, with `{placeholders}`.
const OBJECT_CREATED: &str = include_str!("fixtures/s3-object-created.json");

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `None` after saying why when `what` is unavailable; a panic under `CI=true`.
fn unavailable<T>(what: &str, error: impl std::fmt::Display, how: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} is unreachable and CI=true: {error}");
    }
    eprintln!("skipping: {what} is unreachable ({error}); start it with {how}");
    None
}

/// The two moto servers, reachable.
#[derive(Clone)]
pub struct Moto {
    pub s3_url: String,
    pub sqs_url: String,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
}

fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "tests",
        )))
        .build()
}

/// moto's S3 and SQS; `None` (skip) when either does not answer, except under `CI=true`.
pub async fn moto() -> Option<Moto> {
    let s3_url = std::env::var("TASKFORGE_TEST_S3_URL").unwrap_or_else(|_| "http://127.0.0.1:5056".into());
    let sqs_url = std::env::var("TASKFORGE_TEST_AWS_URL").unwrap_or_else(|_| "http://127.0.0.1:5055".into());
    let s3_conf = aws_sdk_s3::config::Builder::from(&sdk_config(&s3_url))
        .force_path_style(true)
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder().operation_timeout(Duration::from_secs(10)).build(),
        )
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_conf);
    let sqs = aws_sdk_sqs::Client::new(&sdk_config(&sqs_url));
    // The probes are cheap list calls that touch no other test's state.
    if let Err(e) = s3.list_buckets().send().await {
        return unavailable(
            &format!("moto S3 at {s3_url}"),
            aws_sdk_s3::error::DisplayErrorContext(e),
            "scripts/moto.sh",
        );
    }
    if let Err(e) = sqs.list_queues().send().await {
        return unavailable(
            &format!("moto SQS at {sqs_url}"),
            aws_sdk_sqs::error::DisplayErrorContext(e),
            "scripts/moto.sh",
        );
    }
    Some(Moto { s3_url, sqs_url, s3, sqs })
}

/// The test clamd; `None` (skip) when it does not answer `PONG`, except under `CI=true`.
pub async fn clamd() -> Option<(String, ClamdScanner)> {
    let addr = std::env::var("TASKFORGE_TEST_CLAMD_ADDR").unwrap_or_else(|_| "127.0.0.1:3310".into());
    let scanner = ClamdScanner::new(addr.clone()).with_timeout(Duration::from_secs(30));
    match scanner.ping().await {
        Ok(()) => Some((addr, scanner)),
        Err(e) => unavailable(&format!("clamd at {addr}"), e, "scripts/clamd.sh"),
    }
}

/// A fresh bucket and scans queue on moto.
pub struct Stage {
    pub bucket: String,
    pub queue_url: String,
}

impl Moto {
    pub async fn stage(&self) -> Stage {
        let id = Uuid::now_v7().simple().to_string();
        let bucket = format!("tf-scan-{id}");
        self.create_bucket(&bucket).await;
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(format!("tf-scans-{id}"))
            .send()
            .await
            .expect("the scans queue is created")
            .queue_url
            .expect("a queue URL");
        Stage { bucket, queue_url }
    }

    pub async fn create_bucket(&self, bucket: &str) {
        self.s3.create_bucket().bucket(bucket).send().await.expect("the bucket is created");
    }

    /// Stores `body` at `key` and returns its ETag as an event carries it (without quotes).
    pub async fn put(&self, bucket: &str, key: &str, body: &[u8], content_type: &str) -> String {
        let put = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .expect("the upload is stored");
        put.e_tag.unwrap_or_default().trim_matches('"').to_owned()
    }

    pub async fn exists(&self, bucket: &str, key: &str) -> bool {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => false,
            Err(e) => panic!("HEAD s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)),
        }
    }

    pub async fn tags(&self, bucket: &str, key: &str) -> Vec<(String, String)> {
        let tagging = self.s3.get_object_tagging().bucket(bucket).key(key).send().await.expect("the object's tags");
        let mut tags: Vec<_> = tagging.tag_set.into_iter().map(|t| (t.key, t.value)).collect();
        tags.sort();
        tags
    }

    pub async fn body(&self, bucket: &str, key: &str) -> Vec<u8> {
        let object = self.s3.get_object().bucket(bucket).key(key).send().await.expect("the object is there");
        object.body.collect().await.expect("the object's body").into_bytes().to_vec()
    }

    /// Receives exactly `count` messages from the queue within a deadline, as JSON, and checks that no more come.
    pub async fn messages(&self, queue_url: &str, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut bodies = Vec::new();
        while bodies.len() < count {
            assert!(tokio::time::Instant::now() < deadline, "{} of {count} messages arrived: {bodies:?}", bodies.len());
            bodies.extend(self.receive(queue_url, 1).await);
        }
        let more = self.receive(queue_url, 0).await;
        assert!(more.is_empty(), "more messages than the {count} expected: {more:?}");
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).unwrap_or_else(|e| panic!("a message body is not JSON ({e}): {b}")))
            .collect()
    }

    async fn receive(&self, queue_url: &str, wait_seconds: i32) -> Vec<String> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .expect("receiving from the scans queue");
        received.messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect()
    }
}

/// Settings that send to `queue_url` and judge with the built-in scanner.
pub fn settings(queue_url: &str) -> Settings {
    Settings {
        scans_queue_url: queue_url.to_owned(),
        clamd_addr: None,
        clamd_timeout: Duration::from_secs(30),
        blocklist: Blocklist::default(),
        quarantine_bucket: None,
    }
}

/// One record of the event: what happened to which key (as S3 encodes it) in which bucket.
pub struct Record<'a> {
    pub event_name: &'a str,
    pub bucket: &'a str,
    pub raw_key: &'a str,
    pub size: usize,
    pub etag: &'a str,
}

impl<'a> Record<'a> {
    pub fn created(bucket: &'a str, raw_key: &'a str, size: usize, etag: &'a str) -> Record<'a> {
        Record { event_name: "ObjectCreated:Put", bucket, raw_key, size, etag }
    }
}

/// The notification JSON for these records, from the fixture.
pub fn event_json(records: &[Record<'_>]) -> String {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            let filled = OBJECT_CREATED
                .replace("{event_time}", "2026-01-06T08:24:51.123Z")
                .replace("{event_name}", r.event_name)
                .replace("{bucket}", r.bucket)
                .replace("{key}", r.raw_key)
                .replace("{size}", &r.size.to_string())
                .replace("{etag}", r.etag);
            let mut event: Value = serde_json::from_str(&filled).expect("the fixture is JSON once filled");
            event["Records"][0].take()
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

/// The job inside a scans queue message, after checking the envelope names a scan result for `org_id`.
pub fn scan_result(message: &Value, org_id: Uuid) -> &Value {
    assert_eq!(message["org_id"], org_id.to_string(), "{message}");
    assert_eq!(message["attempt"], 0, "{message}");
    assert!(Uuid::parse_str(message["job_id"].as_str().unwrap_or_default()).is_ok(), "{message}");
    let job = &message["job"];
    assert_eq!(job["type"], "scan_result", "{message}");
    assert_eq!(job["v"], 1, "{message}");
    job
}
