//! The DynamoDB table itself: what `aws-bootstrap` creates (keys, the three GSIs, TTL on `expires_at`), the
//! item layout (sparse GSI keys, TTL in epoch seconds), and a store that cannot be reached reporting itself
//! unavailable, so the publishing job retries and the event waits.
use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use platform::events::{counters_for, DynamoEventStore, EventStore, EventStoreError, Feed, FeedQuery, Recorded};
use platform::Config;
use uuid::Uuid;

use crate::harness::{dynamo_client, moto_url, unique_table, EventBuilder, TestStore};

#[tokio::test]
async fn bootstrap_creates_the_table_with_its_indexes_and_ttl_once() {
    let Some(url) = moto_url().await else { return };
    let table = unique_table();
    let config = Config::from_pairs([
        ("events", "dynamodb".to_owned()),
        ("dynamodb_table", table.clone()),
        ("aws_endpoint_url", url.clone()),
    ])
    .unwrap();
    let client = dynamo_client(&url).await;
    let store = DynamoEventStore::new(client.clone(), &config.dynamodb_table, chrono::Duration::days(1));
    assert!(store.bootstrap().await.unwrap(), "the first run creates the table");
    assert!(!store.bootstrap().await.unwrap(), "a second run finds it");

    let described = client.describe_table().table_name(&table).send().await.unwrap();
    let t = described.table().unwrap();
    let keys: Vec<&str> = t.key_schema().iter().map(|k| k.attribute_name()).collect();
    assert_eq!(keys, ["PK", "SK"]);
    let mut indexes: Vec<(String, Vec<String>)> = t
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let keys = g.key_schema().iter().map(|k| k.attribute_name().to_owned()).collect();
            (g.index_name().unwrap().to_owned(), keys)
        })
        .collect();
    indexes.sort();
    assert_eq!(
        indexes,
        [
            ("GSI1".to_owned(), vec!["GSI1PK".to_owned(), "GSI1SK".to_owned()]),
            ("GSI2".to_owned(), vec!["GSI2PK".to_owned(), "GSI2SK".to_owned()]),
            ("GSI3".to_owned(), vec!["GSI3PK".to_owned(), "GSI3SK".to_owned()]),
        ]
    );
    let ttl = client.describe_time_to_live().table_name(&table).send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));

    // The configured store is this table.
    let db = sea_orm::DatabaseConnection::default();
    let from_config = platform::events::event_store_from_config(&config, &db).await.unwrap();
    let event = EventBuilder::new(Uuid::now_v7(), 0).build();
    assert_eq!(from_config.record(&event, &[]).await.unwrap(), Recorded::Inserted);
    assert_eq!(store.feed(event.org_id, &FeedQuery::new(Feed::Org, 5)).await.unwrap().events, vec![event]);
    let _ = client.delete_table().table_name(&table).send().await;
}

#[tokio::test]
async fn an_event_item_keys_only_the_indexes_it_belongs_to() {
    let Some(t) = TestStore::new(crate::harness::Backend::DynamoDb).await else { return };
    let (org, project, task, actor) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let full = EventBuilder::new(org, 0).kind("comment.created").in_project(project).on_task(task).by(actor).build();
    t.record_new(&full).await;
    let item = t.dynamo_item(&full).await;
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let sort = format!("{:016}#{}", full.occurred_at.timestamp_micros(), full.id);
    assert_eq!(text("PK"), Some(format!("ORG#{org}")));
    assert_eq!(text("SK"), Some(format!("EV#{sort}")));
    assert_eq!(text("GSI1PK"), Some(format!("PROJECT#{project}")));
    assert_eq!(text("GSI2PK"), Some(format!("TASK#{task}")));
    assert_eq!(text("GSI3PK"), Some(format!("USER#{actor}")));
    for gsi in ["GSI1SK", "GSI2SK", "GSI3SK"] {
        assert_eq!(text(gsi), Some(sort.clone()), "{gsi}");
    }
    let expires = full.occurred_at + chrono::Duration::days(crate::harness::TTL_DAYS);
    assert_eq!(item.get("expires_at"), Some(&AttributeValue::N(expires.timestamp().to_string())));

    let bare = EventBuilder::new(org, 1).kind("org.renamed").build();
    t.record_new(&bare).await;
    let item = t.dynamo_item(&bare).await;
    for absent in ["GSI1PK", "GSI2PK", "GSI3PK", "GSI1SK", "project_id", "task_id", "actor_id"] {
        assert!(!item.contains_key(absent), "an org-wide system event has no {absent}");
    }
}

#[tokio::test]
async fn an_unreachable_dynamodb_is_unavailable_so_the_event_waits() {
    // Nothing listens on port 9 of localhost: the connection is refused at once.
    let client = dynamo_client("http://127.0.0.1:9").await;
    let store = DynamoEventStore::new(client, "taskforge-events", chrono::Duration::days(1));
    let event = EventBuilder::new(Uuid::now_v7(), 0).kind("task.created").build();
    let err = store.record(&event, &counters_for(&event)).await.unwrap_err();
    assert!(matches!(err, EventStoreError::Unavailable { .. }), "{err}");
    assert!(err.is_transient());
    let err = store.feed(event.org_id, &FeedQuery::new(Feed::Org, 5)).await.unwrap_err();
    assert!(matches!(err, EventStoreError::Unavailable { .. }), "{err}");
}
