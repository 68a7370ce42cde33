//! The `bootstrap` binary end to end: started as Lambda starts it, it takes an S3 event from a stand-in of the
//! Lambda Runtime API, scans the upload on moto's S3, reports to moto's SQS, and posts its response back.
use std::collections::VecDeque;
use std::convert::Infallible;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use lambdas::keys::UploadKey;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::support::*;

const RUNTIME: &str = "/2018-06-01/runtime";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:taskforge-scan";

/// What the function posted back.
#[derive(Debug)]
enum Posted {
    Response { request_id: String, body: Value },
    Error { path: String, body: String },
}

/// A stand-in Runtime API: hands out the queued invocations, then holds `next` open as Lambda does between
/// invocations, and forwards whatever the function posts.
struct RuntimeApi {
    addr: std::net::SocketAddr,
    posted: mpsc::UnboundedReceiver<Posted>,
}

#[derive(Clone)]
struct ApiState {
    invocations: Arc<Mutex<VecDeque<(String, String)>>>,
    posted: mpsc::UnboundedSender<Posted>,
}

impl RuntimeApi {
    async fn start(invocations: Vec<(String, String)>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port for the Runtime API");
        let addr = listener.local_addr().unwrap();
        let (tx, posted) = mpsc::unbounded_channel();
        let state = ApiState { invocations: Arc::new(Mutex::new(invocations.into())), posted: tx };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| serve(req, state.clone()));
                    // The connection ends when the child is killed; nothing to report then.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RuntimeApi { addr, posted }
    }
}

async fn serve(req: Request<Incoming>, state: ApiState) -> Result<Response<Full<Bytes>>, Infallible> {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    let accepted =
        || Response::builder().status(StatusCode::ACCEPTED).body(Full::new(Bytes::from_static(b"{}"))).unwrap();
    if method == hyper::Method::GET && path == format!("{RUNTIME}/invocation/next") {
        let next = state.invocations.lock().unwrap().pop_front();
        let Some((request_id, event)) = next else {
            // No more invocations: the real API blocks here until the next one, or the environment is frozen.
            std::future::pending::<()>().await;
            unreachable!()
        };
        let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
        let response = Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", "application/json")
            .header("Lambda-Runtime-Aws-Request-Id", &request_id)
            .header("Lambda-Runtime-Deadline-Ms", deadline.as_millis().to_string())
            .header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
            .header(
                "Lambda-Runtime-Trace-Id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )
            .body(Full::new(Bytes::from(event)))
            .unwrap();
        return Ok(response);
    }
    let posted = match path.strip_prefix(&format!("{RUNTIME}/invocation/")).and_then(|p| p.strip_suffix("/response")) {
        Some(request_id) if method == hyper::Method::POST => Posted::Response {
            request_id: request_id.to_owned(),
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        },
        // `/invocation/{id}/error`, `/init/error`, or anything the stand-in does not know: all fail the test.
        _ => Posted::Error { path: format!("{method} {path}"), body: text },
    };
    let _ = state.posted.send(posted);
    Ok(accepted())
}

/// The bootstrap binary with the environment Lambda gives it, and nothing from the developer's (no profile, no
/// region or credentials of their own).
fn bootstrap(runtime_api: Option<std::net::SocketAddr>, moto: Option<&Moto>, queue_url: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    command
        .env_clear()
        .env("AWS_LAMBDA_FUNCTION_NAME", "taskforge-scan")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/taskforge-scan")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/06/[$LATEST]0123456789abcdef")
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(addr) = runtime_api {
        command.env("AWS_LAMBDA_RUNTIME_API", addr.to_string());
    }
    if let Some(moto) = moto {
        command.env("AWS_ENDPOINT_URL_S3", &moto.s3_url).env("AWS_ENDPOINT_URL_SQS", &moto.sqs_url);
    }
    if let Some(url) = queue_url {
        command.env("TASKFORGE_SCANS_QUEUE_URL", url);
    }
    command
}

async fn wait_for_post(api: &mut RuntimeApi, child: &mut Child) -> Posted {
    let waited = tokio::time::timeout(Duration::from_secs(15), async {
        tokio::select! {
            posted = api.posted.recv() => posted.expect("the Runtime API stand-in is running"),
            status = child.wait() => panic!("bootstrap exited before it answered the invocation: {status:?}"),
        }
    })
    .await;
    waited.expect("bootstrap answered the invocation within 15 s")
}

#[tokio::test]
async fn bootstrap_serves_an_s3_event_from_the_runtime_api_end_to_end() {
    let Some(moto) = moto().await else { return };
    let stage = moto.stage().await;
    let key = UploadKey::new(Uuid::now_v7(), Uuid::now_v7());
    let etag = moto.put(&stage.bucket, &key.key(), EICAR, "text/plain").await;
    let request_id = Uuid::now_v7().to_string();
    let event = event_json(&[Record::created(&stage.bucket, &key.key(), EICAR.len(), &etag)]);
    let mut api = RuntimeApi::start(vec![(request_id.clone(), event)]).await;

    let mut child =
        bootstrap(Some(api.addr), Some(&moto), Some(&stage.queue_url)).spawn().expect("the bootstrap binary starts");
    let posted = wait_for_post(&mut api, &mut child).await;
    child.kill().await.expect("bootstrap is stopped");

    let (answered, body) = match posted {
        Posted::Response { request_id, body } => (request_id, body),
        Posted::Error { path, body } => panic!("the function reported a failure on {path}: {body}"),
    };
    assert_eq!(answered, request_id);
    assert_eq!(body, serde_json::json!({"clean": 0, "infected": 1, "failed": 0, "skipped": []}));
    assert!(!moto.exists(&stage.bucket, &key.key()).await, "the upload left uploads/");
    assert_eq!(moto.body(&stage.bucket, &key.quarantine_key()).await, EICAR);
    let messages = moto.messages(&stage.queue_url, 1).await;
    let job = scan_result(&messages[0], key.org_id);
    assert_eq!((job["key"].as_str(), job["outcome"].as_str()), (Some(key.key().as_str()), Some("infected")));
    assert_eq!(job["quarantine_key"], key.quarantine_key());
}

#[tokio::test]
async fn bootstrap_without_its_configuration_fails_start_up_and_says_what_is_missing() {
    let api = RuntimeApi::start(Vec::new()).await;
    let output = bootstrap(Some(api.addr), None, None).stdout(Stdio::piped()).stderr(Stdio::piped()).output();
    let output = tokio::time::timeout(Duration::from_secs(15), output)
        .await
        .expect("bootstrap exits within 15 s")
        .expect("the bootstrap binary runs");
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TASKFORGE_SCANS_QUEUE_URL is not set"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let logged: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON log line");
    assert_eq!(logged["level"], "ERROR", "{stdout}");
}
