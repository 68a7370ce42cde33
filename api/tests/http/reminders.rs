//! Reminders under a task: creation and validation, permissions, isolation, and `fire_at` following the task's due
//! date.
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::common::*;

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a date-time: {v}"))
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

both_backends! {
    async fn reminders_are_created_listed_changed_and_deleted_under_their_task(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "member").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        app.task(org, web, &ann, json!({"title": "Ship", "due_at": "2040-05-01T12:00:00Z"})).await.expect(201);
        let path = format!("/orgs/{org}/tasks/WEB-1/reminders");
        let soon = iso(Utc::now() + Duration::days(2));

        let abs = app.post(&path, &ann, json!({"remind_at": soon, "recipients": [bob.id, bob.id], "note": " Check CI "})).await;
        abs.expect(201);
        assert_eq!(instant(&abs.body["fire_at"]), instant(&json!(soon)));
        assert_eq!(abs.body["recipients"], json!([bob.id]), "recipients are distinct");
        assert_eq!(abs.body["note"], "Check CI");
        assert!(abs.body.get("fired_at").is_none() && abs.body.get("offset_minutes").is_none());
        let rel = app.post(&path, &ann, json!({"offset_minutes": 90})).await;
        rel.expect(201);
        assert_eq!(instant(&rel.body["fire_at"]), instant(&json!("2040-05-01T10:30:00Z")));
        assert!(rel.body.get("recipients").is_none(), "no list means the assignees at firing time");

        let list = app.get(&path, &bob).await;
        let ids: Vec<&Value> = list.expect(200).as_array().unwrap().iter().map(|r| &r["id"]).collect();
        assert_eq!(ids, [&abs.body["id"], &rel.body["id"]]);
        // The task's id works like its key.
        let task_id = abs.body["task_id"].as_str().unwrap();
        assert_eq!(app.get(&format!("/orgs/{org}/tasks/{task_id}/reminders"), &ann).await.expect(200).as_array().unwrap().len(), 2);

        // Setting an offset alone turns an absolute reminder into a relative one.
        let one = format!("{path}/{}", abs.id());
        let changed = app.patch(&one, &ann, json!({"offset_minutes": 0, "recipients": null, "note": null})).await;
        changed.expect(200);
        assert_eq!(instant(&changed.body["fire_at"]), instant(&json!("2040-05-01T12:00:00Z")));
        assert!(changed.body.get("remind_at").is_none() && changed.body.get("recipients").is_none());
        assert!(changed.body.get("note").is_none());
        app.delete(&one, &ann).await.expect(204);
        app.delete(&one, &ann).await.expect_problem(404, "reminder_not_found");
        assert_eq!(app.get(&path, &ann).await.expect(200).as_array().unwrap().len(), 1);
        assert_eq!(app.outbox_count("reminder.created").await, 2);
        assert_eq!(app.outbox_count("reminder.updated").await, 1);
        assert_eq!(app.outbox_count("reminder.deleted").await, 1);
    }

    async fn invalid_reminders_are_refused_with_the_bad_fields(app: TestApp) {
        let ann = app.user("ann").await;
        let out = app.user("out").await;
        let org = app.org(&ann, "Acme").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        app.task(org, web, &ann, json!({})).await.expect(201);
        let path = format!("/orgs/{org}/tasks/WEB-1/reminders");
        let future = iso(Utc::now() + Duration::hours(1));
        let past = iso(Utc::now() - Duration::minutes(1));
        let cases = [
            (json!({}), vec!["remind_at"]),
            (json!({"remind_at": future, "offset_minutes": 10}), vec!["remind_at"]),
            (json!({"remind_at": past}), vec!["remind_at"]),
            (json!({"offset_minutes": -1}), vec!["offset_minutes"]),
            (json!({"offset_minutes": 86401}), vec!["offset_minutes"]),
            (json!({"offset_minutes": 5, "recipients": [out.id]}), vec!["recipients"]),
            (json!({"offset_minutes": 5, "recipients": []}), vec!["recipients"]),
            (json!({"offset_minutes": 5, "note": "x".repeat(1001)}), vec!["note"]),
        ];
        for (body, fields) in cases {
            let r = app.post(&path, &ann, body.clone()).await;
            r.expect_problem(422, "validation_failed");
            assert_eq!(r.bad_fields(), fields, "{body}");
        }
        // Relative to a due date the task does not have yet: accepted, not scheduled.
        let waiting = app.post(&path, &ann, json!({"offset_minutes": 86400})).await;
        assert!(waiting.expect(201).get("fire_at").is_none());
        let one = format!("{path}/{}", waiting.id());
        app.patch(&one, &ann, json!({"remind_at": past})).await.expect_problem(422, "validation_failed");
        app.patch(&one, &ann, json!({"offset_minutes": null})).await.expect_problem(422, "validation_failed");
        assert_eq!(app.count_rows("reminders").await, 1);
    }

    async fn moving_the_due_date_moves_relative_reminders_and_rearms_fired_ones(app: TestApp) {
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        app.task(org, web, &ann, json!({"due_at": "2040-05-01T12:00:00Z"})).await.expect(201);
        let path = format!("/orgs/{org}/tasks/WEB-1/reminders");
        let fixed_at = iso(Utc::now() + Duration::days(3));
        let rel = app.post(&path, &ann, json!({"offset_minutes": 60})).await;
        rel.expect(201);
        let abs = app.post(&path, &ann, json!({"remind_at": fixed_at})).await;
        abs.expect(201);
        let fire_at_of = |list: &Value, id: &Value| list.as_array().unwrap().iter().find(|r| &r["id"] == id).unwrap()["fire_at"].clone();

        app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &ann, json!({"due_at": "2041-01-01T09:00:00Z"})).await.expect(200);
        let list = app.get(&path, &ann).await;
        assert_eq!(instant(&fire_at_of(list.expect(200), &rel.body["id"])), instant(&json!("2041-01-01T08:00:00Z")));
        assert_eq!(instant(&fire_at_of(&list.body, &abs.body["id"])), instant(&json!(fixed_at)), "absolute reminders stay");

        // Clearing the due date unschedules it.
        app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &ann, json!({"due_at": null})).await.expect(200);
        let list = app.get(&path, &ann).await;
        assert!(fire_at_of(list.expect(200), &rel.body["id"]).is_null());

        // A fired relative reminder is re-armed when the new time is ahead, and left alone when it is past.
        app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &ann, json!({"due_at": "2041-01-01T09:00:00Z"})).await.expect(200);
        app.sql("UPDATE reminders SET fired_at = created_at").await;
        let soon = Utc::now() + Duration::minutes(30);
        app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &ann, json!({"due_at": iso(soon)})).await.expect(200);
        let list = app.get(&path, &ann).await;
        let r = list.expect(200).as_array().unwrap().iter().find(|r| r["id"] == rel.body["id"]).unwrap().clone();
        assert!(r.get("fired_at").is_some(), "new time already past: still fired, not repeated at once: {r}");
        app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &ann, json!({"due_at": "2042-01-01T09:00:00Z"})).await.expect(200);
        let list = app.get(&path, &ann).await;
        let r = list.expect(200).as_array().unwrap().iter().find(|r| r["id"] == rel.body["id"]).unwrap().clone();
        assert!(r.get("fired_at").is_none(), "re-armed: {r}");
        assert_eq!(instant(&r["fire_at"]), instant(&json!("2042-01-01T08:00:00Z")));
        let a = list.body.as_array().unwrap().iter().find(|r| r["id"] == abs.body["id"]).unwrap().clone();
        assert!(a.get("fired_at").is_some(), "absolute reminders do not follow the due date");
    }

    async fn guests_remind_only_themselves_and_other_orgs_see_nothing(app: TestApp) {
        let ann = app.user("ann").await;
        let gus = app.user("gus").await;
        let eve = app.user("eve").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &gus, "guest").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        app.post(&format!("/orgs/{org}/projects/{web}/members"), &ann, json!({"user_id": gus.id})).await.expect(201);
        app.task(org, web, &ann, json!({"due_at": "2040-05-01T12:00:00Z"})).await.expect(201);
        let path = format!("/orgs/{org}/tasks/WEB-1/reminders");
        let annual = app.post(&path, &ann, json!({"offset_minutes": 30})).await;
        annual.expect(201);

        app.post(&path, &gus, json!({"offset_minutes": 30})).await.expect_problem(403, "insufficient_role");
        app.post(&path, &gus, json!({"offset_minutes": 30, "recipients": [ann.id]})).await.expect_problem(403, "insufficient_role");
        let own = app.post(&path, &gus, json!({"offset_minutes": 30, "recipients": [gus.id]})).await;
        own.expect(201);
        app.patch(&format!("{path}/{}", own.id()), &gus, json!({"offset_minutes": 10})).await.expect(200);
        app.patch(&format!("{path}/{}", own.id()), &gus, json!({"recipients": null})).await.expect_problem(403, "insufficient_role");
        app.delete(&format!("{path}/{}", annual.id()), &gus).await.expect_problem(403, "insufficient_role");
        assert_eq!(app.get(&path, &gus).await.expect(200).as_array().unwrap().len(), 2, "guests read them");
        app.delete(&format!("{path}/{}", own.id()), &gus).await.expect(204);

        // Another org's user: the org, the task and the reminder are all 404.
        let other = app.org(&eve, "Evil").await;
        app.get(&path, &eve).await.expect_problem(404, "org_not_found");
        app.get(&format!("/orgs/{other}/tasks/WEB-1/reminders"), &eve).await.expect_problem(404, "task_not_found");
        let (evil, _) = app.project(other, &eve, "WEB").await;
        app.task(other, evil, &eve, json!({})).await.expect(201);
        app.patch(&format!("/orgs/{other}/tasks/WEB-1/reminders/{}", annual.id()), &eve, json!({"note": "x"}))
            .await
            .expect_problem(404, "reminder_not_found");
        app.delete(&format!("/orgs/{other}/tasks/WEB-1/reminders/{}", annual.id()), &eve)
            .await
            .expect_problem(404, "reminder_not_found");
        assert_eq!(app.count_rows("reminders").await, 1);
    }
}
