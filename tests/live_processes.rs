//! Live updates across processes: two `taskforge api` processes and one `taskforge worker` share a database (a
//! SQLite file) and one Redis bus. A change made through one API process arrives on a stream held on the other,
//! and a client reconnecting with `Last-Event-ID` receives exactly the events it missed, in the store's order.
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use testkit::sse::SseStream;
use uuid::Uuid;

/// From a write to a stream on another process: the relay, the pool and Redis in between.
const DELIVERY: Duration = Duration::from_secs(30);
/// How long a resumed stream is watched to show that nothing beyond the missed events arrives.
const QUIET: Duration = Duration::from_millis(1500);

fn redis_url() -> String {
    std::env::var("TASKFORGE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A private data directory, the environment every process shares, and the processes, killed on drop.
struct Deployment {
    dir: PathBuf,
    env: Vec<(String, String)>,
    children: Vec<Child>,
}

impl Deployment {
    fn new() -> Deployment {
        let dir = std::env::temp_dir().join(format!("taskforge-live-test-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let env = vec![
            ("TASKFORGE_CONFIG".into(), dir.join("absent.toml").display().to_string()),
            ("TASKFORGE_DATA_DIR".into(), dir.display().to_string()),
            ("TASKFORGE_DATABASE_URL".into(), format!("sqlite://{}", dir.join("taskforge.db").display())),
            ("TASKFORGE_BUS".into(), redis_url()),
            ("TASKFORGE_SECRET_KEY".into(), "live-test-secret-key-0123456789abcdef0123456789".into()),
            ("TASKFORGE_LOG".into(), "warn".into()),
        ];
        Deployment { dir, env, children: Vec::new() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskforge"));
        cmd.args(args).current_dir(&self.dir).envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("running taskforge");
        assert!(out.status.success(), "taskforge {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn spawn(&mut self, args: &[&str], extra_env: &[(&str, String)]) {
        let mut cmd = self.command(args);
        cmd.envs(extra_env.iter().map(|(k, v)| (k, v))).stdout(Stdio::null()).stderr(Stdio::inherit());
        self.children.push(cmd.spawn().expect("starting taskforge"));
    }

    /// Starts `taskforge api` on a free port and returns its base URL once it is ready.
    async fn api(&mut self) -> String {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        self.spawn(
            &["api"],
            &[("TASKFORGE_HTTP_ADDR", addr.clone()), ("TASKFORGE_PUBLIC_URL", format!("http://{addr}"))],
        );
        let base = format!("http://{addr}");
        testkit::eventually(DELIVERY, "the api process to be ready", || async {
            let r = reqwest::get(format!("{base}/readyz")).await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        base
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Client {
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn send(&self, method: reqwest::Method, url: String, body: Option<Value>) -> Value {
        let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {url} answered {status}: {body}");
        body
    }

    async fn get(&self, url: String) -> Value {
        self.send(reqwest::Method::GET, url, None).await
    }

    async fn post(&self, url: String, body: Value) -> Value {
        self.send(reqwest::Method::POST, url, Some(body)).await
    }
}

fn position(event: &Value) -> String {
    let at: chrono::DateTime<chrono::Utc> = event["occurred_at"].as_str().unwrap().parse().unwrap();
    format!("{}-{}", at.timestamp_micros(), event["id"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_api_process_reaches_a_stream_on_another_and_resumes_exactly() {
    if let Err(e) = testkit::reachable(&redis_url().replace("redis://", "http://")).await {
        testkit::unavailable("Redis", &redis_url(), e);
        return;
    }
    let mut deployment = Deployment::new();
    deployment.run(&["migrate"]);
    let email = format!("ann-{}@example.com", Uuid::now_v7().simple());
    deployment.run(&[
        "admin",
        "create-user",
        "--email",
        &email,
        "--name",
        "Ann",
        "--password",
        "correct horse battery",
    ]);
    deployment.run(&["admin", "create-org", "--name", "Acme", "--owner-email", &email]);
    let token = deployment.run(&["admin", "create-token", "--email", &email]).trim().to_owned();
    let one = deployment.api().await;
    let two = deployment.api().await;
    deployment.spawn(&["worker", "--pool", "notifications"], &[]);
    let ann = Client { http: reqwest::Client::new(), token };

    let orgs = ann.get(format!("{one}/api/v1/orgs")).await;
    let org = orgs["items"].as_array().map(|a| a[0].clone()).unwrap_or_else(|| orgs[0].clone())["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let project = ann.post(format!("{one}/api/v1/orgs/{org}/projects"), json!({"key": "WEB", "name": "Web"})).await;
    let web = project["id"].as_str().unwrap().to_owned();
    let stream_url = format!("{two}/api/v1/orgs/{org}/stream?project_id={web}");

    // A task created through process one shows up, board fields and all, on a stream held on process two.
    let mut held = SseStream::open(&ann.http, &stream_url, &ann.token, None).await;
    let task = ann.post(format!("{one}/api/v1/orgs/{org}/projects/{web}/tasks"), json!({"title": "Ship it"})).await;
    let got =
        held.until(DELIVERY, |m| m.json()["type"] == "task.created" && m.json()["task"]["id"] == task["id"]).await;
    let created = got.last().unwrap();
    assert_eq!(created.json()["task"]["key"], "WEB-1");
    assert_eq!(created.json()["task"]["title"], "Ship it");
    let resume_from = created.id.clone().expect("each event carries its resume position");
    drop(held);

    // Missed while away: three changes through process one.
    for title in ["Ship it now", "Ship it today"] {
        let current = ann.get(format!("{one}/api/v1/orgs/{org}/tasks/WEB-1")).await;
        let patched = ann
            .http
            .patch(format!("{one}/api/v1/orgs/{org}/tasks/WEB-1"))
            .bearer_auth(&ann.token)
            .header("if-match", format!("\"{}\"", current["version"]))
            .json(&json!({"title": title}))
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 200);
    }
    ann.post(format!("{one}/api/v1/orgs/{org}/projects/{web}/tasks"), json!({"title": "Second"})).await;
    let missed: Vec<String> = testkit::eventually(DELIVERY, "the three missed events in the feed", || async {
        let feed = ann.get(format!("{two}/api/v1/orgs/{org}/projects/{web}/activity?limit=200")).await;
        let mut after: Vec<Value> =
            feed["items"].as_array().unwrap().iter().filter(|e| position(e) > resume_from).cloned().collect();
        after.reverse();
        (after.len() >= 3).then(|| after.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect())
    })
    .await;
    assert_eq!(missed.len(), 3);

    // Reconnecting to process two with Last-Event-ID: exactly the missed events, in order, then live again.
    let mut back = SseStream::open(&ann.http, &stream_url, &ann.token, Some(&resume_from)).await;
    let mut replayed = Vec::new();
    for _ in 0..missed.len() {
        replayed.push(back.next(DELIVERY).await.json()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(replayed, missed);
    assert!(back.next_within(QUIET).await.is_none(), "nothing beyond what was missed");
    ann.post(format!("{two}/api/v1/orgs/{org}/projects/{web}/tasks"), json!({"title": "Third"})).await;
    back.until(DELIVERY, |m| m.json()["type"] == "task.created" && m.json()["task"]["key"] == "WEB-3").await;
}
