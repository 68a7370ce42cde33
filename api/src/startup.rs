//! Builds the HTTP application from an [`AppState`] and serves it. `taskforge serve`/`api` and the black-box tests
//! all go through [`RunningApp::start`], the tests on port 0.
use std::net::SocketAddr;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::endpoint::make_sync;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::{CatchPanic, CookieJarManager, Cors};
use poem::web::Data;
use poem::{get, handler, put, Endpoint, EndpointExt, IntoResponse, Response, Route, Server};
use poem_openapi::OpenApiService;
use tokio::sync::oneshot;

use crate::auth::middleware::authenticate;
use crate::http::activity_api::ActivityApi;
use crate::http::analytics_api::AnalyticsApi;
use crate::http::attachments_api::AttachmentsApi;
use crate::http::auth_api::AuthApi;
use crate::http::blobs::{get_blob, put_blob};
use crate::http::idempotency::idempotent;
use crate::http::notifications_api::NotificationsApi;
use crate::http::observe::observe;
use crate::http::orgs_api::OrgsApi;
use crate::http::outbox_announce::announce_writes;
use crate::http::projects_api::ProjectsApi;
use crate::http::reminders_api::RemindersApi;
use crate::http::reports_api::ReportsApi;
use crate::http::stream_api::StreamApi;
use crate::http::tasks_api::TasksApi;
use crate::problem::Problem;
use crate::state::AppState;

type Apis = (
    AuthApi,
    OrgsApi,
    ProjectsApi,
    TasksApi,
    NotificationsApi,
    RemindersApi,
    AttachmentsApi,
    ActivityApi,
    StreamApi,
    AnalyticsApi,
    ReportsApi,
);

fn apis() -> Apis {
    (
        AuthApi,
        OrgsApi,
        ProjectsApi,
        TasksApi,
        NotificationsApi,
        RemindersApi,
        AttachmentsApi,
        ActivityApi,
        StreamApi,
        AnalyticsApi,
        ReportsApi,
    )
}

fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(apis(), "Taskforge API", env!("CARGO_PKG_VERSION"))
        .description(
            "Task management for teams. Errors are RFC 9457 `application/problem+json` with a stable `code`. \
             Authenticate with the `tf_session` cookie (plus `X-CSRF-Token` on unsafe methods) or \
             `Authorization: Bearer tf_…`. POST creates accept an `Idempotency-Key` header.",
        )
        .server("/api/v1")
}

/// The OpenAPI document, as committed in `openapi.json`.
pub fn openapi_json() -> String {
    service().spec()
}

fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            )
            .expect("bucket list is non-empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // A second app in the same process (tests) shares the first recorder.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(state: Data<&AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed: database unreachable");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "the database is unreachable")
                .into_response()
        }
    }
}

/// The whole HTTP application.
pub fn build_app(state: AppState) -> impl Endpoint {
    let api = service();
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let handle = metrics_handle();
    let cors = if state.config.cors_origins.is_empty() {
        Cors::new()
    } else {
        Cors::new().allow_origins(state.config.cors_origins.clone()).allow_credentials(true)
    };
    let body_limit = state.config.body_limit_bytes as usize;
    Route::new()
        .at(format!("{}/*key", platform::storage::BLOB_ROUTE), put(put_blob).get(get_blob))
        .nest("/api/v1", api.around(idempotent).around(authenticate).around(announce_writes))
        .at("/openapi.json", spec)
        .nest("/docs", docs)
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(make_sync(move |_| handle.render())))
        .around(move |ep, req| crate::http::body_limit::limit_body(ep, req, body_limit))
        .with(cors)
        .with(CookieJarManager::new())
        .data(state)
        // A panic in a handler is a bug: answer 500 with a problem document instead of dropping the connection.
        .with(CatchPanic::new().with_handler(|_| {
            tracing::error!("a request handler panicked");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "an internal error occurred; quote the request id",
            )
            .into_response()
        }))
        .around(observe)
}

/// A server running in the background.
pub struct RunningApp {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Invalidates cached analytics as events arrive on the bus, while the app serves.
    analytics_follower: Option<tokio::task::JoinHandle<()>>,
}

impl RunningApp {
    /// Binds `addr` (port 0 for an ephemeral port) and serves the app until [`RunningApp::stop`] or drop.
    pub async fn start(state: AppState, addr: SocketAddr) -> std::io::Result<RunningApp> {
        // Subscribed before the first request, so no event after start-up goes without its invalidation.
        let follower = state.analytics.follow(state.bus.as_ref());
        match Self::serve(build_app(state), addr).await {
            Ok(mut app) => {
                app.analytics_follower = Some(follower);
                Ok(app)
            }
            Err(e) => {
                follower.abort();
                Err(e)
            }
        }
    }

    /// Serves only `/metrics` and `/healthz`: the scrape endpoint of a standalone `taskforge worker`.
    pub async fn start_metrics(addr: SocketAddr) -> std::io::Result<RunningApp> {
        let handle = metrics_handle();
        let app = Route::new().at("/metrics", get(make_sync(move |_| handle.render()))).at("/healthz", get(healthz));
        Self::serve(app, addr).await
    }

    async fn serve(app: impl Endpoint + 'static, addr: SocketAddr) -> std::io::Result<RunningApp> {
        let acceptor = TcpListener::bind(addr).into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| std::io::Error::other("listener has no socket address"))?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    app,
                    async move {
                        let _ = rx.await;
                    },
                    Some(std::time::Duration::from_secs(10)),
                )
                .await
        });
        Ok(RunningApp { addr, stop: Some(tx), task, analytics_follower: None })
    }

    /// Stops accepting, lets in-flight requests finish (10 s grace), and waits.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.map_err(std::io::Error::other)?
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        if let Some(follower) = self.analytics_follower.take() {
            follower.abort();
        }
    }
}
