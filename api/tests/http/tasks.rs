//! Tasks: numbering, lookup by key, merge-patch with If-Match, soft delete, moves, filters and pagination,
//! comments, watchers, isolation.
use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::*;

fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a date-time: {v}"))
}

fn status_id(statuses: &[Value], name: &str) -> String {
    statuses.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no status {name}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The label ids a task's rows in `task_labels` hold, sorted.
async fn label_links(app: &TestApp, org: Uuid, task: Uuid) -> Vec<Uuid> {
    use entities::tables::task_labels;
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    let mut linked: Vec<Uuid> = entities::Scope::system(org)
        .find::<task_labels::Entity>()
        .filter(task_labels::Column::TaskId.eq(task))
        .select_only()
        .column(task_labels::Column::LabelId)
        .into_tuple()
        .all(&app.db)
        .await
        .unwrap();
    linked.sort();
    linked
}

/// PATCHes every task with `body` at once and sends the DELETE of `deletion` alongside the PATCH of the ninth. Each
/// PATCH must succeed, be refused with 422 naming `field` (it checked before the deletion) or answer 409
/// `write_conflict` (it lost a deadlock): never a 500. The deletion is sent again afterwards if it lost one.
async fn race_deletion(
    app: &TestApp,
    user: &TestUser,
    org: Uuid,
    tasks: &[Uuid],
    body: Value,
    deletion: &str,
    field: &str,
) {
    const DELETER: usize = 8;
    let mut handles = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        let (client, token, body) = (app.client.clone(), user.token.clone(), body.clone());
        let (patch, delete) =
            (app.url(&format!("/api/v1/orgs/{org}/tasks/{task}")), app.url(&format!("/api/v1{deletion}")));
        handles.push(tokio::spawn(async move {
            let mut sent = vec![];
            if i == DELETER {
                sent.push((
                    "delete",
                    TestApp::read(client.delete(&delete).bearer_auth(&token).send().await.unwrap()).await,
                ));
            }
            sent.push((
                "patch",
                TestApp::read(client.patch(&patch).bearer_auth(&token).json(&body).send().await.unwrap()).await,
            ));
            sent
        }));
    }
    let mut deleted = false;
    for h in handles {
        for (what, r) in h.await.unwrap() {
            let ok = match what {
                "delete" => r.status == 204,
                _ => r.status == 200 || (r.status == 422 && r.bad_fields() == [field]),
            };
            assert!(ok || (r.status == 409 && r.body["code"] == "write_conflict"), "{what}: {} {}", r.status, r.text);
            deleted |= what == "delete" && r.status == 204;
        }
    }
    if !deleted {
        app.delete(deletion, user).await.expect(204);
    }
}

both_backends! {
    async fn tasks_are_numbered_per_project_and_found_by_id_or_key(app: TestApp) {
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, statuses) = app.project(org, &ann, "WEB").await;
        let (ops, _) = app.project(org, &ann, "OPS").await;
        let a = app.task(org, web, &ann, json!({"title": "First"})).await;
        a.expect(201);
        assert_eq!(a.body["key"], "WEB-1");
        assert_eq!(a.body["version"], 1);
        assert_eq!(a.header("etag"), Some("\"1\""));
        assert_eq!(a.body["status_id"], status_id(&statuses, "Todo"), "new tasks start in the first unstarted status");
        assert_eq!(a.body["priority"], "none");
        let b = app.task(org, web, &ann, json!({"title": "Second", "priority": "high"})).await;
        assert_eq!(b.expect(201)["key"], "WEB-2");
        let c = app.task(org, ops, &ann, json!({"title": "Elsewhere"})).await;
        assert_eq!(c.expect(201)["key"], "OPS-1");
        let by_key = app.get(&format!("/orgs/{org}/tasks/WEB-2"), &ann).await;
        assert_eq!(by_key.expect(200)["title"], "Second");
        assert_eq!(by_key.header("etag"), Some("\"1\""));
        let by_lower = app.get(&format!("/orgs/{org}/tasks/web-2"), &ann).await;
        assert_eq!(by_lower.expect(200)["id"], b.body["id"]);
        let by_id = app.get(&format!("/orgs/{org}/tasks/{}", a.id()), &ann).await;
        assert_eq!(by_id.expect(200)["key"], "WEB-1");
        app.get(&format!("/orgs/{org}/tasks/WEB-99"), &ann).await.expect_problem(404, "task_not_found");
        app.get(&format!("/orgs/{org}/tasks/nonsense"), &ann).await.expect_problem(404, "task_not_found");
        assert_eq!(app.outbox_count("task.created").await, 3);
        // The creator watches new tasks.
        let w = app.get(&format!("/orgs/{org}/tasks/WEB-1/watchers"), &ann).await;
        assert_eq!(w.expect(200), &json!([ann.id]));
    }

    async fn invalid_tasks_name_every_bad_field(app: TestApp) {
        let ann = app.user("ann").await;
        let out = app.user("out").await;
        let org = app.org(&ann, "Acme").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        let (_, other_statuses) = app.project(org, &ann, "OPS").await;
        let r = app.task(org, web, &ann, json!({
            "title": "  ",
            "priority": "extreme",
            "status_id": other_statuses[0]["id"],
            "assignee_ids": [out.id],
            "label_ids": [Uuid::now_v7()],
            "parent_id": Uuid::now_v7(),
            "start_at": "2030-01-02T00:00:00Z",
            "due_at": "2030-01-01T00:00:00Z",
            "estimate": -1,
        })).await;
        r.expect_problem(422, "validation_failed");
        let mut fields = r.bad_fields();
        fields.sort();
        assert_eq!(fields, ["assignee_ids", "estimate", "label_ids", "parent_id", "priority", "start_at", "status_id", "title"]);
        app.task(org, web, &ann, json!({"title": "x", "due_at": "tomorrow"})).await.expect_problem(400, "bad_request");
        assert_eq!(app.count_rows("tasks").await, 0);
        assert_eq!(app.outbox_count("task.created").await, 0);
    }

    async fn patching_merges_fields_and_stale_versions_are_refused(app: TestApp) {
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, statuses) = app.project(org, &ann, "WEB").await;
        let t = app.task(org, web, &ann, json!({"title": "Write docs", "due_at": "2040-05-01T12:00:00Z", "estimate": 3})).await;
        t.expect(201);
        assert_eq!(instant(&t.body["due_at"]), instant(&json!("2040-05-01T12:00:00Z")), "dates after 2038 survive the round trip");
        let path = format!("/orgs/{org}/tasks/WEB-1");
        // Absent fields stay.
        let r = app.call(Method::PATCH, &path, Some(&ann), Some(json!({"title": "Write the docs"})),
            Opts { headers: vec![("if-match", "\"1\"".into())] }).await;
        r.expect(200);
        assert_eq!(r.body["title"], "Write the docs");
        assert_eq!(instant(&r.body["due_at"]), instant(&json!("2040-05-01T12:00:00Z")));
        assert_eq!(r.body["version"], 2);
        assert_eq!(r.header("etag"), Some("\"2\""));
        // A stale If-Match is refused and changes nothing.
        let stale = app.call(Method::PATCH, &path, Some(&ann), Some(json!({"title": "Lost update"})),
            Opts { headers: vec![("if-match", "\"1\"".into())] }).await;
        assert_eq!(stale.expect_problem(412, "version_conflict")["current_version"], 2);
        let bad = app.call(Method::PATCH, &path, Some(&ann), Some(json!({"title": "x"})),
            Opts { headers: vec![("if-match", "nonsense".into())] }).await;
        bad.expect_problem(400, "invalid_if_match");
        // null clears a nullable field; a weak ETag matches too.
        let r = app.call(Method::PATCH, &path, Some(&ann), Some(json!({"due_at": null, "estimate": null})),
            Opts { headers: vec![("if-match", "W/\"2\"".into())] }).await;
        r.expect(200);
        assert!(r.body["due_at"].is_null() && r.body["estimate"].is_null());
        assert_eq!(r.body["title"], "Write the docs");
        app.patch(&path, &ann, json!({"title": null})).await.expect_problem(422, "validation_failed");
        // Completing sets completed_at; reopening clears it.
        let done = app.patch(&path, &ann, json!({"status_id": status_id(&statuses, "Done")})).await;
        assert!(done.expect(200)["completed_at"].is_string());
        let reopened = app.patch(&path, &ann, json!({"status_id": status_id(&statuses, "In progress")})).await;
        assert!(reopened.expect(200)["completed_at"].is_null());
        // An empty patch changes nothing and writes no event.
        let same = app.patch(&path, &ann, json!({})).await;
        assert_eq!(same.expect(200)["version"], reopened.body["version"]);
        assert_eq!(app.outbox_count("task.updated").await, 4);
    }

    async fn assignees_must_see_the_project(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let gus = app.user("gus").await;
        let stranger = app.user("stranger").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "member").await;
        app.add_member(org, &ann, &gus, "guest").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        let t = app.task(org, web, &ann, json!({"assignee_ids": [bob.id, bob.id]})).await;
        assert_eq!(t.expect(201)["assignee_ids"], json!([bob.id]));
        // Assignees start watching.
        let w = app.get(&format!("/orgs/{org}/tasks/WEB-1/watchers"), &ann).await;
        assert!(w.expect(200).as_array().unwrap().contains(&json!(bob.id)));
        let r = app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &ann, json!({"assignee_ids": [stranger.id]})).await;
        assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["field"], "assignee_ids");
        // A guest sees only projects they were added to.
        app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &ann, json!({"assignee_ids": [gus.id]})).await
            .expect_problem(422, "validation_failed");
        app.post(&format!("/orgs/{org}/projects/{web}/members"), &ann, json!({"user_id": gus.id})).await.expect(201);
        let r = app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &ann, json!({"assignee_ids": [gus.id, bob.id]})).await;
        let mut got: Vec<String> = r.expect(200)["assignee_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        got.sort();
        let mut want = vec![gus.id.to_string(), bob.id.to_string()];
        want.sort();
        assert_eq!(got, want);
        // Guests read and comment but do not write tasks.
        app.get(&format!("/orgs/{org}/tasks/WEB-1"), &gus).await.expect(200);
        app.task(org, web, &gus, json!({})).await.expect_problem(403, "insufficient_role");
        app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &gus, json!({"title": "x"})).await.expect_problem(403, "insufficient_role");
        app.post(&format!("/orgs/{org}/tasks/WEB-1/comments"), &gus, json!({"body": "Looks good"})).await.expect(201);
    }

    async fn subtasks_cannot_form_cycles(app: TestApp) {
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        let (ops, _) = app.project(org, &ann, "OPS").await;
        let a = app.task(org, web, &ann, json!({"title": "Epic"})).await.id();
        let b = app.task(org, web, &ann, json!({"title": "Story", "parent_id": a})).await;
        assert_eq!(b.expect(201)["parent_id"], a.to_string());
        let c = app.task(org, web, &ann, json!({"title": "Sub", "parent_id": b.id()})).await.id();
        let r = app.patch(&format!("/orgs/{org}/tasks/{a}"), &ann, json!({"parent_id": c})).await;
        assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["field"], "parent_id");
        app.patch(&format!("/orgs/{org}/tasks/{a}"), &ann, json!({"parent_id": a})).await.expect_problem(422, "validation_failed");
        let foreign = app.task(org, ops, &ann, json!({})).await.id();
        app.patch(&format!("/orgs/{org}/tasks/{a}"), &ann, json!({"parent_id": foreign})).await.expect_problem(422, "validation_failed");
        let children = app.get(&format!("/orgs/{org}/projects/{web}/tasks?parent={a}"), &ann).await;
        assert_eq!(children.expect(200)["items"].as_array().unwrap().len(), 1);
        let top = app.get(&format!("/orgs/{org}/projects/{web}/tasks?parent=none"), &ann).await;
        assert_eq!(top.expect(200)["items"][0]["id"], a.to_string());
        // Detaching works with null.
        let r = app.patch(&format!("/orgs/{org}/tasks/{c}"), &ann, json!({"parent_id": null})).await;
        assert!(r.expect(200)["parent_id"].is_null());
    }

    async fn deleted_tasks_leave_lists_and_can_be_restored(app: TestApp) {
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        app.task(org, web, &ann, json!({})).await.expect(201);
        let path = format!("/orgs/{org}/tasks/WEB-1");
        let stale = app.call(Method::DELETE, &path, Some(&ann), None, Opts { headers: vec![("if-match", "\"7\"".into())] }).await;
        stale.expect_problem(412, "version_conflict");
        app.delete(&path, &ann).await.expect(204);
        assert_eq!(app.get(&path, &ann).await.expect(200)["deleted"], true);
        let live = app.get(&format!("/orgs/{org}/projects/{web}/tasks"), &ann).await;
        assert_eq!(live.expect(200)["items"].as_array().unwrap().len(), 0);
        let trash = app.get(&format!("/orgs/{org}/projects/{web}/tasks?deleted=true"), &ann).await;
        assert_eq!(trash.expect(200)["items"].as_array().unwrap().len(), 1);
        app.patch(&path, &ann, json!({"title": "x"})).await.expect_problem(409, "task_deleted");
        let r = app.post(&format!("{path}/restore"), &ann, json!({})).await;
        assert_eq!(r.expect(200)["deleted"], false);
        assert_eq!(app.outbox_count("task.deleted").await, 1);
        assert_eq!(app.outbox_count("task.restored").await, 1);
        // The number is never reused.
        assert_eq!(app.task(org, web, &ann, json!({})).await.expect(201)["key"], "WEB-2");
    }

    async fn board_moves_bisect_neighbours_and_refuse_stale_versions(app: TestApp) {
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, statuses) = app.project(org, &ann, "WEB").await;
        let todo = status_id(&statuses, "Todo");
        let doing = status_id(&statuses, "In progress");
        let a = app.task(org, web, &ann, json!({"title": "A"})).await;
        let b = app.task(org, web, &ann, json!({"title": "B"})).await;
        let c = app.task(org, web, &ann, json!({"title": "C"})).await;
        let (pa, pb) = (a.body["position"].as_f64().unwrap(), b.body["position"].as_f64().unwrap());
        assert!(pa < pb);
        let moved = app.post(&format!("/orgs/{org}/tasks/{}/move", c.id()), &ann,
            json!({"status_id": todo, "after_id": a.id(), "before_id": b.id(), "version": 1})).await;
        moved.expect(200);
        let pc = moved.body["position"].as_f64().unwrap();
        assert!(pa < pc && pc < pb, "{pa} < {pc} < {pb}");
        assert_eq!(moved.body["version"], 2);
        // Neighbours keep their positions: the column is not renumbered.
        let a_again = app.get(&format!("/orgs/{org}/tasks/{}", a.id()), &ann).await;
        assert_eq!(a_again.body["position"].as_f64().unwrap(), pa);
        assert_eq!(a_again.body["version"], 1);
        let board = app.get(&format!("/orgs/{org}/projects/{web}/tasks?status={todo}&sort=position"), &ann).await;
        let titles: Vec<&str> = board.expect(200)["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["A", "C", "B"]);
        // A stale client's move is refused.
        app.post(&format!("/orgs/{org}/tasks/{}/move", c.id()), &ann, json!({"status_id": doing, "version": 1})).await
            .expect_problem(412, "version_conflict");
        // Neighbours must be in the target column.
        let r = app.post(&format!("/orgs/{org}/tasks/{}/move", c.id()), &ann,
            json!({"status_id": doing, "after_id": a.id(), "version": 2})).await;
        assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["field"], "after_id");
        let r = app.post(&format!("/orgs/{org}/tasks/{}/move", c.id()), &ann, json!({"status_id": doing, "version": 2})).await;
        assert_eq!(r.expect(200)["status_id"], doing);
        assert_eq!(app.outbox_count("task.moved").await, 2);
        // Many moves into the same gap keep the order (the column is renumbered only when the gap runs out).
        let mut upper = a.id();
        for i in 0..60 {
            let t = app.task(org, web, &ann, json!({"title": format!("N{i}")})).await;
            app.post(&format!("/orgs/{org}/tasks/{}/move", t.id()), &ann,
                json!({"status_id": todo, "after_id": upper, "before_id": b.id(), "version": 1})).await.expect(200);
            upper = t.id();
        }
        let board = app.get(&format!("/orgs/{org}/projects/{web}/tasks?status={todo}&sort=position&limit=200"), &ann).await;
        let titles: Vec<String> = board.expect(200)["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect();
        assert_eq!(titles.first().map(String::as_str), Some("A"));
        assert_eq!(titles.last().map(String::as_str), Some("B"));
        let middle: Vec<String> = (0..60).map(|i| format!("N{i}")).collect();
        assert_eq!(&titles[1..61], &middle[..]);
    }

    async fn task_rows_read_by_position_hold_what_sea_orm_reads(app: TestApp) {
        use entities::link_copies::{ASSIGNEES, LABELS};
        use entities::tables::tasks;
        use sea_orm::{ConnectionTrait, FromQueryResult, QueryOrder, QueryTrait};
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, statuses) = app.project(org, &ann, "WEB").await;
        let label = app.post(&format!("/orgs/{org}/projects/{web}/labels"), &ann, json!({"name": "Bug", "color": "#aa0000"}))
            .await.id();
        // Every nullable column both set and NULL, text with multi-byte characters, and a zoned date far from now.
        let full = json!({
            "title": "Straße — ünïcode ✓", "description": "line 1\nline 2 «quoted»", "priority": "urgent",
            "assignee_ids": [ann.id], "label_ids": [label], "due_at": "2031-02-03T04:05:06.789Z",
            "start_at": "2030-01-01T00:00:00Z", "estimate": 13,
        });
        let full = app.task(org, web, &ann, full).await.expect(201)["id"].as_str().unwrap().to_owned();
        app.task(org, web, &ann, json!({"title": "Child", "parent_id": full})).await.expect(201);
        app.task(org, web, &ann, json!({"title": "Bare"})).await.expect(201);
        let path = format!("/orgs/{org}/tasks/{full}");
        app.patch(&path, &ann, json!({"status_id": status_id(&statuses, "In progress")})).await.expect(200);
        app.patch(&path, &ann, json!({"status_id": status_id(&statuses, "Done")})).await.expect(200);
        app.delete(&format!("/orgs/{org}/tasks/WEB-3"), &ann).await.expect(204);

        let scope = entities::Scope::of_member(&app.db, ann.id, org).await.unwrap().unwrap();
        let select = api::domain::task_links::with_links(scope.find::<tasks::Entity>())
            .order_by_asc(tasks::Column::Number)
            .build(app.db.get_database_backend());
        let rows = app.db.query_all_raw(select).await.unwrap();
        assert_eq!(rows.len(), 3);
        for row in &rows {
            let by_name = (
                tasks::Model::from_query_result(row, "").unwrap(),
                row.try_get::<Option<String>>("", ASSIGNEES).unwrap(),
                row.try_get::<Option<String>>("", LABELS).unwrap(),
            );
            assert_eq!(entities::task_rows::read(row, "").unwrap(), by_name);
            if app.backend == Backend::MariaDb {
                let mysql = row.try_as_mysql_row().expect("a MariaDB row");
                assert!(entities::task_rows::by_position(mysql), "a task list's rows are read by position");
            }
        }
        let first = &entities::task_rows::read(&rows[0], "").unwrap().0;
        assert!(first.started_at.is_some() && first.completed_at.is_some() && first.parent_id.is_none());
        assert_eq!(first.estimate, Some(13));
        let child = &entities::task_rows::read(&rows[1], "").unwrap();
        assert_eq!(child.0.parent_id.map(|p| p.to_string()), Some(full.clone()));
        assert!(child.0.due_at.is_none() && child.1.is_none() && child.2.is_none());
        assert!(entities::task_rows::read(&rows[2], "").unwrap().0.deleted_at.is_some());
    }

    async fn a_patch_compares_new_links_with_the_link_tables_not_a_lagging_copy(app: TestApp) {
        use entities::tables::tasks;
        use sea_orm::sea_query::{Alias, Expr};
        use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        let labels = format!("/orgs/{org}/projects/{web}/labels");
        let bug = app.post(&labels, &ann, json!({"name": "Bug", "color": "#aa0000"})).await.id();
        let ux = app.post(&labels, &ann, json!({"name": "UX", "color": "#00aa00"})).await.id();
        let id = |v: &Value| -> Uuid { v["id"].as_str().unwrap().parse().unwrap() };
        let one = id(app.task(org, web, &ann, json!({"title": "One", "label_ids": [bug]})).await.expect(201));
        let two = id(app.task(org, web, &ann, json!({"title": "Two", "label_ids": [ux]})).await.expect(201));
        // As after a replica of a release without copies relabelled task one from UX to Bug: its copy still says UX.
        let scope = entities::Scope::system(org);
        let copy: Option<String> = scope
            .find::<tasks::Entity>()
            .filter(tasks::Column::Id.eq(two))
            .select_only()
            .column_as(Expr::col(Alias::new("label_ids")), "label_ids")
            .into_tuple()
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        scope
            .update_many::<tasks::Entity>()
            .col_expr(Alias::new("label_ids"), Expr::value(copy))
            .filter(tasks::Column::Id.eq(one))
            .exec(&app.db)
            .await
            .unwrap();
        // Setting UX is a change, since the link table says Bug: it is saved and recorded.
        let r = app.patch(&format!("/orgs/{org}/tasks/{one}"), &ann, json!({"label_ids": [ux]})).await;
        assert_eq!(r.expect(200)["label_ids"], json!([ux]));
        assert_eq!(label_links(&app, org, one).await, [ux]);
        assert_eq!(app.outbox_count("task.updated").await, 1);
    }

    async fn listed_tasks_carry_every_assignee_and_label_as_a_read_does(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "member").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        // 40 labels: their ids as text (40 × 33 bytes) are longer than MySQL's default GROUP_CONCAT limit.
        let mut labels = Vec::new();
        for i in 0..40 {
            let body = json!({"name": format!("label {i}"), "color": "#00aa00"});
            labels.push(app.post(&format!("/orgs/{org}/projects/{web}/labels"), &ann, body).await.id());
        }
        labels.sort();
        let mut people = vec![ann.id, bob.id];
        people.sort();
        let body = json!({"title": "Busy", "assignee_ids": [bob.id, ann.id], "label_ids": labels});
        app.task(org, web, &ann, body).await.expect(201);
        app.task(org, web, &ann, json!({"title": "Bare"})).await.expect(201);
        let read = app.get(&format!("/orgs/{org}/tasks/WEB-1"), &ann).await.expect(200).clone();
        let ids = |v: &Value| -> Vec<Uuid> { v.as_array().unwrap().iter().map(|i| i.as_str().unwrap().parse().unwrap()).collect() };
        assert_eq!(ids(&read["label_ids"]), labels);
        assert_eq!(ids(&read["assignee_ids"]), people);
        for path in [format!("/orgs/{org}/projects/{web}/tasks?sort=created"), format!("/orgs/{org}/tasks?sort=created")] {
            let page = app.get(&path, &ann).await.expect(200).clone();
            let items = page["items"].as_array().unwrap();
            assert_eq!(items.len(), 2, "{path}");
            assert_eq!(items[0], read, "{path}: the list shows the task as a read does");
            assert_eq!((ids(&items[1]["label_ids"]), ids(&items[1]["assignee_ids"])), (vec![], vec![]), "{path}");
            assert_eq!(items[1]["key"], "WEB-2");
        }
        // Every write that changes a task's links keeps what reads and lists show in step: a PATCH, a deleted
        // label, a member who leaves the org. The assignee filter reads pages its own way: check it too.
        let reads_and_lists_agree = |expected_people: Vec<Uuid>, expected_labels: Vec<Uuid>| {
            let app = &app;
            let ann = &ann;
            async move {
                let read = app.get(&format!("/orgs/{org}/tasks/WEB-1"), ann).await.expect(200).clone();
                assert_eq!(ids(&read["assignee_ids"]), expected_people);
                assert_eq!(ids(&read["label_ids"]), expected_labels);
                for path in [
                    format!("/orgs/{org}/projects/{web}/tasks?sort=created"),
                    format!("/orgs/{org}/projects/{web}/tasks?assignee={}", ann.id),
                    format!("/orgs/{org}/tasks?assignee=me"),
                ] {
                    let page = app.get(&path, ann).await.expect(200).clone();
                    assert_eq!(page["items"][0], read, "{path}");
                }
            }
        };
        let few = labels[..3].to_vec();
        let body = json!({"assignee_ids": [ann.id], "label_ids": few});
        app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &ann, body).await.expect(200);
        reads_and_lists_agree(vec![ann.id], few.clone()).await;
        app.delete(&format!("/orgs/{org}/projects/{web}/labels/{}", few[0]), &ann).await.expect(204);
        reads_and_lists_agree(vec![ann.id], few[1..].to_vec()).await;
        let body = json!({"assignee_ids": [ann.id, bob.id]});
        app.patch(&format!("/orgs/{org}/tasks/WEB-1"), &ann, body).await.expect(200);
        reads_and_lists_agree(people.clone(), few[1..].to_vec()).await;
        app.delete(&format!("/orgs/{org}/members/{}", bob.id), &ann).await.expect(204);
        reads_and_lists_agree(vec![ann.id], few[1..].to_vec()).await;
        // Copies lost (as after a rolling upgrade from a release without them) come back from the link tables.
        app.sql("UPDATE tasks SET assignee_ids = NULL, label_ids = NULL").await;
        entities::link_copies::refresh_all(&app.db).await.unwrap();
        reads_and_lists_agree(vec![ann.id], few[1..].to_vec()).await;
    }

    async fn lists_filter_sort_and_page_without_gaps(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "member").await;
        let (web, statuses) = app.project(org, &ann, "WEB").await;
        let label = app.post(&format!("/orgs/{org}/projects/{web}/labels"), &ann, json!({"name": "bug", "color": "#ff0000"})).await.id();
        let done = status_id(&statuses, "Done");
        let specs = [
            ("Fix login bug", "urgent", Some("2020-01-01T00:00:00Z"), vec![ann.id], true, None),
            ("Write release notes", "low", Some("2041-03-01T00:00:00Z"), vec![bob.id], false, None),
            ("Refactor cache", "medium", None, vec![], false, None),
            ("Ship it", "high", Some("2019-06-01T00:00:00Z"), vec![ann.id, bob.id], false, Some(done.clone())),
            ("Update deps", "none", Some("2040-01-01T00:00:00Z"), vec![], true, None),
            ("Triage 100% of bugs_today", "low", None, vec![bob.id], false, None),
            ("Plan Q3", "high", Some("2021-01-01T00:00:00Z"), vec![ann.id], false, None),
        ];
        for (title, priority, due, assignees, labelled, status) in &specs {
            let mut body = json!({"title": title, "priority": priority, "assignee_ids": assignees});
            if let Some(d) = due { body["due_at"] = json!(d); }
            if *labelled { body["label_ids"] = json!([label]); }
            if let Some(s) = status { body["status_id"] = json!(s); }
            app.task(org, web, &ann, body).await.expect(201);
        }
        let list = |q: String| { let app = &app; let ann = &ann; async move {
            let r = app.get(&format!("/orgs/{org}/projects/{web}/tasks?{q}"), ann).await;
            r.expect(200);
            r.body["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }};
        assert_eq!(list("assignee=me&sort=created".into()).await, ["Fix login bug", "Ship it", "Plan Q3"]);
        assert_eq!(list(format!("assignee={}&sort=created", bob.id)).await, ["Write release notes", "Ship it", "Triage 100% of bugs_today"]);
        assert_eq!(list("assignee=none&sort=created".into()).await, ["Refactor cache", "Update deps"]);
        assert_eq!(list(format!("label={label}&sort=created")).await, ["Fix login bug", "Update deps"]);
        assert_eq!(list("priority=high,urgent&sort=created".into()).await, ["Fix login bug", "Ship it", "Plan Q3"]);
        assert_eq!(list("status_category=completed".into()).await, ["Ship it"]);
        assert_eq!(list(format!("status={done}")).await, ["Ship it"]);
        assert_eq!(list("overdue=true&sort=due".into()).await, ["Fix login bug", "Plan Q3"]);
        assert_eq!(list("due_before=2030-01-01T00:00:00Z&sort=due".into()).await, ["Ship it", "Fix login bug", "Plan Q3"]);
        assert_eq!(list("due_after=2030-01-01T00:00:00Z&sort=-due".into()).await, ["Write release notes", "Update deps"]);
        assert_eq!(list("q=release".into()).await, ["Write release notes"]);
        assert_eq!(list("q=100%25".into()).await, ["Triage 100% of bugs_today"], "% is matched literally");
        assert_eq!(list("q=ri_ge".into()).await, Vec::<String>::new(), "_ is matched literally");
        // Every sort pages through all tasks exactly once, in order.
        for sort in ["created", "-created", "updated", "-updated", "due", "-due", "priority", "-priority", "position", "-position"] {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut q = format!("sort={sort}&limit=2");
                if let Some(c) = &cursor { q.push_str(&format!("&cursor={c}")); }
                let r = app.get(&format!("/orgs/{org}/projects/{web}/tasks?{q}"), &ann).await;
                r.expect(200);
                for t in r.body["items"].as_array().unwrap() { seen.push(t.clone()); }
                match r.body["next_cursor"].as_str() { Some(c) => cursor = Some(c.to_owned()), None => break }
            }
            let ids: HashSet<&str> = seen.iter().map(|t| t["id"].as_str().unwrap()).collect();
            assert_eq!(seen.len(), specs.len(), "sort {sort}");
            assert_eq!(ids.len(), specs.len(), "sort {sort} repeated a task");
            let full = app.get(&format!("/orgs/{org}/projects/{web}/tasks?sort={sort}&limit=200"), &ann).await;
            let full_ids: Vec<&str> = full.body["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
            let paged_ids: Vec<&str> = seen.iter().map(|t| t["id"].as_str().unwrap()).collect();
            assert_eq!(paged_ids, full_ids, "sort {sort}: pages differ from one big page");
        }
        let due: Vec<String> = list("sort=due".into()).await;
        assert_eq!(due.last().unwrap(), "Triage 100% of bugs_today", "no due date sorts last");
        // The org-wide list sees the same tasks.
        let mine = app.get(&format!("/orgs/{org}/tasks?assignee=me"), &ann).await;
        assert_eq!(mine.expect(200)["items"].as_array().unwrap().len(), 3);
        // Bad parameters are named.
        for (q, field) in [("limit=0", "limit"), ("limit=201", "limit"), ("cursor=xyz", "cursor"), ("sort=size", "sort"),
                           ("assignee=someone", "assignee"), ("status_category=doing", "status_category"), ("priority=max", "priority"),
                           ("status=abc", "status"), ("parent=abc", "parent")] {
            let r = app.get(&format!("/orgs/{org}/projects/{web}/tasks?{q}"), &ann).await;
            r.expect_problem(422, "validation_failed");
            assert_eq!(r.bad_fields(), [field], "{q}");
        }
        app.get(&format!("/orgs/{org}/projects/{web}/tasks?overdue=maybe"), &ann).await.expect_problem(400, "bad_request");
    }

    async fn assignee_board_filters_follow_every_status_change(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "member").await;
        let (web, statuses) = app.project(org, &ann, "WEB").await;
        let (todo, doing, done) =
            (status_id(&statuses, "Todo"), status_id(&statuses, "In progress"), status_id(&statuses, "Done"));
        let t = app.task(org, web, &ann, json!({"assignee_ids": [ann.id]})).await;
        let id = t.id();
        let count = |user: String, status: String| {
            let app = &app;
            let ann = &ann;
            async move {
                let r = app.get(&format!("/orgs/{org}/projects/{web}/tasks?assignee={user}&status={status}"), ann).await;
                r.expect(200)["items"].as_array().unwrap().len()
            }
        };
        assert_eq!(count("me".into(), todo.clone()).await, 1);
        app.patch(&format!("/orgs/{org}/tasks/{id}"), &ann, json!({"status_id": doing})).await.expect(200);
        assert_eq!(count("me".into(), todo.clone()).await, 0);
        assert_eq!(count("me".into(), doing.clone()).await, 1);
        app.post(&format!("/orgs/{org}/tasks/{id}/move"), &ann, json!({"status_id": done, "version": 2})).await.expect(200);
        assert_eq!(count("me".into(), doing.clone()).await, 0);
        assert_eq!(count("me".into(), done.clone()).await, 1);
        app.delete(&format!("/orgs/{org}/projects/{web}/statuses/{done}?move_to={todo}"), &ann).await.expect(204);
        assert_eq!(count("me".into(), todo.clone()).await, 1);
        app.patch(&format!("/orgs/{org}/tasks/{id}"), &ann, json!({"assignee_ids": [bob.id]})).await.expect(200);
        assert_eq!(count("me".into(), todo.clone()).await, 0);
        assert_eq!(count(bob.id.to_string(), todo.clone()).await, 1);
        // The org-wide list narrows the same way.
        let r = app.get(&format!("/orgs/{org}/tasks?assignee={}&status={todo}", bob.id), &ann).await;
        assert_eq!(r.expect(200)["items"].as_array().unwrap().len(), 1);
    }

    async fn comments_are_edited_and_deleted_only_by_their_author(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "member").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        app.task(org, web, &ann, json!({})).await.expect(201);
        let base = format!("/orgs/{org}/tasks/WEB-1/comments");
        let c = app.post(&base, &ann, json!({"body": "Ping @bob@example.com, please **review**."})).await;
        c.expect(201);
        assert_eq!(c.body["mentions"], json!([bob.id]));
        // Mentioned members start watching.
        let w = app.get(&format!("/orgs/{org}/tasks/WEB-1/watchers"), &ann).await;
        assert!(w.expect(200).as_array().unwrap().contains(&json!(bob.id)));
        app.post(&base, &ann, json!({"body": "   "})).await.expect_problem(422, "validation_failed");
        let id = c.id();
        app.patch(&format!("{base}/{id}"), &bob, json!({"body": "hijack"})).await.expect_problem(403, "not_comment_author");
        app.delete(&format!("{base}/{id}"), &bob).await.expect_problem(403, "not_comment_author");
        let e = app.patch(&format!("{base}/{id}"), &ann, json!({"body": "Edited"})).await;
        assert_eq!(e.expect(200)["body"], "Edited");
        assert_eq!(e.body["edited"], true);
        app.post(&base, &bob, json!({"body": "Done"})).await.expect(201);
        let list = app.get(&base, &ann).await;
        let bodies: Vec<&str> = list.expect(200).as_array().unwrap().iter().map(|c| c["body"].as_str().unwrap()).collect();
        assert_eq!(bodies, ["Edited", "Done"]);
        app.delete(&format!("{base}/{id}"), &ann).await.expect(204);
        app.delete(&format!("{base}/{id}"), &ann).await.expect_problem(404, "comment_not_found");
        assert_eq!(app.outbox_count("comment.created").await, 2);
        assert_eq!(app.outbox_count("comment.edited").await, 1);
        assert_eq!(app.outbox_count("comment.deleted").await, 1);
    }

    async fn watchers_are_added_and_removed(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let gus = app.user("gus").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "member").await;
        app.add_member(org, &ann, &gus, "guest").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        app.task(org, web, &ann, json!({})).await.expect(201);
        let base = format!("/orgs/{org}/tasks/WEB-1/watchers");
        let r = app.post(&base, &bob, json!({"user_id": bob.id})).await;
        assert_eq!(r.expect(200), &json!([ann.id, bob.id]));
        app.post(&base, &ann, json!({"user_id": gus.id})).await.expect_problem(422, "validation_failed");
        app.delete(&format!("{base}/{}", ann.id), &bob).await.expect(204);
        app.delete(&format!("{base}/{}", ann.id), &bob).await.expect_problem(404, "watcher_not_found");
        assert_eq!(app.get(&base, &ann).await.expect(200), &json!([bob.id]));
    }

    async fn another_orgs_task_ids_answer_404_on_every_task_route(app: TestApp) {
        let ann = app.user("ann").await;
        let zed = app.user("zed").await;
        let mine = app.org(&ann, "Mine").await;
        let theirs = app.org(&zed, "Theirs").await;
        let (my_project, my_statuses) = app.project(mine, &ann, "WEB").await;
        let (their_project, their_statuses) = app.project(theirs, &zed, "WEB").await;
        let t = app.task(theirs, their_project, &zed, json!({})).await;
        let tid = t.id();
        let comment = app.post(&format!("/orgs/{theirs}/tasks/{tid}/comments"), &zed, json!({"body": "secret"})).await.id();
        let my_task = app.task(mine, my_project, &ann, json!({})).await.id();
        // Their task ids inside my org.
        for reference in [tid.to_string(), Uuid::now_v7().to_string()] {
            let p = format!("/orgs/{mine}/tasks/{reference}");
            app.get(&p, &ann).await.expect_problem(404, "task_not_found");
            app.patch(&p, &ann, json!({"title": "x"})).await.expect_problem(404, "task_not_found");
            app.delete(&p, &ann).await.expect_problem(404, "task_not_found");
            app.post(&format!("{p}/restore"), &ann, json!({})).await.expect_problem(404, "task_not_found");
            app.post(&format!("{p}/move"), &ann, json!({"status_id": my_statuses[0]["id"], "version": 1})).await.expect_problem(404, "task_not_found");
            app.get(&format!("{p}/comments"), &ann).await.expect_problem(404, "task_not_found");
            app.post(&format!("{p}/comments"), &ann, json!({"body": "x"})).await.expect_problem(404, "task_not_found");
            app.patch(&format!("{p}/comments/{comment}"), &ann, json!({"body": "x"})).await.expect_problem(404, "task_not_found");
            app.delete(&format!("{p}/comments/{comment}"), &ann).await.expect_problem(404, "task_not_found");
            app.get(&format!("{p}/watchers"), &ann).await.expect_problem(404, "task_not_found");
            app.post(&format!("{p}/watchers"), &ann, json!({"user_id": ann.id})).await.expect_problem(404, "task_not_found");
            app.delete(&format!("{p}/watchers/{}", zed.id), &ann).await.expect_problem(404, "task_not_found");
        }
        // Their comment id on my task; their status, user and task ids inside my requests.
        app.patch(&format!("/orgs/{mine}/tasks/{my_task}/comments/{comment}"), &ann, json!({"body": "x"})).await.expect_problem(404, "comment_not_found");
        app.delete(&format!("/orgs/{mine}/tasks/{my_task}/comments/{comment}"), &ann).await.expect_problem(404, "comment_not_found");
        let r = app.task(mine, my_project, &ann, json!({"status_id": their_statuses[0]["id"], "assignee_ids": [zed.id], "parent_id": tid})).await;
        let mut fields = r.bad_fields();
        fields.sort();
        assert_eq!(fields, ["assignee_ids", "parent_id", "status_id"]);
        // Their org's routes, as someone outside it, with their ids.
        for p in [format!("/orgs/{theirs}/tasks/{tid}"), format!("/orgs/{theirs}/tasks/WEB-1"), format!("/orgs/{theirs}/tasks/{tid}/comments")] {
            app.get(&p, &ann).await.expect_problem(404, "org_not_found");
        }
        app.get(&format!("/orgs/{theirs}/projects/{their_project}/tasks"), &ann).await.expect_problem(404, "org_not_found");
        app.task(theirs, their_project, &ann, json!({})).await.expect_problem(404, "org_not_found");
        app.get(&format!("/orgs/{theirs}/tasks"), &ann).await.expect_problem(404, "org_not_found");
        // My org, their project id.
        app.get(&format!("/orgs/{mine}/projects/{their_project}/tasks"), &ann).await.expect_problem(404, "project_not_found");
        app.task(mine, their_project, &ann, json!({})).await.expect_problem(404, "project_not_found");
        // The org-wide list never shows their tasks.
        let all = app.get(&format!("/orgs/{mine}/tasks"), &ann).await;
        assert_eq!(all.expect(200)["items"].as_array().unwrap().len(), 1);
    }

    async fn private_projects_hide_their_tasks(app: TestApp) {
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "member").await;
        let p = app.post(&format!("/orgs/{org}/projects"), &ann, json!({"key": "SEC", "name": "Secret", "visibility": "private"})).await;
        let secret = p.id();
        app.task(org, secret, &ann, json!({"title": "Hidden"})).await.expect(201);
        app.get(&format!("/orgs/{org}/tasks/SEC-1"), &bob).await.expect_problem(404, "task_not_found");
        app.get(&format!("/orgs/{org}/projects/{secret}/tasks"), &bob).await.expect_problem(404, "project_not_found");
        let all = app.get(&format!("/orgs/{org}/tasks"), &bob).await;
        assert_eq!(all.expect(200)["items"].as_array().unwrap().len(), 0);
        app.post(&format!("/orgs/{org}/projects/{secret}/members"), &ann, json!({"user_id": bob.id})).await.expect(201);
        app.get(&format!("/orgs/{org}/tasks/SEC-1"), &bob).await.expect(200);
    }

    async fn a_member_removed_while_tasks_are_assigned_to_them_is_left_on_none(app: TestApp) {
        use entities::tables::task_assignees;
        use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let org = app.org(&ann, "Acme").await;
        app.add_member(org, &ann, &bob, "member").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        let mut tasks = Vec::new();
        for i in 0..16 {
            let r = app.task(org, web, &ann, json!({"title": format!("T{i}")})).await;
            tasks.push(r.expect(201)["id"].as_str().unwrap().parse::<Uuid>().unwrap());
        }
        // Every task assigned to bob at once, and bob removed from the org in the middle of it.
        let body = json!({"assignee_ids": [bob.id, ann.id]});
        race_deletion(&app, &ann, org, &tasks, body, &format!("/orgs/{org}/members/{}", bob.id), "assignee_ids").await;
        // Whatever order things ran in, bob is on no task of an org he has left, and reads agree.
        let left_on = entities::Scope::system(org)
            .find::<task_assignees::Entity>()
            .filter(task_assignees::Column::UserId.eq(bob.id))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(left_on, 0, "assignments of a removed member");
        for task in &tasks {
            let read = app.get(&format!("/orgs/{org}/tasks/{task}"), &ann).await.expect(200).clone();
            assert!(!read["assignee_ids"].as_array().unwrap().contains(&json!(bob.id.to_string())), "task {task}");
        }
    }

    async fn link_copies_stay_true_when_a_label_is_deleted_while_tasks_are_relabelled(app: TestApp) {
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        let labels = format!("/orgs/{org}/projects/{web}/labels");
        let doomed = app.post(&labels, &ann, json!({"name": "doomed", "color": "#aa0000"})).await.id();
        let kept = app.post(&labels, &ann, json!({"name": "kept", "color": "#00aa00"})).await.id();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let r = app.task(org, web, &ann, json!({"title": format!("T{i}"), "label_ids": [doomed]})).await;
            tasks.push(r.expect(201)["id"].as_str().unwrap().parse::<Uuid>().unwrap());
        }
        // Every task relabelled at once, and the label deleted in the middle of it.
        let body = json!({"label_ids": [doomed, kept]});
        race_deletion(&app, &ann, org, &tasks, body, &format!("{labels}/{doomed}"), "label_ids").await;
        for task in tasks {
            let linked = label_links(&app, org, task).await;
            // A PATCH that checked the label before it was deleted must not have linked it afterwards.
            assert!(!linked.contains(&doomed), "task {task} carries the deleted label");
            let read = app.get(&format!("/orgs/{org}/tasks/{task}"), &ann).await.expect(200).clone();
            let shown: Vec<Uuid> = read["label_ids"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().parse().unwrap()).collect();
            assert_eq!(shown, linked, "task {task}: what reads show is what the link table holds");
        }
    }

    async fn fifty_concurrent_creates_get_fifty_gap_free_numbers(app: TestApp) {
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        let mut handles = Vec::new();
        for i in 0..50 {
            let client = app.client.clone();
            let url = app.url(&format!("/api/v1/orgs/{org}/projects/{web}/tasks"));
            let token = ann.token.clone();
            handles.push(tokio::spawn(async move {
                let r = client.post(url).bearer_auth(token).json(&json!({"title": format!("T{i}")})).send().await.unwrap();
                TestApp::read(r).await
            }));
        }
        let mut numbers = Vec::new();
        for h in handles {
            let r = h.await.unwrap();
            numbers.push(r.expect(201)["number"].as_i64().unwrap());
        }
        numbers.sort();
        assert_eq!(numbers, (1..=50).collect::<Vec<i64>>());
        assert_eq!(app.outbox_count("task.created").await, 50);
    }

    async fn a_failed_write_leaves_no_row_no_event_and_no_number_gap(app: TestApp) {
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        // Fail the last insert of the create transaction (watchers come after the task and its outbox row).
        match app.backend {
            Backend::Sqlite => app.sql("CREATE TRIGGER fail_watch BEFORE INSERT ON watchers BEGIN SELECT RAISE(ABORT, 'injected'); END").await,
            Backend::MariaDb => app.sql("CREATE TRIGGER fail_watch BEFORE INSERT ON watchers FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected'").await,
        }
        let r = app.task(org, web, &ann, json!({"title": "Doomed"})).await;
        r.expect_problem(500, "internal_error");
        assert_eq!(app.count_rows("tasks").await, 0);
        assert_eq!(app.outbox_count("task.created").await, 0);
        app.sql("DROP TRIGGER fail_watch").await;
        let ok = app.task(org, web, &ann, json!({"title": "Lives"})).await;
        assert_eq!(ok.expect(201)["number"], 1, "the rolled-back number is reused: no gap");
        assert_eq!(app.outbox_count("task.created").await, 1);
    }

    async fn idempotent_task_creates_replay(app: TestApp) {
        let ann = app.user("ann").await;
        let org = app.org(&ann, "Acme").await;
        let (web, _) = app.project(org, &ann, "WEB").await;
        let path = format!("/orgs/{org}/projects/{web}/tasks");
        let opts = || Opts { headers: vec![("idempotency-key", "task-1".to_owned())] };
        let a = app.call(Method::POST, &path, Some(&ann), Some(json!({"title": "Once"})), opts()).await;
        a.expect(201);
        let b = app.call(Method::POST, &path, Some(&ann), Some(json!({"title": "Once"})), opts()).await;
        b.expect(201);
        assert_eq!(a.body, b.body);
        assert_eq!(app.count_rows("tasks").await, 1);
        app.call(Method::POST, &path, Some(&ann), Some(json!({"title": "Twice"})), opts()).await.expect_problem(422, "validation_failed");
        assert_eq!(app.count_rows("tasks").await, 1);
    }
}
