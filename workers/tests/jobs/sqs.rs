//! What only the SQS adapter does, on moto: the redrive policy dead-letters a message nobody settles, delays
//! beyond SQS's 15 minutes, and `admin aws-bootstrap` creating queues and the SES identity idempotently.
use std::collections::HashMap;
use std::time::Duration;

use platform::jobs::sqs_queue::{attr, dead_letter_queue_name, queue_name};
use platform::jobs::{OutgoingMessage, Pool};
use platform::Config;

use crate::common::{eventually, moto_url, unique_prefix, Backend, SqsQueues, TestDb};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_received_max_attempts_times_without_being_settled_is_dead_lettered_by_sqs() {
    let Some(t) = TestDb::new(Backend::Sqs).await else { return };
    // The scheduler pool allows 3 attempts: a worker that crashes on every delivery never settles the message.
    let pool = Pool::Scheduler;
    assert_eq!(pool.settings().max_attempts, 3);
    let id = entities::new_id();
    let message =
        OutgoingMessage { id, pool, job_type: "noop".into(), org_id: None, body: r#"{"crash": true}"#.into() };
    t.queue.send(vec![message], Duration::ZERO).await.unwrap();
    for attempt in 1..=3 {
        let claimed = t.claim_n(pool, 1, Duration::from_secs(1)).await;
        assert_eq!((claimed[0].lease.message_id, claimed[0].receive_count), (id, attempt));
    }
    // The fourth receive finds the limit reached and SQS moves the message instead of delivering it.
    eventually(WAIT, "SQS to move the message to the dead-letter queue", || async {
        t.queue.claim_batch(pool, 1, Duration::from_secs(1)).await.unwrap().is_empty()
            && t.queue.failed_show(id).await.unwrap().is_some()
    })
    .await;
    let failed = t.queue.failed_show(id).await.unwrap().unwrap();
    assert_eq!((failed.pool, failed.attempts, failed.job_type.as_str()), (pool, 3, "noop"));
    assert!(failed.reason.contains("SQS redrive"), "reason: {}", failed.reason);
    assert_eq!(t.queue.retry_failed(Some(id), None).await.unwrap(), 1, "a redriven message can be retried");
    assert_eq!(t.claim_n(pool, 1, Duration::from_secs(30)).await[0].receive_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_received_before_its_not_before_time_goes_back_without_spending_an_attempt() {
    let Some(t) = TestDb::new(Backend::Sqs).await else { return };
    // A delay beyond 15 minutes travels as `not_before`; wait out a short one instead of an hour.
    let id = entities::new_id();
    let not_before = chrono::Utc::now() + chrono::Duration::seconds(2);
    let sdk = platform::aws::sdk_config_for("us-east-1", Some(&moto_url().await.unwrap())).await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let url = client
        .get_queue_url()
        .queue_name(queue_name(&t.sqs_prefix().unwrap(), Pool::Notifications))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let text = |data_type: &str, v: String| {
        aws_sdk_sqs::types::MessageAttributeValue::builder().data_type(data_type).string_value(v).build().unwrap()
    };
    client
        .send_message()
        .queue_url(url)
        .message_body("{}")
        .set_message_attributes(Some(HashMap::from([
            (attr::JOB_ID.to_owned(), text("String", id.to_string())),
            (attr::NOT_BEFORE.to_owned(), text("Number", not_before.timestamp_millis().to_string())),
        ])))
        .send()
        .await
        .unwrap();
    assert!(t.queue.claim_batch(Pool::Notifications, 10, Duration::from_secs(30)).await.unwrap().is_empty());
    let claimed = t.claim_n(Pool::Notifications, 1, Duration::from_secs(30)).await;
    assert!(chrono::Utc::now() >= not_before, "claimed before its time");
    assert_eq!((claimed[0].lease.message_id, claimed[0].receive_count), (id, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_bootstrap_creates_queues_with_redrive_and_the_ses_identity_once() {
    let Some(url) = moto_url().await else { return };
    let prefix = unique_prefix();
    let sender = format!("{prefix}@example.com");
    let config = Config::from_pairs([
        ("sqs_prefix", prefix.clone()),
        ("aws_endpoint_url", url.clone()),
        ("mail_from", format!("Taskforge <{sender}>")),
    ])
    .unwrap();
    let names: Vec<String> =
        Pool::ALL.into_iter().flat_map(|p| [queue_name(&prefix, p), dead_letter_queue_name(&prefix, p)]).collect();
    let _cleanup = SqsQueues::new(url.clone(), names.clone());

    let first = platform::aws_bootstrap::bootstrap(&config).await.unwrap();
    assert_eq!(first.len(), names.len() + 1);
    assert!(first.iter().all(|r| r.created), "{first:?}");
    assert!(first.iter().any(|r| r.kind == "ses identity" && r.name == sender));
    let second = platform::aws_bootstrap::bootstrap(&config).await.unwrap();
    assert_eq!(second.len(), first.len());
    assert!(second.iter().all(|r| !r.created), "the second run creates nothing: {second:?}");

    let client = aws_sdk_sqs::Client::new(&platform::aws::sdk_config(&config).await);
    let queue_url =
        client.get_queue_url().queue_name(queue_name(&prefix, Pool::Reports)).send().await.unwrap().queue_url.unwrap();
    let attrs = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let get = |name: &str| attrs.get(&aws_sdk_sqs::types::QueueAttributeName::from(name)).cloned().unwrap_or_default();
    assert_eq!(get("VisibilityTimeout"), Pool::Reports.settings().visibility_timeout.as_secs().to_string());
    let redrive: serde_json::Value = serde_json::from_str(&get("RedrivePolicy")).unwrap();
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), "3");
    assert!(redrive["deadLetterTargetArn"]
        .as_str()
        .unwrap()
        .ends_with(&dead_letter_queue_name(&prefix, Pool::Reports)));
}
