//! Projects, their members, statuses and labels: permissions, visibility, validation, tenant isolation and the
//! outbox events of each write.
use chrono::Utc;
use entities::tables::{comments, task_assignees, task_labels, tasks, watchers};
use reqwest::Method;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, Statement};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::*;

/// `/orgs/{org}/projects/{project}`.
fn at(org: Uuid, project: &str) -> String {
    format!("/orgs/{org}/projects/{project}")
}

/// Creates a project through the API and returns its id.
async fn project(app: &TestApp, user: &TestUser, org: Uuid, key: &str, visibility: &str) -> Uuid {
    let r = app
        .post(
            &format!("/orgs/{org}/projects"),
            user,
            json!({"key": key, "name": format!("{key} project"), "visibility": visibility}),
        )
        .await;
    r.expect(201);
    r.id()
}

/// The project's statuses as `(id, name, category, position)`, in board order.
async fn statuses(app: &TestApp, user: &TestUser, org: Uuid, project: Uuid) -> Vec<(Uuid, String, String, i64)> {
    let r = app.get(&format!("{}/statuses", at(org, &project.to_string())), user).await;
    r.expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().parse().unwrap(),
                s["name"].as_str().unwrap().to_owned(),
                s["category"].as_str().unwrap().to_owned(),
                s["position"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The id of the status called `name`.
async fn status_id(app: &TestApp, user: &TestUser, org: Uuid, project: Uuid, name: &str) -> Uuid {
    statuses(app, user, org, project).await.into_iter().find(|s| s.1 == name).map(|s| s.0).unwrap()
}

fn keys(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap().to_owned()).collect()
}

/// The payload of the latest outbox event of `event_type`.
async fn last_payload(app: &TestApp, event_type: &str) -> Value {
    let sql = format!("SELECT payload FROM outbox WHERE event_type = '{event_type}' ORDER BY id DESC");
    let row = app
        .db
        .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no {event_type} event"));
    serde_json::from_str(&row.try_get::<String>("", "payload").unwrap()).unwrap()
}

/// One integer from a query.
async fn scalar(app: &TestApp, sql: &str) -> i64 {
    let row = app.db.query_one_raw(Statement::from_string(app.db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Writes a task row directly (the tasks API is not part of this area).
async fn insert_task(app: &TestApp, org: Uuid, project: Uuid, status: Uuid, number: i64, creator: Uuid) -> Uuid {
    let now = Utc::now();
    tasks::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org),
        project_id: Set(project),
        number: Set(number),
        title: Set(format!("task {number}")),
        description: Set(String::new()),
        status_id: Set(status),
        priority: Set(0),
        due_at: Set(None),
        start_at: Set(None),
        estimate: Set(None),
        parent_id: Set(None),
        position: Set(number as f64),
        version: Set(1),
        started_at: Set(None),
        completed_at: Set(None),
        deleted_at: Set(None),
        created_by: Set(creator),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap()
    .id
}

/// A task's `(status_id, version, completed_at is set)`.
#[allow(clippy::disallowed_methods)] // the test reads back the row it wrote
async fn task_state(app: &TestApp, task: Uuid) -> (Uuid, i32, bool) {
    use sea_orm::EntityTrait;
    let t = tasks::Entity::find_by_id(task).one(&app.db).await.unwrap().unwrap();
    (t.status_id, t.version, t.completed_at.is_some())
}

/// Every project-scoped route, with a valid body, for `project`, `status`, `label` and member `user`.
fn project_routes(
    org: Uuid,
    project: Uuid,
    status: Uuid,
    label: Uuid,
    user: Uuid,
) -> Vec<(Method, String, Option<Value>)> {
    let p = at(org, &project.to_string());
    vec![
        (Method::GET, p.clone(), None),
        (Method::PATCH, p.clone(), Some(json!({"name": "Renamed"}))),
        (Method::POST, format!("{p}/archive"), None),
        (Method::POST, format!("{p}/unarchive"), None),
        (Method::GET, format!("{p}/members"), None),
        (Method::POST, format!("{p}/members"), Some(json!({"user_id": user}))),
        (Method::DELETE, format!("{p}/members/{user}"), None),
        (Method::GET, format!("{p}/statuses"), None),
        (Method::POST, format!("{p}/statuses"), Some(json!({"name": "New", "category": "started"}))),
        (Method::POST, format!("{p}/statuses/reorder"), Some(json!({"status_ids": [status]}))),
        (Method::PATCH, format!("{p}/statuses/{status}"), Some(json!({"name": "Renamed"}))),
        (Method::DELETE, format!("{p}/statuses/{status}"), None),
        (Method::GET, format!("{p}/labels"), None),
        (Method::POST, format!("{p}/labels"), Some(json!({"name": "New", "color": "#123456"}))),
        (Method::PATCH, format!("{p}/labels/{label}"), Some(json!({"name": "Renamed"}))),
        (Method::DELETE, format!("{p}/labels/{label}"), None),
        (Method::DELETE, p, None),
    ]
}

/// An org whose owner made one project with one extra label.
struct Tenant {
    owner: TestUser,
    org: Uuid,
    project: Uuid,
    status: Uuid,
    label: Uuid,
}

async fn tenant(app: &TestApp, name: &str) -> Tenant {
    let owner = app.user(name).await;
    let org = app.org(&owner, &format!("{name}'s org")).await;
    let project = project(app, &owner, org, "WEB", "org").await;
    let status = status_id(app, &owner, org, project, "Todo").await;
    let label = app
        .post(&format!("{}/labels", at(org, &project.to_string())), &owner, json!({"name": "Bug", "color": "#ff0000"}))
        .await
        .id();
    Tenant { owner, org, project, status, label }
}

both_backends! {
    async fn creating_a_project_gives_it_the_default_workflow_and_its_creator_as_member(app: TestApp) {
        let ada = app.user("ada").await;
        let org = app.org(&ada, "Acme").await;
        let r = app.post(&format!("/orgs/{org}/projects"), &ada, json!({"key": "web", "name": "Website"})).await;
        let p = r.expect(201).clone();
        assert_eq!(p["key"], "WEB", "keys are stored upper-case");
        assert_eq!(p["name"], "Website");
        assert_eq!(p["description"], "");
        assert_eq!(p["visibility"], "org");
        assert_eq!(p["archived"], false);
        assert!(p["archived_at"].is_null());
        assert_eq!(p["created_by"], ada.id.to_string());
        assert!(p["created_at"].is_string() && p["updated_at"].is_string());
        let id = r.id();
        assert_eq!(app.get(&at(org, &id.to_string()), &ada).await.expect(200)["key"], "WEB");

        let workflow: Vec<(String, String, i64)> =
            statuses(&app, &ada, org, id).await.into_iter().map(|(_, n, c, p)| (n, c, p)).collect();
        let expected = [
            ("Backlog", "backlog"), ("Todo", "unstarted"), ("In progress", "started"), ("Done", "completed"),
            ("Cancelled", "cancelled"),
        ];
        assert_eq!(workflow.len(), 5);
        for (i, (name, category)) in expected.iter().enumerate() {
            assert_eq!(workflow[i], (name.to_string(), category.to_string(), i as i64));
        }
        let members = app.get(&format!("{}/members", at(org, &id.to_string())), &ada).await;
        assert_eq!(members.expect(200).as_array().unwrap().len(), 1);
        assert_eq!(members.body[0]["id"], ada.id.to_string());
        assert_eq!(members.body[0]["email"], ada.email);
        assert_eq!(scalar(&app, "SELECT next_number FROM projects").await, 1);
        assert_eq!(app.outbox_count("project.created").await, 1);
        assert_eq!(last_payload(&app, "project.created").await["key"], "WEB");
        assert_eq!(app.count_rows("statuses").await, 5);
        assert_eq!(app.count_rows("project_members").await, 1);
        assert_eq!(app.outbox_count("status.created").await, 0, "default statuses are part of project.created");
    }

    async fn project_creation_names_bad_fields_and_refuses_a_taken_key(app: TestApp) {
        let ada = app.user("ada").await;
        let org = app.org(&ada, "Acme").await;
        let path = format!("/orgs/{org}/projects");
        let r = app.post(&path, &ada, json!({
            "key": "1X", "name": " ", "visibility": "public", "description": "x".repeat(10_001),
        })).await;
        r.expect_problem(422, "validation_failed");
        let mut fields = r.bad_fields();
        fields.sort();
        assert_eq!(fields, ["description", "key", "name", "visibility"]);
        for bad_key in ["W", "ABCDEFGHIJK", "WE-B", "W B"] {
            let r = app.post(&path, &ada, json!({"key": bad_key, "name": "X"})).await;
            r.expect_problem(422, "validation_failed");
            assert_eq!(r.bad_fields(), ["key"], "{bad_key}");
        }
        app.post(&path, &ada, json!({"name": "No key"})).await.expect_problem(400, "bad_request");

        app.post(&path, &ada, json!({"key": "OPS2", "name": "Ops", "description": "Runbooks"})).await.expect(201);
        app.post(&path, &ada, json!({"key": "ops2", "name": "Again"})).await.expect_problem(409, "project_key_taken");
        assert_eq!(app.count_rows("projects").await, 1);
        assert_eq!(app.outbox_count("project.created").await, 1);
        // Keys are unique per org, not globally.
        let bob = app.user("bob").await;
        let other = app.org(&bob, "Other").await;
        app.post(&format!("/orgs/{other}/projects"), &bob, json!({"key": "OPS2", "name": "Ops"})).await.expect(201);
    }

    async fn anonymous_callers_get_401_on_every_route(app: TestApp) {
        let t = tenant(&app, "ada").await;
        let mut routes = project_routes(t.org, t.project, t.status, t.label, t.owner.id);
        routes.push((Method::GET, format!("/orgs/{}/projects", t.org), None));
        routes.push((Method::POST, format!("/orgs/{}/projects", t.org), Some(json!({"key": "NEW", "name": "New"}))));
        for (method, path, body) in routes {
            app.anonymous(method.clone(), &path, body).await.expect_problem(401, "unauthenticated");
        }
        assert_eq!(app.count_rows("projects").await, 1);
    }

    async fn another_orgs_ids_answer_404_on_every_route(app: TestApp) {
        let a = tenant(&app, "ada").await;
        let b = tenant(&app, "bob").await;
        // Org A's routes with org B's project.
        for (method, path, body) in project_routes(a.org, b.project, b.status, b.label, a.owner.id) {
            let r = app.call(method.clone(), &path, Some(&a.owner), body, Opts::default()).await;
            assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
            r.expect_problem(404, "project_not_found");
        }
        // Org A's project with org B's status and label.
        let pa = at(a.org, &a.project.to_string());
        let routes = [
            (Method::PATCH, format!("{pa}/statuses/{}", b.status), Some(json!({"name": "X"})), "status_not_found"),
            (Method::DELETE, format!("{pa}/statuses/{}", b.status), None, "status_not_found"),
            (Method::PATCH, format!("{pa}/labels/{}", b.label), Some(json!({"name": "X"})), "label_not_found"),
            (Method::DELETE, format!("{pa}/labels/{}", b.label), None, "label_not_found"),
        ];
        for (method, path, body, code) in routes {
            app.call(method, &path, Some(&a.owner), body, Opts::default()).await.expect_problem(404, code);
        }
        // Org B's status as a move target, org B's user as a member: not part of org A.
        let done = status_id(&app, &a.owner, a.org, a.project, "Done").await;
        let r = app.delete(&format!("{pa}/statuses/{done}?move_to={}", b.status), &a.owner).await;
        assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["field"], "move_to");
        let r = app.post(&format!("{pa}/members"), &a.owner, json!({"user_id": b.owner.id})).await;
        assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["field"], "user_id");
        app.delete(&format!("{pa}/members/{}", b.owner.id), &a.owner).await
            .expect_problem(404, "project_member_not_found");
        app.post(&format!("{pa}/statuses/reorder"), &a.owner, json!({"status_ids": [b.status]})).await
            .expect_problem(422, "validation_failed");
        // Org B's own routes, called by someone outside org B.
        let mut routes = project_routes(b.org, b.project, b.status, b.label, a.owner.id);
        routes.push((Method::GET, format!("/orgs/{}/projects", b.org), None));
        routes.push((Method::POST, format!("/orgs/{}/projects", b.org), Some(json!({"key": "NEW", "name": "New"}))));
        for (method, path, body) in routes {
            app.call(method, &path, Some(&a.owner), body, Opts::default()).await.expect_problem(404, "org_not_found");
        }
        // Nothing of org B changed.
        let pb = app.get(&at(b.org, &b.project.to_string()), &b.owner).await;
        assert_eq!(pb.expect(200)["name"], "WEB project");
        assert_eq!(statuses(&app, &b.owner, b.org, b.project).await.len(), 5);
        let labels = app.get(&format!("{}/labels", at(b.org, &b.project.to_string())), &b.owner).await;
        assert_eq!(labels.expect(200)[0]["name"], "Bug");
    }

    async fn guests_see_only_projects_they_were_added_to_and_change_nothing(app: TestApp) {
        let t = tenant(&app, "ada").await;
        let gus = app.user("gus").await;
        app.add_member(t.org, &t.owner, &gus, "guest").await;
        let p = at(t.org, &t.project.to_string());
        app.get(&p, &gus).await.expect_problem(404, "project_not_found");
        assert!(app.get(&format!("/orgs/{}/projects", t.org), &gus).await.expect(200).as_array().unwrap().is_empty());
        app.post(&format!("{p}/members"), &t.owner, json!({"user_id": gus.id})).await.expect(201);
        app.get(&p, &gus).await.expect(200);
        assert_eq!(keys(app.get(&format!("/orgs/{}/projects", t.org), &gus).await.expect(200)), ["WEB"]);
        for read in ["members", "statuses", "labels"] {
            app.get(&format!("{p}/{read}"), &gus).await.expect(200);
        }
        let events_before = app.count_rows("outbox").await;
        for (method, path, body) in project_routes(t.org, t.project, t.status, t.label, gus.id) {
            if method == Method::GET {
                continue;
            }
            app.call(method, &path, Some(&gus), body, Opts::default()).await.expect_problem(403, "insufficient_role");
        }
        app.post(&format!("/orgs/{}/projects", t.org), &gus, json!({"key": "GUS", "name": "Mine"})).await
            .expect_problem(403, "insufficient_role");
        assert_eq!(app.count_rows("outbox").await, events_before);
    }

    async fn members_manage_projects_they_see_but_only_owners_and_admins_delete_them(app: TestApp) {
        let t = tenant(&app, "ada").await;
        let mia = app.user("mia").await;
        let adam = app.user("adam").await;
        app.add_member(t.org, &t.owner, &mia, "member").await;
        app.add_member(t.org, &t.owner, &adam, "admin").await;
        let p = at(t.org, &t.project.to_string());
        assert_eq!(app.patch(&p, &mia, json!({"name": "Site"})).await.expect(200)["name"], "Site");
        app.post(&format!("{p}/statuses"), &mia, json!({"name": "Review", "category": "started"})).await.expect(201);
        app.post(&format!("{p}/labels"), &mia, json!({"name": "Docs", "color": "#00ff00"})).await.expect(201);
        app.post(&format!("{p}/members"), &mia, json!({"user_id": adam.id})).await.expect(201);
        app.post(&format!("{p}/archive"), &mia, json!({})).await.expect(200);
        app.post(&format!("{p}/unarchive"), &mia, json!({})).await.expect(200);
        // Members create projects too, but only owners and admins delete them.
        let own = project(&app, &mia, t.org, "MIA", "org").await;
        app.delete(&at(t.org, &own.to_string()), &mia).await.expect_problem(403, "insufficient_role");
        app.delete(&p, &mia).await.expect_problem(403, "insufficient_role");
        app.delete(&at(t.org, &own.to_string()), &adam).await.expect(204);
        app.get(&at(t.org, &own.to_string()), &mia).await.expect_problem(404, "project_not_found");
    }

    async fn private_projects_stay_hidden_from_members_until_they_are_added(app: TestApp) {
        let ada = app.user("ada").await;
        let mia = app.user("mia").await;
        let adam = app.user("adam").await;
        let org = app.org(&ada, "Acme").await;
        app.add_member(org, &ada, &mia, "member").await;
        app.add_member(org, &ada, &adam, "admin").await;
        let secret = project(&app, &ada, org, "SEC", "private").await;
        project(&app, &ada, org, "PUB", "org").await;
        let list = format!("/orgs/{org}/projects");
        let p = at(org, &secret.to_string());
        assert_eq!(keys(app.get(&list, &mia).await.expect(200)), ["PUB"]);
        app.get(&p, &mia).await.expect_problem(404, "project_not_found");
        app.get(&format!("{p}/statuses"), &mia).await.expect_problem(404, "project_not_found");
        app.patch(&p, &mia, json!({"name": "Mine now"})).await.expect_problem(404, "project_not_found");
        app.post(&format!("{p}/labels"), &mia, json!({"name": "X", "color": "#000000"})).await
            .expect_problem(404, "project_not_found");
        // Admins see every project without being members.
        assert_eq!(keys(app.get(&list, &adam).await.expect(200)), ["PUB", "SEC"]);

        app.post(&format!("{p}/members"), &ada, json!({"user_id": mia.id})).await.expect(201);
        assert_eq!(keys(app.get(&list, &mia).await.expect(200)), ["PUB", "SEC"]);
        assert_eq!(app.get(&p, &mia).await.expect(200)["visibility"], "private");
        app.delete(&format!("{p}/members/{}", mia.id), &ada).await.expect(204);
        app.get(&p, &mia).await.expect_problem(404, "project_not_found");

        // Opening the project up shows it to every member; the creator of a private project sees it.
        app.patch(&p, &ada, json!({"visibility": "org"})).await.expect(200);
        app.get(&p, &mia).await.expect(200);
        let mine = project(&app, &mia, org, "MIA", "private").await;
        app.get(&at(org, &mine.to_string()), &mia).await.expect(200);
        assert_eq!(keys(app.get(&list, &mia).await.expect(200)), ["MIA", "PUB", "SEC"]);
    }

    async fn a_project_task_list_follows_its_visibility_and_deletion_at_once(app: TestApp) {
        // The list keeps each project's key and visibility in the read cache: every change must show on the next
        // page, not after the entry's lifetime.
        let ada = app.user("ada").await;
        let mia = app.user("mia").await;
        let org = app.org(&ada, "Acme").await;
        app.add_member(org, &ada, &mia, "member").await;
        let project_id = project(&app, &ada, org, "WEB", "org").await;
        let p = at(org, &project_id.to_string());
        let tasks = format!("{p}/tasks");
        app.post(&tasks, &ada, json!({"title": "Ship it"})).await.expect(201);
        let listed = |page: &Value| -> Vec<String> {
            page["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(listed(app.get(&tasks, &mia).await.expect(200)), ["WEB-1"]);

        app.patch(&p, &ada, json!({"visibility": "private"})).await.expect(200);
        app.get(&tasks, &mia).await.expect_problem(404, "project_not_found");
        assert_eq!(listed(app.get(&tasks, &ada).await.expect(200)), ["WEB-1"], "its creator is a member");
        app.post(&format!("{p}/members"), &ada, json!({"user_id": mia.id})).await.expect(201);
        assert_eq!(listed(app.get(&tasks, &mia).await.expect(200)), ["WEB-1"]);
        app.delete(&format!("{p}/members/{}", mia.id), &ada).await.expect(204);
        app.get(&tasks, &mia).await.expect_problem(404, "project_not_found");
        app.patch(&p, &ada, json!({"visibility": "org"})).await.expect(200);
        assert_eq!(listed(app.get(&tasks, &mia).await.expect(200)), ["WEB-1"]);

        app.delete(&p, &ada).await.expect(204);
        app.get(&tasks, &ada).await.expect_problem(404, "project_not_found");
        app.get(&tasks, &mia).await.expect_problem(404, "project_not_found");
    }

    async fn project_updates_merge_and_record_only_what_changed(app: TestApp) {
        let t = tenant(&app, "ada").await;
        let p = at(t.org, &t.project.to_string());
        let before = app.get(&p, &t.owner).await.expect(200).clone();
        let r = app.patch(&p, &t.owner, json!({"description": "The public site"})).await;
        assert_eq!(r.expect(200)["description"], "The public site");
        assert_eq!(r.body["name"], "WEB project");
        assert_eq!(r.body["visibility"], "org");
        assert_eq!(r.body["key"], "WEB");
        assert_ne!(r.body["updated_at"], before["updated_at"]);
        assert_eq!(
            last_payload(&app, "project.updated").await,
            json!({"changes": {"description": {"from": "", "to": "The public site"}}})
        );
        // The same values again change nothing and record nothing.
        app.patch(&p, &t.owner, json!({"description": "The public site", "name": "WEB project"})).await.expect(200);
        assert_eq!(app.outbox_count("project.updated").await, 1);
        let body = json!({"name": "Website", "visibility": "private", "description": "The public site"});
        let r = app.patch(&p, &t.owner, body).await;
        assert_eq!(r.expect(200)["visibility"], "private");
        assert_eq!(
            last_payload(&app, "project.updated").await["changes"],
            json!({"name": {"from": "WEB project", "to": "Website"}, "visibility": {"from": "org", "to": "private"}})
        );
        assert_eq!(app.outbox_count("project.updated").await, 2);
        let r = app.patch(&p, &t.owner, json!({"name": "", "visibility": "secret"})).await;
        r.expect_problem(422, "validation_failed");
        assert_eq!(r.bad_fields(), ["name", "visibility"]);
        assert_eq!(app.get(&p, &t.owner).await.expect(200)["name"], "Website");
    }

    async fn archived_projects_stay_readable_but_refuse_changes(app: TestApp) {
        let t = tenant(&app, "ada").await;
        project(&app, &t.owner, t.org, "OPS", "org").await;
        let p = at(t.org, &t.project.to_string());
        let r = app.post(&format!("{p}/archive"), &t.owner, json!({})).await;
        assert_eq!(r.expect(200)["archived"], true);
        assert!(r.body["archived_at"].is_string());
        app.post(&format!("{p}/archive"), &t.owner, json!({})).await.expect(200);
        assert_eq!(app.outbox_count("project.archived").await, 1, "archiving twice records one event");

        let list = format!("/orgs/{}/projects", t.org);
        assert_eq!(keys(app.get(&list, &t.owner).await.expect(200)), ["OPS"]);
        assert_eq!(keys(app.get(&format!("{list}?archived=false"), &t.owner).await.expect(200)), ["OPS"]);
        assert_eq!(keys(app.get(&format!("{list}?archived=true"), &t.owner).await.expect(200)), ["WEB"]);
        assert_eq!(keys(app.get(&format!("{list}?archived=all"), &t.owner).await.expect(200)), ["OPS", "WEB"]);
        let r = app.get(&format!("{list}?archived=maybe"), &t.owner).await;
        r.expect_problem(422, "validation_failed");
        assert_eq!(r.bad_fields(), ["archived"]);

        app.get(&p, &t.owner).await.expect(200);
        assert_eq!(statuses(&app, &t.owner, t.org, t.project).await.len(), 5);
        app.get(&format!("{p}/labels"), &t.owner).await.expect(200);
        let ids: Vec<Uuid> = statuses(&app, &t.owner, t.org, t.project).await.into_iter().map(|s| s.0).collect();
        let writes = [
            (Method::PATCH, p.clone(), json!({"name": "Renamed"})),
            (Method::POST, format!("{p}/statuses"), json!({"name": "New", "category": "started"})),
            (Method::PATCH, format!("{p}/statuses/{}", t.status), json!({"name": "Renamed"})),
            (Method::POST, format!("{p}/statuses/reorder"), json!({"status_ids": ids})),
            (Method::POST, format!("{p}/labels"), json!({"name": "New", "color": "#123456"})),
            (Method::PATCH, format!("{p}/labels/{}", t.label), json!({"color": "#654321"})),
        ];
        for (method, path, body) in writes {
            let r = app.call(method, &path, Some(&t.owner), Some(body), Opts::default()).await;
            r.expect_problem(409, "project_archived");
        }
        app.delete(&format!("{p}/statuses/{}", t.status), &t.owner).await.expect_problem(409, "project_archived");
        app.delete(&format!("{p}/labels/{}", t.label), &t.owner).await.expect_problem(409, "project_archived");

        let r = app.post(&format!("{p}/unarchive"), &t.owner, json!({})).await;
        assert_eq!(r.expect(200)["archived"], false);
        assert!(r.body["archived_at"].is_null());
        assert_eq!(app.outbox_count("project.unarchived").await, 1);
        app.post(&format!("{p}/statuses"), &t.owner, json!({"name": "New", "category": "started"})).await.expect(201);
    }

    async fn deleting_a_project_removes_its_tasks_statuses_labels_and_members(app: TestApp) {
        let t = tenant(&app, "ada").await;
        let keep = project(&app, &t.owner, t.org, "KEEP", "org").await;
        let keep_status = status_id(&app, &t.owner, t.org, keep, "Todo").await;
        let kept_task = insert_task(&app, t.org, keep, keep_status, 1, t.owner.id).await;
        let now = Utc::now();
        for n in 1..=2 {
            let task = insert_task(&app, t.org, t.project, t.status, n, t.owner.id).await;
            task_assignees::ActiveModel {
                task_id: Set(task), user_id: Set(t.owner.id), org_id: Set(t.org),
                project_id: Set(Some(t.project)), status_id: Set(Some(t.status)),
            }
                .insert(&app.db).await.unwrap();
            task_labels::ActiveModel { task_id: Set(task), label_id: Set(t.label), org_id: Set(t.org) }
                .insert(&app.db).await.unwrap();
            watchers::ActiveModel {
                task_id: Set(task), user_id: Set(t.owner.id), org_id: Set(t.org), created_at: Set(now),
            }
            .insert(&app.db).await.unwrap();
            comments::ActiveModel {
                id: Set(Uuid::now_v7()), org_id: Set(t.org), task_id: Set(task), author_id: Set(t.owner.id),
                body: Set("hi".into()), created_at: Set(now), updated_at: Set(now),
            }
            .insert(&app.db).await.unwrap();
        }
        // A task of the kept project with its own satellites.
        watchers::ActiveModel {
            task_id: Set(kept_task), user_id: Set(t.owner.id), org_id: Set(t.org), created_at: Set(now),
        }
        .insert(&app.db).await.unwrap();
        comments::ActiveModel {
            id: Set(Uuid::now_v7()), org_id: Set(t.org), task_id: Set(kept_task), author_id: Set(t.owner.id),
            body: Set("stays".into()), created_at: Set(now), updated_at: Set(now),
        }
        .insert(&app.db).await.unwrap();

        let p = at(t.org, &t.project.to_string());
        app.delete(&p, &t.owner).await.expect(204);
        app.get(&p, &t.owner).await.expect_problem(404, "project_not_found");
        app.delete(&p, &t.owner).await.expect_problem(404, "project_not_found");
        assert_eq!(app.count_rows("projects").await, 1);
        assert_eq!(app.count_rows("tasks").await, 1);
        assert_eq!(app.count_rows("task_assignees").await, 0);
        assert_eq!(app.count_rows("task_labels").await, 0);
        assert_eq!(app.count_rows("watchers").await, 1);
        assert_eq!(app.count_rows("comments").await, 1);
        assert_eq!(app.count_rows("labels").await, 0);
        assert_eq!(app.count_rows("statuses").await, 5);
        assert_eq!(app.count_rows("project_members").await, 1);
        assert_eq!(app.outbox_count("project.deleted").await, 1);
        assert_eq!(last_payload(&app, "project.deleted").await, json!({"key": "WEB", "name": "WEB project"}));
        assert_eq!(task_state(&app, kept_task).await.0, keep_status);
    }

    async fn statuses_are_added_renamed_and_reordered_with_case_insensitive_names(app: TestApp) {
        let t = tenant(&app, "ada").await;
        let path = format!("{}/statuses", at(t.org, &t.project.to_string()));
        let r = app.post(&path, &t.owner, json!({"name": "Review", "category": "started"})).await;
        assert_eq!(r.expect(201)["position"], 5);
        assert_eq!(r.body["category"], "started");
        let review = r.id();
        let r = app.post(&path, &t.owner, json!({"name": "Triage", "category": "backlog", "position": 0})).await;
        assert_eq!(r.expect(201)["position"], 0);
        let r = app.post(&path, &t.owner, json!({"name": "Icebox", "category": "backlog", "position": 99})).await;
        assert_eq!(r.expect(201)["position"], 7, "a position past the end appends");
        let names: Vec<String> = statuses(&app, &t.owner, t.org, t.project).await.into_iter().map(|s| s.1).collect();
        assert_eq!(names, ["Triage", "Backlog", "Todo", "In progress", "Done", "Cancelled", "Review", "Icebox"]);
        let positions: Vec<i64> = statuses(&app, &t.owner, t.org, t.project).await.into_iter().map(|s| s.3).collect();
        assert_eq!(positions, (0..8).collect::<Vec<_>>());

        app.post(&path, &t.owner, json!({"name": "todo", "category": "unstarted"})).await
            .expect_problem(409, "status_name_taken");
        let r = app.post(&path, &t.owner, json!({"name": " ", "category": "doing", "position": -1})).await;
        r.expect_problem(422, "validation_failed");
        assert_eq!(r.bad_fields(), ["name", "category", "position"]);
        let r = app.post(&path, &t.owner, json!({"name": "x".repeat(101), "category": "started"})).await;
        assert_eq!(r.bad_fields(), ["name"]);

        let r = app.patch(&format!("{path}/{review}"), &t.owner, json!({"name": "Code review"})).await;
        assert_eq!(r.expect(200)["name"], "Code review");
        assert_eq!(r.body["category"], "started");
        app.patch(&format!("{path}/{review}"), &t.owner, json!({"name": "CODE REVIEW"})).await.expect(200);
        app.patch(&format!("{path}/{review}"), &t.owner, json!({"name": "done"})).await
            .expect_problem(409, "status_name_taken");
        let r = app.patch(&format!("{path}/{review}"), &t.owner, json!({"category": "finished"})).await;
        assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["field"], "category");
        let r = app.patch(&format!("{path}/{review}"), &t.owner, json!({"category": "completed"})).await;
        assert_eq!(r.expect(200)["category"], "completed");
        assert_eq!(
            last_payload(&app, "status.updated").await["changes"],
            json!({"category": {"from": "started", "to": "completed"}})
        );
        app.patch(&format!("{path}/{}", Uuid::now_v7()), &t.owner, json!({"name": "X"})).await
            .expect_problem(404, "status_not_found");

        let mut ids: Vec<Uuid> = statuses(&app, &t.owner, t.org, t.project).await.into_iter().map(|s| s.0).collect();
        ids.reverse();
        let r = app.post(&format!("{path}/reorder"), &t.owner, json!({"status_ids": ids})).await;
        let got: Vec<Uuid> =
            r.expect(200).as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().parse().unwrap()).collect();
        assert_eq!(got, ids);
        let listed = statuses(&app, &t.owner, t.org, t.project).await;
        assert_eq!(listed.iter().map(|s| s.0).collect::<Vec<_>>(), ids);
        assert_eq!(listed.iter().map(|s| s.3).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
        let missing_one = ids[1..].to_vec();
        let with_a_repeat = [ids.clone(), vec![ids[0]]].concat();
        let with_a_stranger = [ids[1..].to_vec(), vec![Uuid::now_v7()]].concat();
        for bad in [missing_one, with_a_repeat, with_a_stranger, vec![]] {
            let r = app.post(&format!("{path}/reorder"), &t.owner, json!({"status_ids": bad})).await;
            r.expect_problem(422, "validation_failed");
            assert_eq!(r.bad_fields(), ["status_ids"]);
        }
        assert_eq!(app.outbox_count("status.created").await, 3);
        assert_eq!(app.outbox_count("status.updated").await, 3);
        assert_eq!(app.outbox_count("project.statuses_reordered").await, 1);
    }

    async fn deleting_a_status_in_use_moves_its_tasks_and_never_the_last_status(app: TestApp) {
        let t = tenant(&app, "ada").await;
        let path = format!("{}/statuses", at(t.org, &t.project.to_string()));
        let todo = t.status;
        let done = status_id(&app, &t.owner, t.org, t.project, "Done").await;
        let first = insert_task(&app, t.org, t.project, todo, 1, t.owner.id).await;
        let second = insert_task(&app, t.org, t.project, todo, 2, t.owner.id).await;
        let untouched = insert_task(&app, t.org, t.project, done, 3, t.owner.id).await;

        app.delete(&format!("{path}/{todo}"), &t.owner).await.expect_problem(409, "status_in_use");
        let r = app.delete(&format!("{path}/{todo}?move_to={todo}"), &t.owner).await;
        assert_eq!(r.expect_problem(422, "validation_failed")["errors"][0]["field"], "move_to");
        app.delete(&format!("{path}/{}?move_to={done}", Uuid::now_v7()), &t.owner).await
            .expect_problem(404, "status_not_found");
        assert_eq!(app.outbox_count("status.deleted").await, 0);

        app.delete(&format!("{path}/{todo}?move_to={done}"), &t.owner).await.expect(204);
        for task in [first, second] {
            assert_eq!(task_state(&app, task).await, (done, 2, true), "moved, version bumped, completed");
        }
        assert_eq!(task_state(&app, untouched).await, (done, 1, false));
        let left = statuses(&app, &t.owner, t.org, t.project).await;
        let names: Vec<&str> = left.iter().map(|s| s.1.as_str()).collect();
        assert_eq!(names, ["Backlog", "In progress", "Done", "Cancelled"]);
        assert_eq!(left.iter().map(|s| s.3).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(app.outbox_count("status.deleted").await, 1);
        let payload = last_payload(&app, "status.deleted").await;
        assert_eq!(payload["moved_to"], done.to_string());
        assert_eq!(payload["moved_tasks"], 2);

        // Moving tasks out of a completed status clears their completion.
        let backlog = left[0].0;
        app.delete(&format!("{path}/{done}?move_to={backlog}"), &t.owner).await.expect(204);
        assert_eq!(task_state(&app, first).await, (backlog, 3, false));
        // Unused statuses go without a target, down to the last one, which stays.
        app.delete(&format!("{path}/{}", left[1].0), &t.owner).await.expect(204);
        app.delete(&format!("{path}/{}", left[3].0), &t.owner).await.expect(204);
        app.delete(&format!("{path}/{backlog}"), &t.owner).await.expect_problem(409, "last_status");
        assert_eq!(statuses(&app, &t.owner, t.org, t.project).await.len(), 1);
    }

    async fn labels_are_unique_by_name_and_leave_tasks_when_deleted(app: TestApp) {
        let t = tenant(&app, "ada").await;
        let path = format!("{}/labels", at(t.org, &t.project.to_string()));
        let r = app.post(&path, &t.owner, json!({"name": "api", "color": "#00AAFF"})).await;
        assert_eq!(r.expect(201)["color"], "#00aaff");
        let api = r.id();
        app.post(&path, &t.owner, json!({"name": "zeta", "color": "#000000"})).await.expect(201);
        app.post(&path, &t.owner, json!({"name": "BUG", "color": "#000000"})).await
            .expect_problem(409, "label_name_taken");
        let r = app.post(&path, &t.owner, json!({"name": "", "color": "red"})).await;
        r.expect_problem(422, "validation_failed");
        assert_eq!(r.bad_fields(), ["name", "color"]);
        let r = app.post(&path, &t.owner, json!({"name": "x".repeat(101), "color": "#123456"})).await;
        assert_eq!(r.bad_fields(), ["name"]);
        app.post(&path, &t.owner, json!({"name": "x".repeat(100), "color": "#123456"})).await.expect(201);
        let names: Vec<String> = app.get(&path, &t.owner).await.expect(200).as_array().unwrap().iter()
            .map(|l| l["name"].as_str().unwrap().chars().take(4).collect()).collect();
        assert_eq!(names, ["api", "Bug", "xxxx", "zeta"]);

        let r = app.patch(&format!("{path}/{api}"), &t.owner, json!({"color": "#abcdef"})).await;
        assert_eq!(r.expect(200)["color"], "#abcdef");
        assert_eq!(r.body["name"], "api");
        let changes = last_payload(&app, "label.updated").await["changes"].clone();
        assert_eq!(changes, json!({"color": {"from": "#00aaff", "to": "#abcdef"}}));
        app.patch(&format!("{path}/{api}"), &t.owner, json!({"name": "Zeta"})).await
            .expect_problem(409, "label_name_taken");
        let r = app.patch(&format!("{path}/{api}"), &t.owner, json!({"name": "API"})).await;
        assert_eq!(r.expect(200)["name"], "API");
        let r = app.patch(&format!("{path}/{api}"), &t.owner, json!({"color": "#abc"})).await;
        assert_eq!(r.bad_fields(), ["color"]);
        app.patch(&format!("{path}/{}", Uuid::now_v7()), &t.owner, json!({"name": "X"})).await
            .expect_problem(404, "label_not_found");

        let task = insert_task(&app, t.org, t.project, t.status, 1, t.owner.id).await;
        for label in [t.label, api] {
            task_labels::ActiveModel { task_id: Set(task), label_id: Set(label), org_id: Set(t.org) }
                .insert(&app.db).await.unwrap();
        }
        app.delete(&format!("{path}/{}", t.label), &t.owner).await.expect(204);
        app.delete(&format!("{path}/{}", t.label), &t.owner).await.expect_problem(404, "label_not_found");
        assert_eq!(app.count_rows("task_labels").await, 1, "only the deleted label left the task");
        assert_eq!(app.count_rows("labels").await, 3);
        assert_eq!(app.outbox_count("label.deleted").await, 1);
    }

    async fn project_members_come_from_the_org_and_are_added_once(app: TestApp) {
        let t = tenant(&app, "ada").await;
        let mia = app.user("mia").await;
        let stranger = app.user("stranger").await;
        app.add_member(t.org, &t.owner, &mia, "member").await;
        let path = format!("{}/members", at(t.org, &t.project.to_string()));
        let r = app.post(&path, &t.owner, json!({"user_id": mia.id})).await;
        assert_eq!(r.expect(201)["id"], mia.id.to_string());
        assert_eq!(r.body["name"], "mia");
        app.post(&path, &t.owner, json!({"user_id": mia.id})).await.expect_problem(409, "already_project_member");
        for outsider in [stranger.id, Uuid::now_v7()] {
            let r = app.post(&path, &t.owner, json!({"user_id": outsider})).await;
            r.expect_problem(422, "validation_failed");
            assert_eq!(r.bad_fields(), ["user_id"]);
        }
        app.post(&path, &t.owner, json!({"user_id": "not-a-uuid"})).await.expect_problem(400, "bad_request");
        let ids: Vec<String> = app.get(&path, &t.owner).await.expect(200).as_array().unwrap().iter()
            .map(|u| u["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids, [t.owner.id.to_string(), mia.id.to_string()]);
        app.delete(&format!("{path}/{}", mia.id), &t.owner).await.expect(204);
        app.delete(&format!("{path}/{}", mia.id), &t.owner).await.expect_problem(404, "project_member_not_found");
        assert_eq!(app.outbox_count("project.member_added").await, 1);
        assert_eq!(app.outbox_count("project.member_removed").await, 1);
        assert_eq!(last_payload(&app, "project.member_removed").await, json!({"user_id": mia.id}));
    }

    async fn each_write_records_exactly_one_event_of_its_type(app: TestApp) {
        let ada = app.user("ada").await;
        let mia = app.user("mia").await;
        let org = app.org(&ada, "Acme").await;
        app.add_member(org, &ada, &mia, "member").await;
        let id = project(&app, &ada, org, "WEB", "org").await;
        let p = at(org, &id.to_string());
        app.patch(&p, &ada, json!({"name": "Website"})).await.expect(200);
        app.post(&format!("{p}/archive"), &ada, json!({})).await.expect(200);
        app.post(&format!("{p}/unarchive"), &ada, json!({})).await.expect(200);
        app.post(&format!("{p}/members"), &ada, json!({"user_id": mia.id})).await.expect(201);
        app.delete(&format!("{p}/members/{}", mia.id), &ada).await.expect(204);
        let status = app.post(&format!("{p}/statuses"), &ada, json!({"name": "Review", "category": "started"})).await;
        let status = status.id();
        app.patch(&format!("{p}/statuses/{status}"), &ada, json!({"name": "QA"})).await.expect(200);
        let mut ids: Vec<Uuid> = statuses(&app, &ada, org, id).await.into_iter().map(|s| s.0).collect();
        ids.rotate_left(1);
        app.post(&format!("{p}/statuses/reorder"), &ada, json!({"status_ids": ids})).await.expect(200);
        app.delete(&format!("{p}/statuses/{status}"), &ada).await.expect(204);
        let label = app.post(&format!("{p}/labels"), &ada, json!({"name": "Bug", "color": "#ff0000"})).await.id();
        app.patch(&format!("{p}/labels/{label}"), &ada, json!({"name": "Defect"})).await.expect(200);
        app.delete(&format!("{p}/labels/{label}"), &ada).await.expect(204);
        app.delete(&p, &ada).await.expect(204);
        let events = [
            "project.created", "project.updated", "project.archived", "project.unarchived", "project.member_added",
            "project.member_removed", "status.created", "status.updated", "project.statuses_reordered",
            "status.deleted", "label.created", "label.updated", "label.deleted", "project.deleted",
        ];
        for event in events {
            assert_eq!(app.outbox_count(event).await, 1, "{event}");
        }
        let sql = "SELECT COUNT(*) FROM outbox WHERE entity_type IN ('project', 'status', 'label')";
        assert_eq!(scalar(&app, sql).await, events.len() as i64, "no other events");
    }
}

// Multi-threaded like `both_backends!`: dropping a `TestApp` blocks this thread while another one closes the pool,
// and on a current-thread runtime that close can wait forever for a connection the blocked runtime still owes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_token_lists_projects_and_deleting_one_needs_the_admin_scope() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let t = tenant(&app, "ada").await;
    let login = app
        .anonymous(Method::POST, "/auth/login", Some(json!({"email": t.owner.email, "password": t.owner.password})))
        .await;
    let cookie = session_cookie(&login);
    let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();
    let mint = |scopes: Value| {
        let req = app
            .client
            .post(app.url("/api/v1/me/tokens"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({"name": "scoped", "scopes": scopes}));
        async move { TestApp::read(req.send().await.unwrap()).await.body["secret"].as_str().unwrap().to_owned() }
    };
    let reader = TestUser { token: mint(json!(["read"])).await, ..t.owner.clone() };
    let writer = TestUser { token: mint(json!(["read", "write"])).await, ..t.owner.clone() };
    assert_eq!(keys(app.get(&format!("/orgs/{}/projects", t.org), &reader).await.expect(200)), ["WEB"]);
    let p = at(t.org, &t.project.to_string());
    app.patch(&p, &reader, json!({"name": "X"})).await.expect_problem(403, "insufficient_scope");
    app.patch(&p, &writer, json!({"name": "X"})).await.expect(200);
    app.delete(&p, &writer).await.expect_problem(403, "insufficient_scope");
    app.delete(&p, &t.owner).await.expect(204);
}
