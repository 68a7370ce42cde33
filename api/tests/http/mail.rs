//! Email end to end in outbox mode: a write, the relay and the workers, then the `.eml` parsed back: recipients,
//! subject, both parts, headers, and links that work when followed.
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::common::*;

/// The value of `name` in the query of `url`.
fn query_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_else(|| panic!("no query in {url}"));
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .replace("&amp;", "&")
}

fn link_starting(mail: &platform::mail::testing::ParsedMail, prefix: &str) -> String {
    mail.links()
        .into_iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no link to {prefix} in {mail:?}"))
}

both_backends! {
    async fn an_assignment_is_emailed_once_with_both_parts_a_task_link_and_one_click_unsubscribe(app: TestApp) {
        let app = app.with_workers().await;
        let Team { ann, bob, org, web, .. } = app.team().await;
        app.task(org, web, &ann, json!({"title": "Fix <login>", "assignee_ids": [bob.id]})).await.expect(201);

        let mail = app.mail_to("bob@example.com", "assigned you WEB-1").await;
        assert_eq!(mail.subject, "ann assigned you WEB-1: Fix <login>");
        assert_eq!(mail.from, "no-reply@taskforge.localhost");
        assert_eq!(mail.content_types, ["multipart/alternative", "text/plain", "text/html"]);
        assert!(mail.text.contains("Fix <login>"), "text keeps user content verbatim: {}", mail.text);
        assert!(mail.html.contains("Fix &lt;login&gt;") && !mail.html.contains("Fix <login>"), "HTML escapes it");
        let task_url = format!("{}/orgs/{org}/tasks/WEB-1", app.config.public_url);
        assert!(mail.links().contains(&task_url), "{:?}", mail.links());
        assert!(mail.text.contains(&task_url));
        assert_eq!(mail.header("List-Unsubscribe-Post"), Some("List-Unsubscribe=One-Click"));
        let unsubscribe = mail.header("List-Unsubscribe").unwrap().trim_matches(['<', '>']).to_owned();

        // A second delivery of the same notify job sends nothing more.
        let notification: uuid::Uuid = app.get("/notifications", &bob).await.expect(200)["items"][0]["id"].as_str().unwrap().parse().unwrap();
        let queue = platform::jobs::DbQueue::new(app.db.clone());
        let again = platform::jobs::Envelope::new(platform::jobs::Job::Notify { notification_id: notification }, Some(org));
        platform::jobs::Queue::enqueue(&queue, &[again], Duration::ZERO).await.unwrap();
        eventually(Duration::from_secs(20), "the duplicate job to be handled", || async {
            let stats = platform::jobs::Queue::stats(&queue).await.unwrap();
            stats.iter().all(|s| s.depth == 0 && s.in_flight == 0 && s.dead_letters == 0).then_some(())
        })
        .await;
        let assigned_mail = |m: &&platform::mail::testing::ParsedMail| m.to == ["bob@example.com"] && m.subject.contains("assigned");
        assert_eq!(app.outbox().iter().filter(assigned_mail).count(), 1);

        // One click on the header's link (a POST, as mail providers send it) stops assignment emails.
        let path = unsubscribe.strip_prefix(&app.config.public_url).unwrap().strip_prefix("/api/v1").unwrap().to_owned();
        let done = app.anonymous(Method::POST, &path, None).await;
        assert_eq!(done.expect(200)["channel"], "in_app");
        let forged = path.replace("task_assigned", "mentioned");
        app.anonymous(Method::POST, &forged, None).await.expect_problem(404, "unsubscribe_link_not_found");
        app.task(org, web, &ann, json!({"title": "Second", "assignee_ids": [bob.id]})).await.expect(201);
        app.unread_reaches(&bob, 2).await;
        assert_eq!(app.outbox().iter().filter(assigned_mail).count(), 1, "in-app only now");
    }

    async fn sign_up_and_password_reset_links_work_when_followed(app: TestApp) {
        let app = app.with_workers().await;
        let ann = app.user("ann").await;
        let mail = app.mail_to("ann@example.com", "Confirm").await;
        assert!(!mail.html.is_empty() && !mail.text.is_empty());
        let link = link_starting(&mail, &format!("{}/verify-email?token=", app.config.public_url));
        let token = query_param(&link, "token");
        let verified = app.anonymous(Method::POST, "/auth/verify-email", Some(json!({"token": token}))).await;
        assert_eq!(verified.expect(200)["email_verified"], true);

        let asked = app.anonymous(Method::POST, "/auth/password-reset", Some(json!({"email": "ann@example.com"}))).await;
        assert_eq!(asked.status, 202);
        let reset = app.mail_to("ann@example.com", "password").await;
        let link = link_starting(&reset, &format!("{}/reset-password?token=", app.config.public_url));
        let body = json!({"token": query_param(&link, "token"), "password": "brand-new-password"});
        assert_eq!(app.anonymous(Method::POST, "/auth/password-reset/confirm", Some(body)).await.status, 204);
        let login = app.anonymous(Method::POST, "/auth/login", Some(json!({"email": ann.email, "password": "brand-new-password"}))).await;
        login.expect(200);
    }

    async fn an_invitation_is_emailed_and_its_link_accepts_it(app: TestApp) {
        let app = app.with_workers().await;
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let created = app.post(&format!("/orgs/{org}/invitations"), &ann, json!({"email": "dee@example.com", "role": "member"})).await;
        let returned_token = created.expect(201)["token"].as_str().unwrap().to_owned();
        let mail = app.mail_to("dee@example.com", "Acme").await;
        assert!(mail.text.contains("ann") && mail.text.contains("member"), "{}", mail.text);
        let link = link_starting(&mail, &format!("{}/invitations/accept?token=", app.config.public_url));
        let token = query_param(&link, "token");
        assert_eq!(token, returned_token, "the emailed link carries the invitation's token");
        let dee = app.user("dee").await;
        app.post("/invitations/accept", &dee, json!({"token": token})).await.expect(200);
    }

    async fn digests_batch_the_day_into_one_email(app: TestApp) {
        let app = app.with_workers().await;
        let Team { ann, bob, org, web, .. } = app.team().await;
        app.patch("/notification-preferences", &bob, json!({"daily_digest": true})).await.expect(200);
        for title in ["First", "Second"] {
            app.task(org, web, &ann, json!({"title": title, "assignee_ids": [bob.id], "due_at": "2020-01-01T09:00:00Z"})).await.expect(201);
        }
        app.unread_reaches(&bob, 2).await;
        assert!(!app.outbox().iter().any(|m| m.subject.contains("assigned")), "digest users get no single emails");
        let queue = platform::jobs::DbQueue::new(app.db.clone());
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let jobs = [
            platform::jobs::Envelope::new(platform::jobs::Job::NotificationDigest { user_id: bob.id, local_date: date }, None),
            platform::jobs::Envelope::new(platform::jobs::Job::OverdueDigest { user_id: bob.id, local_date: date }, None),
        ];
        platform::jobs::Queue::enqueue(&queue, &jobs, Duration::ZERO).await.unwrap();
        let digest = app.mail_to("bob@example.com", "digest").await;
        assert!(digest.text.contains("ann assigned you WEB-1") && digest.text.contains("ann assigned you WEB-2"), "{}", digest.text);
        let overdue = app.mail_to("bob@example.com", "overdue").await;
        assert!(overdue.text.contains("WEB-1") && overdue.text.contains("Second"), "{}", overdue.text);
        // The digest's rows are sent: another digest job for the same day (a second scheduler, a redelivery) finds
        // nothing to send.
        let repeat = platform::jobs::Envelope::new(jobs[0].job.clone(), None);
        platform::jobs::Queue::enqueue(&queue, &[repeat], Duration::ZERO).await.unwrap();
        eventually(Duration::from_secs(20), "the repeat to be handled", || async {
            let stats = platform::jobs::Queue::stats(&queue).await.unwrap();
            stats.iter().all(|s| s.depth == 0 && s.in_flight == 0).then_some(())
        })
        .await;
        assert_eq!(app.outbox().iter().filter(|m| m.subject.contains("digest")).count(), 1);
    }
}

/// The same path with `mail = ses`: the assignment email is read back from moto's record of what SES sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_ses_mode_the_assignment_email_goes_through_ses() {
    let moto = std::env::var("TASKFORGE_TEST_AWS_URL").unwrap_or_else(|_| "http://127.0.0.1:5055".into());
    if reqwest::get(format!("{moto}/moto-api/data.json")).await.is_err() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "moto at {moto} is unreachable and CI=true");
        eprintln!("skipping: moto at {moto} is unreachable");
        return;
    }
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let sender = format!("noreply-{tag}@taskforge.test");
    let mail_from = format!("Taskforge <{sender}>");
    let prefix = format!("tf{}", &tag[20..]);
    let extra = [
        ("mail", "ses"),
        ("aws_endpoint_url", moto.as_str()),
        ("mail_from", mail_from.as_str()),
        ("sqs_prefix", prefix.as_str()),
    ];
    let app = TestApp::spawn_with(Backend::Sqlite, &extra).await.unwrap();
    // The sender identity must exist before SES takes mail from it, as in production.
    platform::aws_bootstrap::bootstrap(&app.config).await.expect("bootstrapping moto");
    let app = app.with_workers().await;
    let ann = app.user("ann").await;
    let bob = app.user("bob").await;
    let org = app.org(&ann, "Acme").await;
    app.add_member(org, &ann, &bob, "member").await;
    let (web, _) = app.project(org, &ann, "WEB").await;
    app.task(org, web, &ann, json!({"title": "Through SES", "assignee_ids": [bob.id]})).await.expect(201);

    let sent = eventually(Duration::from_secs(20), "the SES message", || async {
        platform::mail::testing::read_moto_ses(&moto)
            .await
            .into_iter()
            .find(|m| m.source == sender && m.mail.subject.contains("assigned you"))
    })
    .await;
    assert_eq!(sent.destinations.len(), 1);
    assert!(sent.destinations[0].contains("bob@example.com"), "{:?}", sent.destinations);
    assert_eq!(sent.mail.subject, "ann assigned you WEB-1: Through SES");
    assert!(sent.mail.text.contains("Through SES") && sent.mail.html.contains("Through SES"));
    assert!(sent.mail.header("List-Unsubscribe").is_some());
    let task_url = format!("{}/orgs/{org}/tasks/WEB-1", app.config.public_url);
    assert!(sent.mail.links().contains(&task_url), "{:?}", sent.mail.links());
    assert!(app.outbox().is_empty(), "nothing goes to the outbox directory in SES mode");
}
