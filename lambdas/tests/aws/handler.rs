//! The handler on real S3 event JSON, against moto's S3 and SQS: what happens to the object, and what the worker
//! reads from the scans queue.
use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use lambdas::aws::{ScanEventError, ScanLambda, ScanSummary, Settings};
use lambdas::keys::UploadKey;
use lambdas::scanner::{Blocklist, BuiltinScanner, ClamdScanner, Scanner};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::*;
use crate::zips::{zip, Method};

fn upload() -> UploadKey {
    UploadKey::new(Uuid::now_v7(), Uuid::now_v7())
}

fn lambda(moto: &Moto, settings: Settings, scanner: Arc<dyn Scanner>) -> ScanLambda {
    ScanLambda::new(moto.s3.clone(), moto.sqs.clone(), scanner, settings)
}

fn builtin() -> Arc<dyn Scanner> {
    Arc::new(BuiltinScanner::new(Blocklist::default()))
}

fn event(json: &str) -> S3Event {
    serde_json::from_str(json).expect("the notification deserialises as an S3Event")
}

fn summary(clean: u32, infected: u32, failed: u32, skipped: &[&str]) -> ScanSummary {
    ScanSummary { clean, infected, failed, skipped: skipped.iter().map(|s| s.to_string()).collect() }
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn an_infected_upload_is_quarantined_with_its_tags_and_reported() {
    let Some(moto) = moto().await else { return };
    let stage = moto.stage().await;
    let key = upload();
    let etag = moto.put(&stage.bucket, &key.key(), EICAR, "text/plain").await;
    let json = event_json(&[Record::created(&stage.bucket, &key.key(), EICAR.len(), &etag)]);

    let lambda = lambda(&moto, settings(&stage.queue_url), builtin());
    let done = lambda.handle(event(&json)).await.expect("a finished scan");
    assert_eq!(done, summary(0, 1, 0, &[]));

    assert!(!moto.exists(&stage.bucket, &key.key()).await, "the upload is gone from uploads/");
    assert_eq!(moto.body(&stage.bucket, &key.quarantine_key()).await, EICAR, "the same bytes, in quarantine");
    let tags = moto.tags(&stage.bucket, &key.quarantine_key()).await;
    assert_eq!(tag(&tags, "taskforge-scan"), Some("infected"), "{tags:?}");
    assert_eq!(tag(&tags, "taskforge-signature"), Some("Builtin.Test.EICAR"), "{tags:?}");
    assert!(tag(&tags, "taskforge-engine").is_some_and(|e| e.starts_with("builtin")), "{tags:?}");

    let messages = moto.messages(&stage.queue_url, 1).await;
    let job = scan_result(&messages[0], key.org_id);
    assert_eq!(job["key"], key.key());
    assert_eq!(job["outcome"], "infected");
    assert_eq!(job["signature"], "Builtin.Test.EICAR");
    assert_eq!(job["engine"], "builtin");
    assert_eq!(job["quarantine_key"], key.quarantine_key());
    assert_eq!(job["retryable"], false);
}

#[tokio::test]
async fn a_clean_upload_is_tagged_in_place_and_reported_with_its_digest() {
    let Some(moto) = moto().await else { return };
    let stage = moto.stage().await;
    let key = upload();
    let body = "Minutes of the planning meeting.\n".repeat(4_000);
    let etag = moto.put(&stage.bucket, &key.key(), body.as_bytes(), "text/plain").await;
    let json = event_json(&[Record::created(&stage.bucket, &key.key(), body.len(), &etag)]);

    let done = lambda(&moto, settings(&stage.queue_url), builtin()).handle(event(&json)).await.unwrap();
    assert_eq!(done, summary(1, 0, 0, &[]));

    assert_eq!(moto.body(&stage.bucket, &key.key()).await, body.as_bytes(), "the upload stays where it is");
    assert!(!moto.exists(&stage.bucket, &key.quarantine_key()).await);
    let tags = moto.tags(&stage.bucket, &key.key()).await;
    assert_eq!(tag(&tags, "taskforge-scan"), Some("clean"), "{tags:?}");
    assert_eq!(tag(&tags, "taskforge-signature"), None, "{tags:?}");

    let messages = moto.messages(&stage.queue_url, 1).await;
    let job = scan_result(&messages[0], key.org_id);
    assert_eq!(job["key"], key.key());
    assert_eq!(job["outcome"], "clean");
    assert_eq!(job["sha256"], hex::encode(Sha256::digest(body.as_bytes())));
    assert_eq!(job["size"], body.len());
    assert_eq!(job["sniffed_type"], "text/plain");
    assert_eq!(job["quarantine_key"], serde_json::Value::Null);
}

#[tokio::test]
async fn clamd_finds_eicar_inside_a_zip_and_it_goes_to_the_quarantine_bucket() {
    let Some(moto) = moto().await else { return };
    let Some((addr, clamd)) = clamd().await else { return };
    let stage = moto.stage().await;
    let quarantine_bucket = format!("{}-quarantine", stage.bucket);
    moto.create_bucket(&quarantine_bucket).await;
    let key = upload();
    let archive = zip(&[("readme.txt", b"nothing to see", Method::Deflated), ("eicar.com", EICAR, Method::Deflated)]);
    let etag = moto.put(&stage.bucket, &key.key(), &archive, "application/zip").await;
    let json = event_json(&[Record::created(&stage.bucket, &key.key(), archive.len(), &etag)]);

    let settings = Settings {
        clamd_addr: Some(addr),
        quarantine_bucket: Some(quarantine_bucket.clone()),
        ..settings(&stage.queue_url)
    };
    let done = lambda(&moto, settings, Arc::new(clamd)).handle(event(&json)).await.unwrap();
    assert_eq!(done, summary(0, 1, 0, &[]));

    assert!(!moto.exists(&stage.bucket, &key.key()).await, "the upload is gone");
    assert!(!moto.exists(&stage.bucket, &key.quarantine_key()).await, "not in the uploads bucket's quarantine/");
    assert_eq!(moto.body(&quarantine_bucket, &key.quarantine_key()).await, archive);
    let tags = moto.tags(&quarantine_bucket, &key.quarantine_key()).await;
    assert_eq!(tag(&tags, "taskforge-scan"), Some("infected"), "{tags:?}");
    assert!(tag(&tags, "taskforge-engine").is_some_and(|e| e.starts_with("clamav ")), "{tags:?}");

    let messages = moto.messages(&stage.queue_url, 1).await;
    let job = scan_result(&messages[0], key.org_id);
    assert_eq!(job["outcome"], "infected");
    assert_eq!(job["engine"], "clamav");
    assert!(job["signature"].as_str().is_some_and(|s| s.starts_with("Test.EICAR")), "{job}");
    assert_eq!(job["sniffed_type"], "application/zip");
}

#[tokio::test]
async fn keys_outside_uploads_and_other_events_are_skipped_and_never_reported() {
    let Some(moto) = moto().await else { return };
    let stage = moto.stage().await;
    let key = upload();
    let thumbnail = key.thumbnail_key(256);
    moto.put(&stage.bucket, &thumbnail, EICAR, "image/png").await;
    let upload_key = key.key();
    let removed = Record { event_name: "ObjectRemoved:Delete", ..Record::created(&stage.bucket, &upload_key, 0, "") };
    let json = event_json(&[
        Record::created(&stage.bucket, &thumbnail, EICAR.len(), "x"),
        Record::created(&stage.bucket, &key.quarantine_key(), EICAR.len(), "x"),
        removed,
    ]);

    let done = lambda(&moto, settings(&stage.queue_url), builtin()).handle(event(&json)).await.unwrap();
    assert_eq!(done, summary(0, 0, 0, &[&thumbnail, &key.quarantine_key(), &upload_key]));
    assert!(moto.exists(&stage.bucket, &thumbnail).await, "a skipped object is left alone");
    moto.messages(&stage.queue_url, 0).await;
}

#[tokio::test]
async fn event_keys_are_url_decoded_before_they_name_an_object() {
    let Some(moto) = moto().await else { return };
    let stage = moto.stage().await;
    let key = upload();
    let etag = moto.put(&stage.bucket, &key.key(), b"plain words", "text/plain").await;
    // S3 percent-encodes keys in events; an encoded `/` and `-` still name the same upload.
    let encoded = key.key().replace('/', "%2F").replace('-', "%2D");
    // A space arrives as `+` and a `+` as `%2B`: this decodes to `uploads/My Report+v2 (final).pdf`.
    let spaced = "uploads/My+Report%2Bv2+%28final%29.pdf";
    let json = event_json(&[
        Record::created(&stage.bucket, &encoded, 11, &etag),
        Record::created(&stage.bucket, spaced, 11, &etag),
    ]);

    let done = lambda(&moto, settings(&stage.queue_url), builtin()).handle(event(&json)).await.unwrap();
    assert_eq!(done, summary(1, 0, 0, &["uploads/My Report+v2 (final).pdf"]));
    let messages = moto.messages(&stage.queue_url, 1).await;
    let job = scan_result(&messages[0], key.org_id);
    assert_eq!((job["key"].as_str(), job["outcome"].as_str()), (Some(key.key().as_str()), Some("clean")));
}

#[tokio::test]
async fn a_scan_that_may_succeed_later_is_reported_failed_and_the_invocation_fails_for_a_retry() {
    let Some(moto) = moto().await else { return };
    let stage = moto.stage().await;
    let (missing, broken) = (upload(), upload());
    let etag = moto.put(&stage.bucket, &broken.key(), EICAR, "text/plain").await;
    let json = event_json(&[
        Record::created(&stage.bucket, &missing.key(), 68, "gone"),
        Record::created(&stage.bucket, &broken.key(), EICAR.len(), &etag),
    ]);
    // A clamd that is not there: a scan that another attempt may finish.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let scanner = Arc::new(ClamdScanner::new(closed.to_string()));

    let error = lambda(&moto, settings(&stage.queue_url), scanner).handle(event(&json)).await.unwrap_err();
    let ScanEventError::Retry { failures, summary: done } = &error else { panic!("{error}") };
    assert_eq!(done, &summary(0, 0, 2, &[]));
    assert_eq!(failures.len(), 1, "only the upload a retry can help: {failures:?}");
    assert!(failures[0].starts_with(&broken.key()), "{failures:?}");
    assert!(moto.exists(&stage.bucket, &broken.key()).await, "an unscanned upload stays in place");

    // Both results were sent before the invocation failed: the worker shows them as failed meanwhile.
    let mut jobs: Vec<_> = moto.messages(&stage.queue_url, 2).await;
    jobs.sort_by_key(|m| m["job"]["key"] == broken.key());
    let gone = scan_result(&jobs[0], missing.org_id);
    assert_eq!((gone["outcome"].as_str(), gone["retryable"].as_bool()), (Some("failed"), Some(false)), "{gone}");
    let later = scan_result(&jobs[1], broken.org_id);
    assert_eq!((later["outcome"].as_str(), later["retryable"].as_bool()), (Some("failed"), Some(true)), "{later}");
    assert!(later["error"].as_str().is_some_and(|e| e.contains("could not connect")), "{later}");
}

#[tokio::test]
async fn an_s3_test_event_is_acknowledged_and_other_payloads_are_refused() {
    let Some(moto) = moto().await else { return };
    let stage = moto.stage().await;
    let lambda = lambda(&moto, settings(&stage.queue_url), builtin());
    let test_event = serde_json::json!({
        "Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-01-06T08:24:51.123Z",
        "Bucket": stage.bucket, "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
    });
    assert_eq!(lambda.handle_payload(test_event).await.unwrap(), ScanSummary::default());
    let error = lambda.handle_payload(serde_json::json!({"detail-type": "Scheduled Event"})).await.unwrap_err();
    assert!(matches!(error, ScanEventError::NotAnS3Event(_)), "{error}");
    moto.messages(&stage.queue_url, 0).await;
}
