//! Test harness: a private database per test (a SQLite file, or a fresh MariaDB database dropped afterwards), the
//! app on port 0, and a small typed client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use api::{AppState, RunningApp};
use platform::Config;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{json, Value};
use uuid::Uuid;

/// Runs each listed test on SQLite and on MariaDB.
///
/// MariaDB comes from `TASKFORGE_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`). When it is unreachable
/// the MariaDB variant fails under `CI=true` and is skipped with a message elsewhere.
macro_rules! both_backends {
    ($( $(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block )*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $app = $crate::common::TestApp::spawn($crate::common::Backend::Sqlite).await
                        .expect("SQLite is always available");
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mariadb() {
                    let Some($app) = $crate::common::TestApp::spawn($crate::common::Backend::MariaDb).await else {
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
}

/// A running app on a private database.
pub struct TestApp {
    pub addr: SocketAddr,
    pub backend: Backend,
    pub db: DatabaseConnection,
    pub client: reqwest::Client,
    pub config: Config,
    /// The bus the app's streams listen on; the workers of [`TestApp::with_workers`] publish to it.
    pub bus: std::sync::Arc<dyn platform::bus::Bus>,
    server: Option<RunningApp>,
    workers: Option<workers::Workers>,
    _handle: testkit::PrivateDb,
}

/// A signed-up user with a personal access token (read, write, admin).
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub password: String,
    pub token: String,
}

/// See [`TestApp::team`].
pub struct Team {
    pub ann: TestUser,
    pub bob: TestUser,
    pub org: Uuid,
    pub web: Uuid,
    pub statuses: Vec<Value>,
}

/// A response with its JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, with the body in the failure message.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        &self.body
    }

    /// Asserts an RFC 9457 problem with this status and code.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "body: {}", self.text);
        assert_eq!(self.body["code"], code, "body: {}", self.text);
        assert_eq!(self.body["status"], status, "body: {}", self.text);
        assert!(self.body["type"].is_string() && self.body["title"].is_string() && self.body["detail"].is_string());
        assert!(self.body["request_id"].is_string(), "problem without request_id: {}", self.text);
        &self.body
    }

    /// The field names of a validation problem.
    pub fn bad_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// The `id` of the object under `key` in the body.
    pub fn id_at(&self, key: &str) -> Uuid {
        self.body[key]["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no {key}.id in {}", self.text))
    }

    pub fn id(&self) -> Uuid {
        self.body["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no id in {}", self.text))
    }
}

/// Per-request options.
#[derive(Default, Clone)]
pub struct Opts<'a> {
    pub headers: Vec<(&'a str, String)>,
}

impl TestApp {
    /// Starts the app on a fresh database; `None` when MariaDB is unreachable outside CI.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, &[]).await
    }

    /// Like [`TestApp::spawn`] with extra configuration pairs.
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Option<TestApp> {
        let id = Uuid::now_v7().simple().to_string();
        let kind = match backend {
            Backend::Sqlite => testkit::DbKind::Sqlite,
            Backend::MariaDb => testkit::DbKind::MariaDb,
        };
        let handle = testkit::PrivateDb::create(kind).await?;
        let url = handle.url.clone();
        let mut pairs: Vec<(&str, String)> = vec![
            ("database_url", url),
            ("http_addr", "127.0.0.1:0".into()),
            ("data_dir", std::env::temp_dir().join(format!("taskforge-data-{id}")).display().to_string()),
            ("log", std::env::var("TASKFORGE_TEST_LOG").unwrap_or_else(|_| "warn".into())),
            ("login_attempts_per_minute", "1000".into()),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            pairs.push((k, v.to_string()));
        }
        let config = Config::from_pairs(pairs).expect("test configuration is valid");
        platform::telemetry::init(&config);
        let db = platform::db::connect(&config).await.expect("connecting to the test database");
        platform::db::migrate(&db).await.expect("migrating the test database");
        let bus = platform::bus::bus_from_config(&config).await.expect("the test bus");
        let mut state = AppState::new(db.clone(), config.clone()).expect("the test secret key").with_bus(bus.clone());
        // AWS adapters (against moto): their queues and bucket first, as `taskforge admin aws-bootstrap` does.
        if config.queue == platform::config::QueueKind::Sqs || config.storage == platform::config::StorageKind::S3 {
            platform::aws_bootstrap::bootstrap(&config).await.expect("creating the test queues and bucket");
            let storage = platform::storage::storage_from_config(&config).await.expect("the test storage");
            let queue = platform::jobs::connect_queue(&config, &db).await.expect("the test queue");
            state = state.with_storage(storage).with_queue(queue);
        }
        let server = RunningApp::start(state, "127.0.0.1:0".parse().unwrap()).await.expect("starting the app");
        let client = reqwest::Client::builder().cookie_store(false).build().unwrap();
        Some(TestApp {
            addr: server.addr,
            backend,
            db,
            client,
            config,
            bus,
            server: Some(server),
            workers: None,
            _handle: handle,
        })
    }

    /// The link token a worker would email for the newest `purpose` token of `user` (verification, reset).
    pub async fn account_token(&self, user: &TestUser, purpose: &str) -> String {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        #[allow(clippy::disallowed_methods)] // account tokens are not tenant rows
        let row = entities::tables::account_tokens::Entity::find()
            .filter(entities::tables::account_tokens::Column::UserId.eq(user.id))
            .filter(entities::tables::account_tokens::Column::Purpose.eq(purpose))
            .order_by_desc(entities::tables::account_tokens::Column::Id)
            .one(&self.db)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no {purpose} token for {}", user.name));
        platform::secret_key::SecretKey::load(&self.config).unwrap().token(purpose, row.id)
    }

    /// The usual cast: ann owns the org "Acme" and its project WEB, bob is a member.
    pub async fn team(&self) -> Team {
        let ann = self.user("ann").await;
        let bob = self.user("bob").await;
        let org = self.org(&ann, "Acme").await;
        self.add_member(org, &ann, &bob, "member").await;
        let (web, statuses) = self.project(org, &ann, "WEB").await;
        Team { ann, bob, org, web, statuses }
    }

    /// Waits until `user` has `n` unread notifications.
    pub async fn unread_reaches(&self, user: &TestUser, n: u64) {
        eventually(Duration::from_secs(20), &format!("{n} unread notifications for {}", user.name), || async {
            (self.get("/notifications/unread-count", user).await.expect(200)["count"] == n).then_some(())
        })
        .await
    }

    /// Every message in this app's mail outbox (`mail = outbox`), oldest first.
    pub fn outbox(&self) -> Vec<platform::mail::testing::ParsedMail> {
        platform::mail::testing::read_outbox(&platform::mail::outbox_dir(&self.config.data_dir))
    }

    /// Waits for a message to `to` whose subject contains `subject`.
    pub async fn mail_to(&self, to: &str, subject: &str) -> platform::mail::testing::ParsedMail {
        eventually(Duration::from_secs(20), &format!("mail to {to} about {subject}"), || async {
            self.outbox().into_iter().find(|m| m.to.iter().any(|t| t == to) && m.subject.contains(subject))
        })
        .await
    }

    /// Also runs every worker pool and the outbox relay on the database queue, as `serve` does.
    pub async fn with_workers(mut self) -> TestApp {
        let queue = platform::jobs::connect_queue(&self.config, &self.db).await.expect("the test queue");
        let config = workers::WorkersConfig {
            pools: platform::jobs::Pool::ALL.to_vec(),
            concurrency: None,
            relay: true,
            mail: workers::MailDeps::from_config(&self.config).await.expect("the test mail setup"),
            files: workers::FileDeps::from_config(&self.config).await.expect("the test storage setup"),
            events: platform::events::event_store_from_config(&self.config, &self.db).await.expect("the event store"),
            bus: Some(self.bus.clone()),
            scheduler_tick: None,
        };
        self.workers = Some(workers::Workers::start(&self.db, queue, config));
        self
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request to `/api/v1{path}` as `user` (bearer token) with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&TestUser>,
        body: Option<Value>,
        opts: Opts<'_>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(&format!("/api/v1{path}")));
        if let Some(u) = user {
            req = req.bearer_auth(&u.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in opts.headers {
            req = req.header(k, v);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    pub async fn read(resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, body, text }
    }

    pub async fn get(&self, path: &str, user: &TestUser) -> Resp {
        self.call(Method::GET, path, Some(user), None, Opts::default()).await
    }

    pub async fn post(&self, path: &str, user: &TestUser, body: Value) -> Resp {
        self.call(Method::POST, path, Some(user), Some(body), Opts::default()).await
    }

    pub async fn patch(&self, path: &str, user: &TestUser, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(user), Some(body), Opts::default()).await
    }

    pub async fn put(&self, path: &str, user: &TestUser, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(user), Some(body), Opts::default()).await
    }

    pub async fn delete(&self, path: &str, user: &TestUser) -> Resp {
        self.call(Method::DELETE, path, Some(user), None, Opts::default()).await
    }

    pub async fn anonymous(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call(method, path, None, body, Opts::default()).await
    }

    /// Registers `name` (email `name@example.com`) and mints a read/write/admin token through the session.
    pub async fn user(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.com");
        let password = format!("{name}-password-123");
        let resp = self
            .anonymous(
                Method::POST,
                "/auth/register",
                Some(json!({"email": email, "name": name, "password": password})),
            )
            .await;
        resp.expect(201);
        let id: Uuid = resp.body["user"]["id"].as_str().unwrap().parse().unwrap();
        let csrf = resp.body["csrf_token"].as_str().unwrap().to_owned();
        let cookie = session_cookie(&resp);
        let token = self
            .client
            .post(self.url("/api/v1/me/tokens"))
            .header("cookie", cookie)
            .header("x-csrf-token", csrf)
            .json(&json!({"name": "tests", "scopes": ["read", "write", "admin"]}))
            .send()
            .await
            .unwrap();
        let token = Self::read(token).await;
        token.expect(201);
        TestUser {
            id,
            email,
            name: name.to_owned(),
            password,
            token: token.body["secret"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates an org owned by `owner`; returns its id.
    pub async fn org(&self, owner: &TestUser, name: &str) -> Uuid {
        self.post("/orgs", owner, json!({"name": name})).await.expect(201);
        let list = self.get("/orgs", owner).await;
        list.body
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|o| o["name"] == name)
            .and_then(|o| o["id"].as_str())
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Brings `user` into `org` with `role` through an invitation from `admin`.
    pub async fn add_member(&self, org: Uuid, admin: &TestUser, user: &TestUser, role: &str) {
        let inv =
            self.post(&format!("/orgs/{org}/invitations"), admin, json!({"email": user.email, "role": role})).await;
        inv.expect(201);
        let token = inv.body["token"].as_str().unwrap();
        self.post("/invitations/accept", user, json!({"token": token})).await.expect(200);
    }

    /// Creates a project with `key` in `org`; returns its id and its statuses (in board order).
    pub async fn project(&self, org: Uuid, user: &TestUser, key: &str) -> (Uuid, Vec<Value>) {
        let p = self
            .post(&format!("/orgs/{org}/projects"), user, json!({"key": key, "name": format!("Project {key}")}))
            .await;
        p.expect(201);
        let id = p.id();
        let statuses = self.get(&format!("/orgs/{org}/projects/{id}/statuses"), user).await;
        (id, statuses.expect(200).as_array().unwrap().clone())
    }

    /// Creates the private project `SEC` (only its creator is a member); returns its id.
    pub async fn private_project(&self, org: Uuid, owner: &TestUser) -> String {
        let body = json!({"key": "SEC", "name": "Secret", "visibility": "private"});
        let p = self.post(&format!("/orgs/{org}/projects"), owner, body).await;
        p.expect(201)["id"].as_str().unwrap().to_owned()
    }

    /// Another tenant: carol's org with a project `OTH`, for the 404 checks; returns (org, project).
    pub async fn stranger_org(&self) -> (Uuid, Uuid) {
        let carol = self.user("carol").await;
        let other = self.org(&carol, "Other").await;
        (other, self.project(other, &carol, "OTH").await.0)
    }

    /// Creates a task with `body` (title defaults) in a project; returns the response.
    pub async fn task(&self, org: Uuid, project: Uuid, user: &TestUser, mut body: Value) -> Resp {
        if body.get("title").is_none() {
            body["title"] = json!("A task");
        }
        self.post(&format!("/orgs/{org}/projects/{project}/tasks"), user, body).await
    }

    /// Runs raw SQL on the test database.
    pub async fn sql(&self, sql: &str) {
        self.db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Number of outbox rows of `event_type`.
    pub async fn outbox_count(&self, event_type: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) AS n FROM outbox WHERE event_type = '{event_type}'");
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// Total rows in a table.
    pub async fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

/// The `tf_session=…` pair from a response's Set-Cookie.
pub fn session_cookie(resp: &Resp) -> String {
    let set = resp.header("set-cookie").expect("a Set-Cookie header");
    set.split(';').next().unwrap().to_owned()
}

pub use testkit::eventually;

impl Drop for TestApp {
    fn drop(&mut self) {
        let server = self.server.take();
        let workers = self.workers.take();
        let db = self.db.clone();
        // Close the pool before the database handle (a field, dropped after this) removes the database.
        testkit::run_detached(async move {
            // Dropping the pools aborts them: a test's leftover jobs need no drain.
            drop(workers);
            drop(server);
            testkit::close_pool(db).await;
        });
    }
}
