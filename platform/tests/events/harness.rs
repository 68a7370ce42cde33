//! A private store per test: a migrated SQLite file, a fresh MariaDB database (dropped afterwards, also when the
//! test panics), or a new table on moto (deleted afterwards), and builders for events.
//!
//! MariaDB comes from `TASKFORGE_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`), moto from
//! `TASKFORGE_TEST_AWS_URL` (default `http://127.0.0.1:5055`, `bash scripts/moto.sh` starts it). When either is
//! unreachable its variant fails under `CI=true` and is skipped with a message elsewhere.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use entities::tables::activity_events;
use platform::events::{counters_for, ActivityEvent, DbEventStore, DynamoEventStore, EventStore};
use platform::Config;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{json, Value};
use uuid::Uuid;

/// How long raw events live in every test store.
pub const TTL_DAYS: i64 = 400;

/// Runs each listed test against every adapter: `DbEventStore` on SQLite and MariaDB, `DynamoEventStore` on moto.
macro_rules! every_store {
    ($( $(#[$meta:meta])* async fn $name:ident($t:ident: TestStore) $body:block )*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $t = $crate::harness::TestStore::new($crate::harness::Backend::Sqlite).await
                        .expect("SQLite is always available");
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mariadb() {
                    let Some($t) = $crate::harness::TestStore::new($crate::harness::Backend::MariaDb).await else {
                        return;
                    };
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn dynamodb() {
                    let Some($t) = $crate::harness::TestStore::new($crate::harness::Backend::DynamoDb).await else {
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
    DynamoDb,
}

/// The moto address; `None` when moto is unreachable outside CI.
pub async fn moto_url() -> Option<String> {
    let url = testkit::moto_url();
    match testkit::reachable(&url).await {
        Ok(()) => Some(url),
        Err(e) => {
            testkit::unavailable("DynamoDB (moto)", &url, e);
            None
        }
    }
}

/// A DynamoDB client for moto at `url`.
pub async fn dynamo_client(url: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&platform::aws::sdk_config_for("us-east-1", Some(url)).await)
}

/// A table name no other test uses.
pub fn unique_table() -> String {
    // The random tail of a UUIDv7: its head is the time, shared by tests started in the same millisecond.
    format!("tf-events-{}", &Uuid::now_v7().simple().to_string()[16..])
}

/// What to remove when the test ends.
enum Cleanup {
    Database(testkit::PrivateDb),
    Table { url: String, name: String },
}

/// One adapter, fresh for this test.
pub struct TestStore {
    pub backend: Backend,
    pub store: Arc<dyn EventStore>,
    db: Option<DatabaseConnection>,
    dynamo: Option<(aws_sdk_dynamodb::Client, String)>,
    cleanup: Option<Cleanup>,
}

impl TestStore {
    /// A fresh store; `None` when its service is unreachable outside CI.
    pub async fn new(backend: Backend) -> Option<TestStore> {
        let ttl = chrono::Duration::days(TTL_DAYS);
        if backend == Backend::DynamoDb {
            let url = moto_url().await?;
            let name = unique_table();
            let client = dynamo_client(&url).await;
            let store = DynamoEventStore::new(client.clone(), &name, ttl);
            assert!(store.bootstrap().await.expect("creating the test table on moto"), "a new table is created");
            return Some(TestStore {
                backend,
                store: Arc::new(store),
                db: None,
                dynamo: Some((client, name.clone())),
                cleanup: Some(Cleanup::Table { url, name }),
            });
        }
        let db = private_database(backend).await?;
        let store = DbEventStore::new(db.0.clone(), ttl);
        Some(TestStore { backend, store: Arc::new(store), db: Some(db.0), dynamo: None, cleanup: Some(db.1) })
    }

    /// The stored expiry of `event`: the `expires_at` column, or the TTL attribute (epoch seconds) of the item.
    pub async fn stored_expiry(&self, event: &ActivityEvent) -> DateTime<Utc> {
        if let Some(db) = &self.db {
            #[allow(clippy::disallowed_methods)] // the test reads its own row back by id
            let row = activity_events::Entity::find_by_id(event.id).one(db).await.unwrap().expect("the event row");
            return row.expires_at;
        }
        let item = self.dynamo_item(event).await;
        let Some(AttributeValue::N(seconds)) = item.get(platform::events::TTL_ATTRIBUTE) else {
            panic!("the item has no numeric TTL attribute: {item:?}");
        };
        DateTime::from_timestamp(seconds.parse().unwrap(), 0).unwrap()
    }

    /// The raw DynamoDB item of `event`.
    pub async fn dynamo_item(&self, event: &ActivityEvent) -> HashMap<String, AttributeValue> {
        let (client, table) = self.dynamo.as_ref().expect("a DynamoDB store");
        let sk = format!("EV#{:016}#{}", event.occurred_at.timestamp_micros(), event.id);
        let got = client
            .get_item()
            .table_name(table)
            .key("PK", AttributeValue::S(format!("ORG#{}", event.org_id)))
            .key("SK", AttributeValue::S(sk))
            .consistent_read(true)
            .send()
            .await
            .expect("reading the item back");
        got.item.expect("the event's item exists")
    }

    /// Records `event` with the counters it implies, expecting it to be new.
    pub async fn record_new(&self, event: &ActivityEvent) {
        let recorded = self.store.record(event, &counters_for(event)).await.expect("recording");
        assert_eq!(recorded, platform::events::Recorded::Inserted, "{} is new", event.id);
    }
}

/// A migrated private database for `backend` (SQLite or MariaDB).
async fn private_database(backend: Backend) -> Option<(DatabaseConnection, Cleanup)> {
    let kind = if backend == Backend::MariaDb { testkit::DbKind::MariaDb } else { testkit::DbKind::Sqlite };
    let private = testkit::PrivateDb::create(kind).await?;
    let config = Config::from_pairs([("database_url", private.url.clone())]).expect("test configuration is valid");
    let db = platform::db::connect(&config).await.expect("connecting to the test database");
    platform::db::migrate(&db).await.expect("migrating the test database");
    Some((db, Cleanup::Database(private)))
}

impl Drop for TestStore {
    /// Removes the test's database or table, also when the test panicked half-way.
    fn drop(&mut self) {
        let (db, cleanup) = (self.db.take(), self.cleanup.take());
        testkit::run_detached(async move {
            // The pool closes before its database goes.
            if let Some(db) = db {
                testkit::close_pool(db).await;
            }
            match cleanup {
                Some(Cleanup::Database(private)) => drop(private),
                Some(Cleanup::Table { url, name }) => {
                    let _ = dynamo_client(&url).await.delete_table().table_name(name).send().await;
                }
                None => {}
            }
        });
    }
}

/// Builds events of one org at chosen times.
pub struct EventBuilder {
    event: ActivityEvent,
}

/// The start of the test timeline; events are placed relative to it.
pub fn t0() -> DateTime<Utc> {
    "2026-06-01T09:00:00.250000Z".parse().unwrap()
}

impl EventBuilder {
    /// A `comment.created`-like event in `org` at `t0() + seconds`, with a fresh UUIDv7 id.
    pub fn new(org_id: Uuid, seconds: i64) -> EventBuilder {
        EventBuilder {
            event: ActivityEvent {
                id: Uuid::now_v7(),
                org_id,
                occurred_at: t0() + chrono::Duration::seconds(seconds),
                event_type: "task.updated".into(),
                actor_id: None,
                entity_type: "task".into(),
                entity_id: Uuid::now_v7(),
                project_id: None,
                task_id: None,
                payload: json!({}),
            },
        }
    }

    pub fn at(mut self, t: DateTime<Utc>) -> Self {
        self.event.occurred_at = t;
        self
    }
    pub fn kind(mut self, event_type: &str) -> Self {
        self.event.event_type = event_type.into();
        self
    }
    pub fn by(mut self, actor: Uuid) -> Self {
        self.event.actor_id = Some(actor);
        self
    }
    pub fn in_project(mut self, project: Uuid) -> Self {
        self.event.project_id = Some(project);
        self
    }
    pub fn on_task(mut self, task: Uuid) -> Self {
        self.event.task_id = Some(task);
        self.event.entity_id = task;
        self
    }
    pub fn payload(mut self, payload: Value) -> Self {
        self.event.payload = payload;
        self
    }
    pub fn build(self) -> ActivityEvent {
        self.event
    }
}
