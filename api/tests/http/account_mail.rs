//! Email verification and password reset through their tokens (the emails themselves are checked in the mail
//! tests; here the token is the one the worker would put in the link).
use reqwest::Method;
use serde_json::json;

use crate::common::*;

both_backends! {
    async fn sign_up_issues_a_verification_token_that_verifies_once(app: TestApp) {
        let ann = app.user("ann").await;
        assert_eq!(app.get("/me", &ann).await.expect(200)["email_verified"], false);
        let token = app.account_token(&ann, "verify_email").await;
        let wrong_purpose = app.account_token(&ann, "verify_email").await.replace('.', "x");
        app.anonymous(Method::POST, "/auth/verify-email", Some(json!({"token": wrong_purpose})))
            .await
            .expect_problem(422, "validation_failed");
        let ok = app.anonymous(Method::POST, "/auth/verify-email", Some(json!({"token": token}))).await;
        assert_eq!(ok.expect(200)["email_verified"], true);
        let again = app.anonymous(Method::POST, "/auth/verify-email", Some(json!({"token": token}))).await;
        assert_eq!(again.expect_problem(422, "validation_failed")["errors"][0]["field"], "token");
        app.post("/me/email-verification", &ann, json!({})).await.expect_problem(409, "already_verified");
    }

    async fn a_resent_link_retires_the_previous_one(app: TestApp) {
        let ann = app.user("ann").await;
        let first = app.account_token(&ann, "verify_email").await;
        assert_eq!(app.post("/me/email-verification", &ann, json!({})).await.status, 202);
        let second = app.account_token(&ann, "verify_email").await;
        assert_ne!(first, second);
        app.anonymous(Method::POST, "/auth/verify-email", Some(json!({"token": first})))
            .await
            .expect_problem(422, "validation_failed");
        app.anonymous(Method::POST, "/auth/verify-email", Some(json!({"token": second}))).await.expect(200);
    }

    async fn a_password_reset_sets_the_password_signs_out_and_never_reveals_accounts(app: TestApp) {
        let ann = app.user("ann").await;
        let login = app.anonymous(Method::POST, "/auth/login", Some(json!({"email": ann.email, "password": ann.password}))).await;
        login.expect(200);
        let cookie = session_cookie(&login);
        let unknown = app.anonymous(Method::POST, "/auth/password-reset", Some(json!({"email": "nobody@example.com"}))).await;
        assert_eq!(unknown.status, 202, "an unknown address looks the same");
        let asked = app.anonymous(Method::POST, "/auth/password-reset", Some(json!({"email": ann.email}))).await;
        assert_eq!(asked.status, 202);
        let token = app.account_token(&ann, "password_reset").await;
        // A verification token is not a reset token.
        let verify = app.account_token(&ann, "verify_email").await;
        app.anonymous(Method::POST, "/auth/password-reset/confirm", Some(json!({"token": verify, "password": "a-new-password-1"})))
            .await
            .expect_problem(422, "validation_failed");
        let short = app
            .anonymous(Method::POST, "/auth/password-reset/confirm", Some(json!({"token": token, "password": "short"})))
            .await;
        assert_eq!(short.expect_problem(422, "validation_failed")["errors"][0]["field"], "password");
        let reset = app
            .anonymous(Method::POST, "/auth/password-reset/confirm", Some(json!({"token": token, "password": "a-new-password-1"})))
            .await;
        assert_eq!(reset.status, 204);
        // The old session is gone, the old password fails, the new one works, the token is spent.
        let session = app.client.get(app.url("/api/v1/auth/session")).header("cookie", cookie).send().await.unwrap();
        assert_eq!(session.status(), 401);
        app.anonymous(Method::POST, "/auth/login", Some(json!({"email": ann.email, "password": ann.password})))
            .await
            .expect_problem(401, "unauthenticated");
        let new_login = app.anonymous(Method::POST, "/auth/login", Some(json!({"email": ann.email, "password": "a-new-password-1"}))).await;
        assert_eq!(new_login.expect(200)["user"]["email_verified"], true, "a reset proves the address");
        app.anonymous(Method::POST, "/auth/password-reset/confirm", Some(json!({"token": token, "password": "another-password-2"})))
            .await
            .expect_problem(422, "validation_failed");
        app.anonymous(Method::POST, "/auth/password-reset", Some(json!({"email": "not an address"})))
            .await
            .expect_problem(422, "validation_failed");
    }
}
