//! Notifications end to end: API writes → outbox → relay → publish_event → fan-out, then the notifications API.
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

const WAIT: Duration = Duration::from_secs(20);

/// Polls my notifications until one of `kind` shows up, and returns it.
async fn notification_of(app: &TestApp, user: &TestUser, kind: &str) -> Value {
    eventually(WAIT, &format!("a {kind} notification for {}", user.name), || async {
        let page = app.get("/notifications", user).await;
        page.expect(200)["items"].as_array().unwrap().iter().find(|n| n["kind"] == kind).cloned()
    })
    .await
}

async fn kinds_of(app: &TestApp, user: &TestUser) -> Vec<String> {
    let page = app.get("/notifications", user).await;
    page.expect(200)["items"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap().to_owned()).collect()
}

fn status_id(statuses: &[Value], name: &str) -> String {
    statuses.iter().find(|s| s["name"] == name).unwrap()["id"].as_str().unwrap().to_owned()
}

both_backends! {
    async fn assignments_mentions_and_watched_changes_notify_the_right_people(app: TestApp) {
        let app = app.with_workers().await;
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let cat = app.user("cat").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "member").await;
        app.add_member(org, &ann, &cat, "member").await;
        let (web, statuses) = app.project(org, &ann, "WEB").await;
        let task = app.task(org, web, &ann, json!({"title": "Ship <it>", "assignee_ids": [bob.id]})).await;
        let task_id = task.expect(201)["id"].as_str().unwrap().to_owned();

        let assigned = notification_of(&app, &bob, "task_assigned").await;
        assert_eq!(assigned["title"], "ann assigned you WEB-1");
        assert_eq!(assigned["body"], "Ship <it>");
        assert_eq!(assigned["read"], false);
        assert_eq!(assigned["url"], format!("/orgs/{org}/tasks/WEB-1"));
        assert_eq!(assigned["actor_id"], ann.id.to_string());

        // cat is mentioned; bob (assignee, so a watcher) hears about the comment; ann wrote it and hears nothing.
        let comment = app
            .post(&format!("/orgs/{org}/tasks/{task_id}/comments"), &ann, json!({"body": "@cat@example.com please review"}))
            .await;
        comment.expect(201);
        let mention = notification_of(&app, &cat, "mentioned").await;
        assert_eq!(mention["title"], "ann mentioned you on WEB-1");
        assert!(mention["body"].as_str().unwrap().contains("please review"));
        notification_of(&app, &bob, "task_commented").await;

        // bob moves the task: ann (creator, watching) is told, bob is not.
        let moved = app
            .patch(&format!("/orgs/{org}/tasks/{task_id}"), &bob, json!({"status_id": status_id(&statuses, "In progress")}))
            .await;
        moved.expect(200);
        let status = notification_of(&app, &ann, "task_status_changed").await;
        assert_eq!(status["title"], "bob moved WEB-1 to In progress");
        assert!(!kinds_of(&app, &bob).await.contains(&"task_status_changed".to_owned()));
        assert!(kinds_of(&app, &ann).await.iter().all(|k| k == "task_status_changed"), "nobody hears of their own acts");
    }

    async fn notifications_are_listed_counted_marked_read_and_private(app: TestApp) {
        let app = app.with_workers().await;
        let Team { ann, bob, org, web, .. } = app.team().await;
        for i in 0..3 {
            app.task(org, web, &ann, json!({"title": format!("T{i}"), "assignee_ids": [bob.id]})).await.expect(201);
        }
        app.unread_reaches(&bob, 3).await;
        let first = app.get("/notifications?limit=2", &bob).await;
        let first = first.expect(200);
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        assert_eq!(first["unread_count"], 3);
        assert!(first["items"][0]["created_at"].as_str() >= first["items"][1]["created_at"].as_str(), "newest first");
        let cursor = first["next_cursor"].as_str().unwrap();
        let second = app.get(&format!("/notifications?limit=2&cursor={cursor}"), &bob).await;
        let second = second.expect(200);
        assert_eq!(second["items"].as_array().unwrap().len(), 1);
        let mut titles: Vec<&str> = first["items"].as_array().unwrap().iter().chain(second["items"].as_array().unwrap())
            .map(|n| n["title"].as_str().unwrap())
            .collect();
        titles.sort();
        assert_eq!(titles, ["ann assigned you WEB-1", "ann assigned you WEB-2", "ann assigned you WEB-3"]);
        assert!(second.get("next_cursor").is_none());

        let id = first["items"][0]["id"].as_str().unwrap().to_owned();
        let read = app.patch(&format!("/notifications/{id}"), &bob, json!({"read": true})).await;
        assert_eq!(read.expect(200)["read"], true);
        let unread = app.get("/notifications?unread=true", &bob).await;
        assert_eq!(unread.expect(200)["items"].as_array().unwrap().len(), 2);
        // Someone else's notification does not exist for ann.
        app.patch(&format!("/notifications/{id}"), &ann, json!({"read": false})).await.expect_problem(404, "notification_not_found");
        app.get("/notifications?cursor=nope", &bob).await.expect_problem(422, "validation_failed");
        app.get("/notifications?limit=0", &bob).await.expect_problem(422, "validation_failed");

        let all = app.post("/notifications/read-all", &bob, json!({})).await;
        assert_eq!(all.expect(200)["marked"], 2);
        let c = app.get("/notifications/unread-count", &bob).await;
        assert_eq!(c.expect(200)["count"], 0);
    }

    async fn preferences_turn_kinds_off_and_are_validated(app: TestApp) {
        let app = app.with_workers().await;
        let Team { ann, bob, org, web, .. } = app.team().await;

        let prefs = app.get("/notification-preferences", &bob).await;
        let prefs = prefs.expect(200);
        assert_eq!(prefs["daily_digest"], false);
        let assigned = prefs["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "task_assigned").unwrap();
        assert_eq!((assigned["channel"].as_str(), assigned["default_channel"].as_str()), (Some("email"), Some("email")));

        let bad = app
            .patch("/notification-preferences", &bob, json!({"kinds": [{"kind": "telepathy", "channel": "off"}, {"kind": "mentioned", "channel": "sms"}]}))
            .await;
        assert_eq!(bad.expect_problem(422, "validation_failed").clone()["errors"].as_array().unwrap().len(), 2);
        assert_eq!(bad.bad_fields(), vec!["kinds[0].kind".to_owned(), "kinds[1].channel".to_owned()]);

        let off = app
            .patch("/notification-preferences", &bob, json!({"daily_digest": true, "kinds": [{"kind": "task_assigned", "channel": "off"}]}))
            .await;
        let off = off.expect(200);
        assert_eq!(off["daily_digest"], true);
        assert!(off["kinds"].as_array().unwrap().iter().any(|k| k["kind"] == "task_assigned" && k["channel"] == "off"));

        // Assigned (off) then mentioned (still on): only the mention arrives.
        let task = app.task(org, web, &ann, json!({"title": "Quiet", "assignee_ids": [bob.id]})).await;
        let task_id = task.expect(201)["id"].as_str().unwrap().to_owned();
        app.post(&format!("/orgs/{org}/tasks/{task_id}/comments"), &ann, json!({"body": "@bob@example.com hi"})).await.expect(201);
        notification_of(&app, &bob, "mentioned").await;
        assert_eq!(kinds_of(&app, &bob).await, vec!["mentioned".to_owned()]);
    }
}
