//! Two real `taskforge api` processes on one database and one Redis cache: a token revoked, a session ended, a
//! member removed or a role changed through one process is enforced by the other on its very next request, even
//! though the other had just cached the old answer; and with the private `redis-server` killed in the middle, every
//! request on both processes is still answered, and answered correctly, before and after Redis comes back.
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::redis::{free_port, PrivateRedis};
use uuid::Uuid;

const START: Duration = Duration::from_secs(60);

/// A private data directory, the environment both processes share, and the processes (killed on drop).
struct Deployment {
    dir: PathBuf,
    env: Vec<(String, String)>,
    processes: Vec<Child>,
}

impl Deployment {
    fn new(cache: &str) -> Deployment {
        let dir = std::env::temp_dir().join(format!("taskforge-cache-test-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let env = vec![
            ("TASKFORGE_CONFIG".into(), dir.join("absent.toml").display().to_string()),
            ("TASKFORGE_DATA_DIR".into(), dir.display().to_string()),
            ("TASKFORGE_DATABASE_URL".into(), format!("sqlite://{}", dir.join("taskforge.db").display())),
            ("TASKFORGE_CACHE".into(), cache.into()),
            // Both processes must sign and check invitation tokens with the same key.
            ("TASKFORGE_SECRET_KEY".into(), format!("cache-test-{}", Uuid::now_v7().simple())),
            ("TASKFORGE_LOG".into(), "warn".into()),
        ];
        Deployment { dir, env, processes: Vec::new() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskforge"));
        cmd.args(args).current_dir(&self.dir).envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn migrate(&self) {
        let out = self.command(&["migrate"]).output().expect("running taskforge migrate");
        assert!(out.status.success(), "taskforge migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts `taskforge api` on a free port and waits for it to answer.
    async fn api(&mut self) -> Api {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = self
            .command(&["api"])
            .env("TASKFORGE_HTTP_ADDR", &addr)
            .env("TASKFORGE_PUBLIC_URL", format!("http://{addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting taskforge api");
        self.processes.push(child);
        let api = Api { base: format!("http://{addr}"), http: reqwest::Client::new() };
        testkit::eventually(START, "the api process to answer /healthz", || async {
            let resp = api.http.get(format!("{}/healthz", api.base)).send().await.ok()?;
            resp.status().is_success().then_some(())
        })
        .await;
        api
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for p in &mut self.processes {
            let _ = p.kill();
            let _ = p.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum As<'a> {
    Token(&'a str),
    Session(&'a Session),
}

#[derive(Clone)]
struct Session {
    cookie: String,
    csrf: String,
}

struct User {
    id: Uuid,
    email: String,
    session: Session,
    token: String,
}

/// One API process.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: Method, path: &str, auth: Option<As<'_>>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}/api/v1{path}", self.base));
        match auth {
            Some(As::Token(t)) => req = req.bearer_auth(t),
            Some(As::Session(s)) => req = req.header("cookie", &s.cookie).header("x-csrf-token", &s.csrf),
            None => {}
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path} on {}: {e}", self.base));
        let status = resp.status();
        let headers = resp.headers().clone();
        let mut body: Value = resp.json().await.unwrap_or(Value::Null);
        if let Some(cookie) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            body["_cookie"] = json!(cookie.split(';').next().unwrap_or(""));
        }
        (status, body)
    }

    async fn status(&self, method: Method, path: &str, auth: As<'_>, body: Option<Value>) -> StatusCode {
        self.call(method, path, Some(auth), body).await.0
    }

    async fn user(&self, name: &str) -> User {
        let email = format!("{name}-{}@example.com", Uuid::now_v7().simple());
        let body = json!({"email": email, "name": name, "password": format!("{name}-password-123")});
        let (status, resp) = self.call(Method::POST, "/auth/register", None, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{resp}");
        let session = Session {
            cookie: resp["_cookie"].as_str().expect("a session cookie").to_owned(),
            csrf: resp["csrf_token"].as_str().unwrap().to_owned(),
        };
        let token = self.token(&session).await.1;
        User { id: resp["user"]["id"].as_str().unwrap().parse().unwrap(), email, session, token }
    }

    /// A new read/write/admin token: its id and secret.
    async fn token(&self, session: &Session) -> (Uuid, String) {
        let body = json!({"name": "cache test", "scopes": ["read", "write", "admin"]});
        let (status, resp) = self.call(Method::POST, "/me/tokens", Some(As::Session(session)), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{resp}");
        (resp["token"]["id"].as_str().unwrap().parse().unwrap(), resp["secret"].as_str().unwrap().to_owned())
    }

    async fn add_member(&self, org: Uuid, admin: &User, user: &User, role: &str) {
        let (status, inv) = self
            .call(
                Method::POST,
                &format!("/orgs/{org}/invitations"),
                Some(As::Token(&admin.token)),
                Some(json!({"email": user.email, "role": role})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{inv}");
        let accept = json!({"token": inv["token"]});
        let status = self.status(Method::POST, "/invitations/accept", As::Token(&user.token), Some(accept)).await;
        assert_eq!(status, StatusCode::OK);
    }

    /// `taskforge_cache_requests_total` of this process for `cache` and `result`.
    async fn cache_requests(&self, cache: &str, result: &str) -> u64 {
        let text = self.http.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        text.lines()
            .filter(|l| l.starts_with("taskforge_cache_requests_total{"))
            .filter(|l| l.contains(&format!("cache=\"{cache}\"")) && l.contains(&format!("result=\"{result}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    }
}

/// Asserts `status` for a GET on both processes.
async fn on_both(a: &Api, b: &Api, path: &str, auth: As<'_>, expected: StatusCode, what: &str) {
    for (name, api) in [("A", a), ("B", b)] {
        assert_eq!(api.status(Method::GET, path, auth, None).await, expected, "{what} on {name}");
    }
}

/// The org routes answer `expected` for `user` on B, and B answered it from its cache at least once before.
async fn cached_on_b(b: &Api, path: &str, auth: As<'_>, cache: &str, expected: StatusCode) {
    assert_eq!(b.status(Method::GET, path, auth, None).await, expected);
    let hits = b.cache_requests(cache, "hit").await;
    assert_eq!(b.status(Method::GET, path, auth, None).await, expected);
    assert!(b.cache_requests(cache, "hit").await > hits, "B serves {path} from its {cache} cache");
}

#[tokio::test]
async fn changes_through_one_api_process_are_enforced_by_another_at_once_with_or_without_redis() {
    let port = free_port();
    let Some(redis) = PrivateRedis::start(port).await else { return };
    let mut deployment = Deployment::new(&redis.url());
    deployment.migrate();
    let a = deployment.api().await;
    let b = deployment.api().await;

    let owner = a.user("owner").await;
    let (status, org) =
        a.call(Method::POST, "/orgs", Some(As::Token(&owner.token)), Some(json!({"name": "Acme"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let org: Uuid = org["id"].as_str().unwrap().parse().unwrap();
    let org_path = format!("/orgs/{org}");
    let admin_only = format!("/orgs/{org}/invitations");
    let mut people = Vec::new();
    for (name, role) in
        [("carol", "member"), ("erin", "member"), ("frank", "member"), ("bob", "admin"), ("dave", "admin")]
    {
        let u = a.user(name).await;
        a.add_member(org, &owner, &u, role).await;
        people.push(u);
    }
    let [carol, erin, frank, bob, dave] = <[User; 5]>::try_from(people).ok().unwrap();
    let (first_id, first_token) = a.token(&carol.session).await;
    let (second_id, second_token) = a.token(&carol.session).await;

    // Each change is made through A after B has cached the old answer, and B's very next request sees it.
    cached_on_b(&b, &org_path, As::Token(&first_token), "token", StatusCode::OK).await;
    let revoke = format!("/me/tokens/{first_id}");
    assert_eq!(a.status(Method::DELETE, &revoke, As::Token(&carol.token), None).await, StatusCode::NO_CONTENT);
    on_both(&a, &b, &org_path, As::Token(&first_token), StatusCode::UNAUTHORIZED, "a revoked token").await;

    cached_on_b(&b, &org_path, As::Token(&erin.token), "membership", StatusCode::OK).await;
    let remove = format!("/orgs/{org}/members/{}", erin.id);
    assert_eq!(a.status(Method::DELETE, &remove, As::Token(&owner.token), None).await, StatusCode::NO_CONTENT);
    on_both(&a, &b, &org_path, As::Token(&erin.token), StatusCode::NOT_FOUND, "a removed member").await;

    cached_on_b(&b, &admin_only, As::Token(&bob.token), "membership", StatusCode::OK).await;
    let demote = format!("/orgs/{org}/members/{}", bob.id);
    let to_member = Some(json!({"role": "member"}));
    assert_eq!(a.status(Method::PATCH, &demote, As::Token(&owner.token), to_member.clone()).await, StatusCode::OK);
    on_both(&a, &b, &admin_only, As::Token(&bob.token), StatusCode::FORBIDDEN, "a demoted admin").await;

    cached_on_b(&b, "/me", As::Session(&owner.session), "session", StatusCode::OK).await;
    let (status, _) = a.call(Method::POST, "/auth/logout", Some(As::Session(&owner.session)), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    on_both(&a, &b, "/me", As::Session(&owner.session), StatusCode::UNAUTHORIZED, "an ended session").await;

    // Redis goes away with fresh answers cached on B: the same kinds of change, and everything else, stay right.
    assert_eq!(b.status(Method::GET, &org_path, As::Token(&second_token), None).await, StatusCode::OK);
    assert_eq!(b.status(Method::GET, &org_path, As::Token(&frank.token), None).await, StatusCode::OK);
    assert_eq!(b.status(Method::GET, &admin_only, As::Token(&dave.token), None).await, StatusCode::OK);
    redis.stop().await;
    on_both(&a, &b, &org_path, As::Token(&second_token), StatusCode::OK, "a live token without Redis").await;
    on_both(&a, &b, &admin_only, As::Token(&owner.token), StatusCode::OK, "the owner without Redis").await;

    let revoke = format!("/me/tokens/{second_id}");
    assert_eq!(a.status(Method::DELETE, &revoke, As::Token(&carol.token), None).await, StatusCode::NO_CONTENT);
    on_both(&a, &b, &org_path, As::Token(&second_token), StatusCode::UNAUTHORIZED, "revoked without Redis").await;

    let remove = format!("/orgs/{org}/members/{}", frank.id);
    assert_eq!(a.status(Method::DELETE, &remove, As::Token(&owner.token), None).await, StatusCode::NO_CONTENT);
    on_both(&a, &b, &org_path, As::Token(&frank.token), StatusCode::NOT_FOUND, "removed without Redis").await;

    let demote = format!("/orgs/{org}/members/{}", dave.id);
    assert_eq!(a.status(Method::PATCH, &demote, As::Token(&owner.token), to_member.clone()).await, StatusCode::OK);
    on_both(&a, &b, &admin_only, As::Token(&dave.token), StatusCode::FORBIDDEN, "demoted without Redis").await;

    // Redis is back (empty): nothing that changed comes back, and changes through B reach A at once.
    let Some(_redis) = PrivateRedis::start(port).await else { return };
    on_both(&a, &b, &org_path, As::Token(&first_token), StatusCode::UNAUTHORIZED, "after the restart").await;
    on_both(&a, &b, &org_path, As::Token(&second_token), StatusCode::UNAUTHORIZED, "after the restart").await;
    on_both(&a, &b, &org_path, As::Token(&erin.token), StatusCode::NOT_FOUND, "after the restart").await;
    on_both(&a, &b, &org_path, As::Token(&frank.token), StatusCode::NOT_FOUND, "after the restart").await;
    on_both(&a, &b, &admin_only, As::Token(&bob.token), StatusCode::FORBIDDEN, "after the restart").await;
    on_both(&a, &b, &admin_only, As::Token(&dave.token), StatusCode::FORBIDDEN, "after the restart").await;
    on_both(&a, &b, &org_path, As::Token(&carol.token), StatusCode::OK, "an untouched member").await;

    let promote = format!("/orgs/{org}/members/{}", bob.id);
    let to_admin = Some(json!({"role": "admin"}));
    assert_eq!(b.status(Method::PATCH, &promote, As::Token(&owner.token), to_admin).await, StatusCode::OK);
    on_both(&a, &b, &admin_only, As::Token(&bob.token), StatusCode::OK, "promoted through B").await;
    let (_, third_token) = b.token(&carol.session).await;
    on_both(&a, &b, &org_path, As::Token(&third_token), StatusCode::OK, "a token made after the outage").await;
}
