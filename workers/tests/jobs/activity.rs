//! The activity sink: each published outbox row lands in the event store once, whatever repeats, with the project
//! and status categories the row itself does not carry; and a store that is down fails the publish so it is retried.
#![allow(clippy::disallowed_methods)] // the test reads its own rows back across orgs

use std::sync::Arc;

use chrono::{Duration, Utc};
use entities::tables::{orgs, outbox, processed_jobs, projects, statuses, tasks};
use platform::events::{DailyCounter, DbEventStore, DynamoEventStore, EventStore, Feed, FeedQuery};
use platform::jobs::{Envelope, Job};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, TransactionTrait};
use serde_json::json;
use uuid::Uuid;
use workers::activity_sink::ActivitySink;
use workers::{EventSink, Handler, HandlerError, PublishEventHandler};

use crate::common::{moto_url, Backend, TestDb};

/// An outbox row of `org_id`, inserted and returned.
async fn outbox_row(
    t: &TestDb,
    org_id: Uuid,
    event_type: &str,
    entity_type: &str,
    entity_id: Uuid,
    payload: serde_json::Value,
) -> outbox::Model {
    outbox::ActiveModel {
        id: Set(entities::new_id()),
        org_id: Set(org_id),
        event_type: Set(event_type.into()),
        actor_id: Set(Some(entities::new_id())),
        entity_type: Set(entity_type.into()),
        entity_id: Set(entity_id),
        payload: Set(payload),
        created_at: Set(entities::now()),
        published_at: Set(None),
        claimed_until: Set(None),
    }
    .insert(&t.db)
    .await
    .expect("inserting an outbox row")
}

/// Publishes `row` through `sink` in a transaction of its own, as the publish handler does.
async fn publish(t: &TestDb, sink: &ActivitySink, row: &outbox::Model) {
    let tx = t.db.begin().await.unwrap();
    sink.publish(&tx, row).await.expect("the sink records the event");
    tx.commit().await.unwrap();
}

/// Publishing an attachment's outbox row twice records one event and counts it once.
async fn a_row_published_twice_is_recorded_and_counted_once(t: &TestDb, store: Arc<dyn EventStore>) {
    let sink = ActivitySink::new(store.clone());
    let (org, project, task) = (entities::new_id(), entities::new_id(), entities::new_id());
    let payload = json!({ "task_id": task, "project_id": project, "file_name": "a.pdf" });
    let row = outbox_row(t, org, "attachment.added", "attachment", entities::new_id(), payload).await;
    publish(t, &sink, &row).await;
    publish(t, &sink, &row).await;
    let feed = store.feed(org, &FeedQuery::new(Feed::Task(task), 10)).await.unwrap();
    assert_eq!(feed.events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![row.id], "one event in the log");
    assert_eq!(feed.events[0].project_id, Some(project));
    let day = row.created_at.date_naive();
    for scope in [Some(project), None] {
        let counted = store.counters(org, scope, day, day).await.unwrap();
        let want = DailyCounter { date: day, project_id: scope, name: "attachments_added".into(), value: 1 };
        assert_eq!(counted, vec![want], "counted once ({scope:?})");
    }
}

both_backends! {
    async fn the_database_store_records_a_repeated_row_once(t: TestDb) {
        let store = Arc::new(DbEventStore::new(t.db.clone(), Duration::days(400)));
        a_row_published_twice_is_recorded_and_counted_once(&t, store).await;
    }

    async fn a_task_move_into_a_completed_status_is_counted_with_its_project(t: TestDb) {
        let store: Arc<dyn EventStore> = Arc::new(DbEventStore::new(t.db.clone(), Duration::days(400)));
        let sink = ActivitySink::new(store.clone());
        let (org, project, task) = (entities::new_id(), entities::new_id(), entities::new_id());
        let now = entities::now();
        let user = entities::new_id();
        insert_user(&t, user).await;
        orgs::ActiveModel {
            id: Set(org), name: Set("Acme".into()), max_attachment_bytes: Set(None), created_at: Set(now),
            updated_at: Set(now),
        }.insert(&t.db).await.unwrap();
        projects::ActiveModel {
            id: Set(project), org_id: Set(org), key: Set("WEB".into()), name: Set("Web".into()),
            description: Set(String::new()), visibility: Set("org".into()), next_number: Set(2),
            archived_at: Set(None), created_by: Set(user), created_at: Set(now), updated_at: Set(now),
        }.insert(&t.db).await.unwrap();
        let mut status_ids = Vec::new();
        for (position, category) in ["started", "completed"].into_iter().enumerate() {
            let id = entities::new_id();
            statuses::ActiveModel {
                id: Set(id), org_id: Set(org), project_id: Set(project), name: Set(category.into()),
                category: Set(category.into()), position: Set(position as i32), created_at: Set(now),
            }.insert(&t.db).await.unwrap();
            status_ids.push(id);
        }
        tasks::ActiveModel {
            id: Set(task), org_id: Set(org), project_id: Set(project), number: Set(1), title: Set("t".into()),
            description: Set(String::new()), status_id: Set(status_ids[1]), priority: Set(0), due_at: Set(None),
            start_at: Set(None), estimate: Set(None), parent_id: Set(None), position: Set(1.0), version: Set(2),
            started_at: Set(None), completed_at: Set(Some(now)), deleted_at: Set(None), created_by: Set(user), created_at: Set(now),
            updated_at: Set(now),
        }.insert(&t.db).await.unwrap();
        // A board move as tasks.rs records it: statuses by id, no project.
        let changes = json!({ "changes": { "status_id": { "from": status_ids[0], "to": status_ids[1] } }, "key": "WEB-1" });
        let row = outbox_row(&t, org, "task.moved", "task", task, changes).await;
        publish(&t, &sink, &row).await;
        let feed = store.feed(org, &FeedQuery::new(Feed::Project(project), 10)).await.unwrap();
        assert_eq!(feed.events.len(), 1, "the move is in its project's feed");
        assert_eq!(feed.events[0].payload["changes"]["status_category"], json!({ "from": "started", "to": "completed" }));
        let day = row.created_at.date_naive();
        let counted = store.counters(org, Some(project), day, day).await.unwrap();
        assert_eq!(counted.iter().map(|c| (c.name.as_str(), c.value)).collect::<Vec<_>>(), vec![("flow_in_completed", 1), ("flow_out_started", 1), ("tasks_completed", 1)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_store_records_a_repeated_row_once() {
    let Some(url) = moto_url().await else { return };
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    let client = aws_sdk_dynamodb::Client::new(&platform::aws::sdk_config_for("us-east-1", Some(&url)).await);
    let table = format!("tf-sink-{}", &Uuid::now_v7().simple().to_string()[16..]);
    let store = DynamoEventStore::new(client.clone(), &table, Duration::days(400));
    store.bootstrap().await.expect("creating the test table");
    a_row_published_twice_is_recorded_and_counted_once(&t, Arc::new(store)).await;
    let _ = client.delete_table().table_name(&table).send().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_fails_the_publish_and_leaves_the_event_unprocessed() {
    let t = TestDb::new(Backend::Sqlite).await.expect("SQLite is always available");
    // Nothing listens on port 9 of localhost.
    let client =
        aws_sdk_dynamodb::Client::new(&platform::aws::sdk_config_for("us-east-1", Some("http://127.0.0.1:9")).await);
    let store = Arc::new(DynamoEventStore::new(client, "taskforge-events", Duration::days(400)));
    let handler = PublishEventHandler::new(t.db.clone(), t.port(), vec![Arc::new(ActivitySink::new(store))]);
    let org = entities::new_id();
    let row = outbox_row(&t, org, "comment.created", "comment", entities::new_id(), json!({})).await;
    let started = Utc::now();
    let outcome = handler.handle(Envelope::new(Job::PublishEvent { outbox_id: row.id }, Some(org))).await;
    assert!(matches!(outcome, Err(HandlerError::Retryable(_))), "{outcome:?}");
    assert!(Utc::now() - started < Duration::seconds(30), "the failure is reported promptly");
    let processed = processed_jobs::Entity::find_by_id(row.id).one(&t.db).await.unwrap();
    assert!(processed.is_none(), "the event is not marked processed, so the retry publishes it");
}

async fn insert_user(t: &TestDb, id: Uuid) {
    entities::tables::users::ActiveModel {
        id: Set(id),
        email: Set(format!("{id}@example.com")),
        name: Set("U".into()),
        password_hash: Set(String::new()),
        time_zone: Set("UTC".into()),
        locale: Set("en".into()),
        email_verified_at: Set(None),
        created_at: Set(entities::now()),
        updated_at: Set(entities::now()),
    }
    .insert(&t.db)
    .await
    .unwrap();
}
