//! Sign-up, sign-in, sessions with CSRF, profile, password, personal access tokens.
use reqwest::Method;
use serde_json::json;

use crate::common::*;

both_backends! {
    async fn registering_returns_a_session_and_a_second_signup_with_that_email_conflicts(app: TestApp) {
        let r = app.anonymous(Method::POST, "/auth/register",
            Some(json!({"email": "Ada@Example.com", "name": "Ada", "password": "correct horse battery"}))).await;
        r.expect(201);
        assert_eq!(r.body["user"]["email"], "ada@example.com");
        assert!(r.body["csrf_token"].as_str().unwrap().len() >= 40);
        let cookie = r.header("set-cookie").unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        let again = app.anonymous(Method::POST, "/auth/register",
            Some(json!({"email": "ada@example.com", "name": "Ada 2", "password": "another password"}))).await;
        again.expect_problem(409, "email_taken");
        assert_eq!(app.count_rows("users").await, 1);
    }

    async fn registration_names_every_bad_field(app: TestApp) {
        let r = app.anonymous(Method::POST, "/auth/register",
            Some(json!({"email": "nope", "name": " ", "password": "short", "time_zone": "../x", "locale": "English"}))).await;
        r.expect_problem(422, "validation_failed");
        let mut fields = r.bad_fields();
        fields.sort();
        assert_eq!(fields, ["email", "locale", "name", "password", "time_zone"]);
        let missing = app.anonymous(Method::POST, "/auth/register", Some(json!({"email": "a@b.co"}))).await;
        missing.expect_problem(400, "bad_request");
    }

    async fn login_sets_a_cookie_session_that_needs_csrf_for_writes(app: TestApp) {
        let u = app.user("carol").await;
        let bad = app.anonymous(Method::POST, "/auth/login", Some(json!({"email": u.email, "password": "wrong password!"}))).await;
        bad.expect_problem(401, "unauthenticated");
        let ok = app.anonymous(Method::POST, "/auth/login", Some(json!({"email": u.email, "password": u.password}))).await;
        ok.expect(200);
        let cookie = session_cookie(&ok);
        let csrf = ok.body["csrf_token"].as_str().unwrap().to_owned();
        // Reads work with the cookie alone.
        let me = TestApp::read(app.client.get(app.url("/api/v1/me")).header("cookie", &cookie).send().await.unwrap()).await;
        assert_eq!(me.expect(200)["email"], u.email);
        // A write without the CSRF header is refused; with it, it goes through.
        let no_csrf = TestApp::read(app.client.post(app.url("/api/v1/orgs")).header("cookie", &cookie)
            .json(&json!({"name": "X"})).send().await.unwrap()).await;
        no_csrf.expect_problem(403, "csrf_failed");
        let with_csrf = TestApp::read(app.client.post(app.url("/api/v1/orgs")).header("cookie", &cookie)
            .header("x-csrf-token", &csrf).json(&json!({"name": "X"})).send().await.unwrap()).await;
        with_csrf.expect(201);
        // The session endpoint hands the CSRF token back to a reloaded SPA.
        let s = TestApp::read(app.client.get(app.url("/api/v1/auth/session")).header("cookie", &cookie).send().await.unwrap()).await;
        assert_eq!(s.expect(200)["csrf_token"], csrf.as_str());
        // Logging out ends the session.
        let out = TestApp::read(app.client.post(app.url("/api/v1/auth/logout")).header("cookie", &cookie)
            .header("x-csrf-token", &csrf).send().await.unwrap()).await;
        out.expect(204);
        assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
        let after = TestApp::read(app.client.get(app.url("/api/v1/me")).header("cookie", &cookie).send().await.unwrap()).await;
        after.expect_problem(401, "unauthenticated");
    }

    async fn unauthenticated_requests_get_401_problems(app: TestApp) {
        app.anonymous(Method::GET, "/me", None).await.expect_problem(401, "unauthenticated");
        app.anonymous(Method::GET, "/orgs", None).await.expect_problem(401, "unauthenticated");
        let r = app.client.get(app.url("/api/v1/me")).bearer_auth("tf_not-a-real-token").send().await.unwrap();
        TestApp::read(r).await.expect_problem(401, "unauthenticated");
    }

    async fn profile_updates_merge_and_validate(app: TestApp) {
        let u = app.user("dave").await;
        let r = app.patch("/me", &u, json!({"time_zone": "Europe/Paris"})).await;
        assert_eq!(r.expect(200)["time_zone"], "Europe/Paris");
        assert_eq!(r.body["name"], "dave");
        app.patch("/me", &u, json!({"locale": "not a locale"})).await.expect_problem(422, "validation_failed");
        let r = app.patch("/me", &u, json!({"name": "David", "locale": "fr-FR"})).await;
        assert_eq!(r.expect(200)["name"], "David");
        assert_eq!(r.body["locale"], "fr-FR");
        assert_eq!(r.body["time_zone"], "Europe/Paris");
    }

    async fn changing_the_password_checks_the_old_one_and_signs_out_other_sessions(app: TestApp) {
        let u = app.user("erin").await;
        let login = app.anonymous(Method::POST, "/auth/login", Some(json!({"email": u.email, "password": u.password}))).await;
        let other_cookie = session_cookie(&login);
        let wrong = app.post("/me/password", &u, json!({"current_password": "nope nope nope", "new_password": "a brand new password"})).await;
        assert_eq!(wrong.expect_problem(422, "validation_failed")["errors"][0]["field"], "current_password");
        app.post("/me/password", &u, json!({"current_password": u.password, "new_password": "a brand new password"})).await.expect(204);
        let r = TestApp::read(app.client.get(app.url("/api/v1/me")).header("cookie", &other_cookie).send().await.unwrap()).await;
        r.expect_problem(401, "unauthenticated");
        app.anonymous(Method::POST, "/auth/login", Some(json!({"email": u.email, "password": u.password}))).await
            .expect_problem(401, "unauthenticated");
        app.anonymous(Method::POST, "/auth/login", Some(json!({"email": u.email, "password": "a brand new password"}))).await
            .expect(200);
    }

    async fn tokens_are_shown_once_scoped_and_revocable(app: TestApp) {
        let u = app.user("frank").await;
        let list = app.get("/me/tokens", &u).await;
        let tokens = list.expect(200).as_array().unwrap().clone();
        assert_eq!(tokens.len(), 1);
        assert!(tokens[0].get("secret").is_none(), "a listed token never shows its secret");
        assert!(tokens[0]["last_used_at"].is_string(), "last use is recorded");
        assert!(list.header("ratelimit-limit").is_some() && list.header("ratelimit-remaining").is_some());
        // A token cannot mint tokens: that needs a signed-in session.
        app.post("/me/tokens", &u, json!({"name": "x", "scopes": ["read"]})).await.expect_problem(403, "session_required");
        // A read-only token reads but cannot write.
        let login = app.anonymous(Method::POST, "/auth/login", Some(json!({"email": u.email, "password": u.password}))).await;
        let cookie = session_cookie(&login);
        let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();
        let created = TestApp::read(app.client.post(app.url("/api/v1/me/tokens")).header("cookie", &cookie)
            .header("x-csrf-token", &csrf).json(&json!({"name": "ro", "scopes": ["read"], "expires_in_days": 7})).send().await.unwrap()).await;
        created.expect(201);
        assert!(created.body["secret"].as_str().unwrap().starts_with("tf_"));
        assert!(created.body["token"]["expires_at"].is_string());
        let ro = TestUser { token: created.body["secret"].as_str().unwrap().to_owned(), ..u.clone() };
        app.get("/me", &ro).await.expect(200);
        app.post("/orgs", &ro, json!({"name": "nope"})).await.expect_problem(403, "insufficient_scope");
        let bad = TestApp::read(app.client.post(app.url("/api/v1/me/tokens")).header("cookie", &cookie)
            .header("x-csrf-token", &csrf).json(&json!({"name": "", "scopes": ["root"]})).send().await.unwrap()).await;
        bad.expect_problem(422, "validation_failed");
        assert_eq!(bad.bad_fields(), ["name", "scopes"]);
        // Revoking takes effect at once.
        let id = created.body["token"]["id"].as_str().unwrap();
        app.delete(&format!("/me/tokens/{id}"), &u).await.expect(204);
        app.get("/me", &ro).await.expect_problem(401, "unauthenticated");
        // Another user's token id is not found.
        let other = app.user("gina").await;
        app.delete(&format!("/me/tokens/{id}"), &other).await.expect_problem(404, "token_not_found");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_rate_limited_per_account() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("login_attempts_per_minute", "3")]).await.unwrap();
    let u = app.user("hank").await;
    for _ in 0..3 {
        app.anonymous(Method::POST, "/auth/login", Some(json!({"email": u.email, "password": "wrong password!"})))
            .await
            .expect_problem(401, "unauthenticated");
    }
    let limited =
        app.anonymous(Method::POST, "/auth/login", Some(json!({"email": u.email, "password": u.password}))).await;
    limited.expect_problem(429, "rate_limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_are_rate_limited_with_headers() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("token_requests_per_minute", "5")]).await.unwrap();
    let u = app.user("ivy").await;
    let mut last = None;
    for _ in 0..5 {
        let r = app.get("/me", &u).await;
        r.expect(200);
        last = r.header("ratelimit-remaining").map(str::to_owned);
    }
    assert_eq!(last.as_deref(), Some("0"));
    let limited = app.get("/me", &u).await;
    limited.expect_problem(429, "rate_limited");
    assert!(limited.header("retry-after").is_some());
}
