//! The HTTP surface around the API: health, readiness, metrics, request ids, docs, limits, unknown routes.
use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::common::*;

both_backends! {
    async fn health_readiness_and_metrics_answer(app: TestApp) {
        let h = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(h.status(), 200);
        let r = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let u = app.user("mia").await;
        app.get("/me", &u).await.expect(200);
        let m = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(m.contains("taskforge_http_requests_total"), "{m}");
        assert!(m.contains("route=\"getMe\""), "requests are labelled by route template: {m}");
        assert!(m.contains("taskforge_http_request_duration_seconds_bucket"), "{m}");
    }

    async fn request_ids_are_echoed_or_generated_and_quoted_in_problems(app: TestApp) {
        let r = app.client.get(app.url("/api/v1/me")).header("x-request-id", "abc-123").send().await.unwrap();
        let r = TestApp::read(r).await;
        assert_eq!(r.header("x-request-id"), Some("abc-123"));
        assert_eq!(r.expect_problem(401, "unauthenticated")["request_id"], "abc-123");
        let r = app.anonymous(Method::GET, "/me", None).await;
        let generated = r.header("x-request-id").unwrap();
        assert_eq!(r.body["request_id"], generated);
    }

    async fn unknown_routes_and_oversized_bodies_are_problems(app: TestApp) {
        app.anonymous(Method::GET, "/no/such/route", None).await.expect_problem(404, "not_found");
        let u = app.user("max").await;
        let big = "x".repeat(2 * 1024 * 1024);
        app.post("/orgs", &u, json!({"name": big})).await.expect_problem(413, "payload_too_large");
    }

    async fn an_abandoned_idempotency_claim_is_taken_over_by_the_retry(app: TestApp) {
        let u = app.user("ivo").await;
        // A request that stored its claim but never its answer leaves a placeholder: while recent it answers 409
        // (the request may still be running), once abandoned the retry takes it over.
        let key2 = || Opts { headers: vec![("idempotency-key", "stuck-2".to_owned())] };
        let body = json!({"name": "Beta"});
        let first = app.call(Method::POST, "/orgs", Some(&u), Some(body.clone()), key2()).await;
        first.expect(201);
        #[allow(clippy::disallowed_methods)] // age the stored answer into an abandoned placeholder
        entities::tables::idempotency_keys::Entity::update_many()
            .col_expr(entities::tables::idempotency_keys::Column::ResponseStatus, sea_orm::sea_query::Expr::value(0))
            .exec(&app.db)
            .await
            .unwrap();
        app.call(Method::POST, "/orgs", Some(&u), Some(body.clone()), key2()).await
            .expect_problem(409, "idempotency_in_progress");
        #[allow(clippy::disallowed_methods)]
        entities::tables::idempotency_keys::Entity::update_many()
            .col_expr(
                entities::tables::idempotency_keys::Column::CreatedAt,
                sea_orm::sea_query::Expr::value(entities::now() - chrono::Duration::minutes(5)),
            )
            .exec(&app.db)
            .await
            .unwrap();
        let retried = app.call(Method::POST, "/orgs", Some(&u), Some(body), key2()).await;
        retried.expect(201);
        assert_eq!(app.count_rows("orgs").await, 2, "the abandoned request's retry runs again");
    }

    async fn the_spec_and_the_docs_are_served(app: TestApp) {
        let spec: serde_json::Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(spec["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
        assert_eq!(spec["servers"][0]["url"], "/api/v1");
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(op["summary"].is_string(), "{method} {path} has no summary");
                assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
                assert!(op["operationId"].is_string(), "{method} {path} has no operationId");
                let responses = op["responses"].as_object().unwrap();
                if path != "/auth/register" && path != "/auth/login" {
                    assert!(responses.contains_key("401"), "{method} {path} does not document 401");
                }
                assert!(responses.contains_key("422"), "{method} {path} does not document 422");
            }
        }
        let docs = app.client.get(app.url("/docs")).send().await.unwrap();
        assert_eq!(docs.status(), 200);
        assert!(docs.text().await.unwrap().contains("swagger"));
    }

    async fn idempotent_creates_replay_and_refuse_a_different_body(app: TestApp) {
        let u = app.user("ida").await;
        let key = ("idempotency-key", "create-acme-1".to_owned());
        let first = app.call(Method::POST, "/orgs", Some(&u), Some(json!({"name": "Acme"})), Opts { headers: vec![key.clone()] }).await;
        first.expect(201);
        let again = app.call(Method::POST, "/orgs", Some(&u), Some(json!({"name": "Acme"})), Opts { headers: vec![key.clone()] }).await;
        again.expect(201);
        assert_eq!(again.body, first.body);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(app.count_rows("orgs").await, 1);
        assert_eq!(app.outbox_count("org.created").await, 1);
        let other = app.call(Method::POST, "/orgs", Some(&u), Some(json!({"name": "Other"})), Opts { headers: vec![key] }).await;
        other.expect_problem(422, "validation_failed");
        assert_eq!(other.bad_fields(), ["Idempotency-Key"]);
        assert_eq!(app.count_rows("orgs").await, 1);
    }
}

/// Every operation of the spec but the public ones (sign-up, sign-in, and the links of emails, which carry their own
/// token) answers 401 without credentials, with a problem document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_requires_authentication() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let spec: serde_json::Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        const PUBLIC: [&str; 6] = [
            "/auth/register",
            "/auth/login",
            "/auth/verify-email",
            "/auth/password-reset",
            "/auth/password-reset/confirm",
            "/notification-preferences/unsubscribe",
        ];
        if PUBLIC.contains(&path.as_str()) {
            continue;
        }
        let concrete: String = path
            .split('/')
            .map(|seg| match seg {
                "{task}" => "WEB-1".to_owned(),
                s if s.starts_with('{') => uuid::Uuid::now_v7().to_string(),
                s => s.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let r = app.anonymous(method.clone(), &concrete, body).await;
            assert_eq!(r.status.as_u16(), 401, "{method} {path}: {}", r.text);
            r.expect_problem(401, "unauthenticated");
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} operations checked");
}
