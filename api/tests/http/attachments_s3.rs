//! The upload flow in the production shape, against moto: S3 storage (presigned PUT and GET), the SQS queues, and
//! the scan Lambda's handler invoked with the bucket's `ObjectCreated` event, reporting to the `scans` queue that
//! the worker pool drains. The same API calls as the embedded tests; only the adapters differ.
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// moto's URL, or `None` (skip) when it does not answer, except under `CI=true`, where that fails the test.
async fn moto() -> Option<String> {
    let url = std::env::var("TASKFORGE_TEST_S3_URL").unwrap_or_else(|_| "http://127.0.0.1:5056".into());
    match testkit::reachable(&url).await {
        Ok(()) => Some(url),
        Err(e) => {
            testkit::unavailable("S3 (moto)", &url, e);
            None
        }
    }
}

/// The bucket event S3 sends for a new object (the scan Lambda tests' fixture).
fn object_created(bucket: &str, key: &str, size: usize) -> Value {
    let json = include_str!("../../../lambdas/tests/aws/fixtures/s3-object-created.json")
        .replace("{event_time}", "2026-11-25T10:00:00.000Z")
        .replace("{event_name}", "ObjectCreated:Put")
        .replace("{bucket}", bucket)
        .replace("{key}", key)
        .replace("{size}", &size.to_string())
        .replace("{etag}", "0123456789abcdef0123456789abcdef");
    serde_json::from_str(&json).expect("the fixture is JSON")
}

async fn put_signed(app: &TestApp, request: &Value, bytes: &[u8]) -> reqwest::StatusCode {
    let mut req = app.client.put(request["url"].as_str().unwrap()).body(bytes.to_vec());
    for h in request["headers"].as_array().unwrap() {
        if !h["name"].as_str().unwrap().eq_ignore_ascii_case("content-length") {
            req = req.header(h["name"].as_str().unwrap(), h["value"].as_str().unwrap());
        }
    }
    req.send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_to_s3_are_scanned_by_the_lambda_and_served_only_when_clean() {
    let Some(moto) = moto().await else { return };
    let id = uuid::Uuid::now_v7().simple().to_string();
    let bucket = format!("tf-att-{id}");
    let prefix = format!("tf-{id}");
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("storage", "s3"),
            ("s3_bucket", bucket.as_str()),
            ("queue", "sqs"),
            ("sqs_prefix", prefix.as_str()),
            ("aws_endpoint_url", moto.as_str()),
        ],
    )
    .await
    .unwrap()
    .with_workers()
    .await;
    let sdk = platform::aws::sdk_config_for("us-east-1", Some(&moto)).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let scans = sqs.get_queue_url().queue_name(format!("{prefix}-scans")).send().await.unwrap();
    let queue_url = scans.queue_url().unwrap().to_owned();
    let settings =
        lambdas::aws::Settings::from_lookup(|name| (name == lambdas::aws::SCANS_QUEUE_URL).then(|| queue_url.clone()))
            .unwrap();
    let lambda = lambdas::aws::ScanLambda::new(lambdas::aws::s3_client(&sdk), sqs, settings.scanner(), settings);

    let team = app.team().await;
    app.task(team.org, team.web, &team.ann, json!({"title": "Ship"})).await.expect(201);
    let mut settled = Vec::new();
    for (name, content_type, bytes) in
        [("notes.txt", "text/plain", b"quarterly numbers".as_slice()), ("eicar.com", "application/octet-stream", EICAR)]
    {
        let created = app
            .post(
                &format!("/orgs/{}/tasks/WEB-1/attachments", team.org),
                &team.ann,
                json!({"file_name": name, "content_type": content_type, "size": bytes.len()}),
            )
            .await;
        created.expect(201);
        let upload = &created.body["upload"];
        assert!(upload["url"].as_str().unwrap().starts_with(&moto), "a presigned S3 URL: {upload}");
        assert_eq!(put_signed(&app, upload, bytes).await, 200);
        let key = format!("uploads/{}/{}", team.org, created.body["attachment"]["id"].as_str().unwrap());
        let summary =
            lambda.handle_payload(object_created(&bucket, &key, bytes.len())).await.expect("the scan finishes");
        assert_eq!(summary.clean + summary.infected, 1, "{summary:?}");
        let path = format!("/orgs/{}/attachments/{}", team.org, created.body["attachment"]["id"].as_str().unwrap());
        let a = eventually(Duration::from_secs(30), "the verdict to be recorded", || async {
            let a = app.get(&path, &team.ann).await.expect(200).clone();
            (a["state"] != "pending").then_some(a)
        })
        .await;
        settled.push((a, bytes));
    }

    let (clean, bytes) = &settled[0];
    assert_eq!(clean["state"], "clean", "{clean}");
    assert_eq!(clean["scan_engine"], "builtin");
    let link =
        app.get(&format!("/orgs/{}/attachments/{}/download", team.org, clean["id"].as_str().unwrap()), &team.bob).await;
    let got = app.client.get(link.expect(200)["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"notes.txt\""));
    assert_eq!(got.bytes().await.unwrap().as_ref(), *bytes);

    let (infected, _) = &settled[1];
    assert_eq!(infected["state"], "infected", "{infected}");
    let id = infected["id"].as_str().unwrap();
    app.get(&format!("/orgs/{}/attachments/{id}/download", team.org), &team.ann)
        .await
        .expect_problem(409, "attachment_infected");
    let storage = platform::storage::storage_from_config(&app.config).await.unwrap();
    assert!(storage.head(&format!("uploads/{}/{id}", team.org)).await.unwrap().is_none(), "gone from uploads/");
    assert!(storage.head(&format!("quarantine/{}/{id}", team.org)).await.unwrap().is_some(), "kept in quarantine");
    app.unread_reaches(&team.ann, 1).await;
}
