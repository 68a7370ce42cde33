//! `taskforge serve --demo`: a demo org with people, projects and tasks, so a newcomer sees a working product at
//! once. Seeding is idempotent: a second `--demo` run reuses the data and only mints a fresh token.
use anyhow::Context;
use api::domain::projects::labels::{self, NewLabel};
use api::domain::projects::{self, NewProject};
use api::domain::tasks::{self, NewTask};
use api::domain::{accounts, orgs, projects::statuses};
use api::error::AppError;
use api::AppState;
use chrono::{Duration, Utc};

/// How to sign in to the demo.
pub struct DemoLogin {
    pub email: String,
    pub password: String,
    pub token: String,
}

const PASSWORD: &str = "taskforge-demo";

/// Title, status name, priority, due in days.
type DemoTask = (&'static str, &'static str, &'static str, i64);

fn err(e: AppError) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

async fn person(state: &AppState, email: &str, name: &str, tz: &str) -> anyhow::Result<entities::tables::users::Model> {
    if let Some(u) = accounts::find_by_email(&state.db, email).await.map_err(err)? {
        return Ok(u);
    }
    accounts::register(
        state,
        accounts::Registration {
            email: email.into(),
            name: name.into(),
            password: PASSWORD.into(),
            time_zone: Some(tz.into()),
            locale: Some("en".into()),
        },
    )
    .await
    .map_err(err)
}

pub async fn seed(state: &AppState) -> anyhow::Result<DemoLogin> {
    let email = "demo@taskforge.localhost".to_owned();
    let fresh = accounts::find_by_email(&state.db, &email).await.map_err(err)?.is_none();
    let owner = person(state, &email, "Dana Demo", "UTC").await?;
    if fresh {
        seed_org(state, &owner).await.context("creating the demo org")?;
    }
    let (_, token) = accounts::create_token(
        &state.db,
        owner.id,
        accounts::NewToken {
            name: "demo".into(),
            scopes: vec!["read".into(), "write".into(), "admin".into()],
            expires_in_days: Some(30),
        },
    )
    .await
    .map_err(err)?;
    Ok(DemoLogin { email, password: PASSWORD.into(), token })
}

async fn seed_org(state: &AppState, owner: &entities::tables::users::Model) -> anyhow::Result<()> {
    let db = &state.db;
    let org = orgs::create(db, owner.id, "Demo Co").await.map_err(err)?;
    let scope =
        entities::Scope::of_member(db, owner.id, org.org.id).await?.context("the creator of an org is its owner")?;
    let mut people = vec![owner.id];
    for (email, name, role, tz) in [
        ("sam@taskforge.localhost", "Sam Rivera", "admin", "Europe/Lisbon"),
        ("kim@taskforge.localhost", "Kim Okafor", "member", "Africa/Lagos"),
        ("lee@taskforge.localhost", "Lee Tanaka", "member", "Asia/Tokyo"),
    ] {
        let u = person(state, email, name, tz).await?;
        let inv = orgs::invite(db, &scope, email, role, 24, &state.secret).await.map_err(err)?;
        orgs::accept_invitation(db, &state.cache, u.id, &inv.token).await.map_err(err)?;
        people.push(u.id);
    }
    let plans: [(&str, &str, &[DemoTask]); 2] = [
        (
            "WEB",
            "Website",
            &[
                ("Redesign the pricing page", "In progress", "high", 3),
                ("Fix the broken signup link in the footer", "Todo", "urgent", -1),
                ("Add dark mode", "Backlog", "low", 30),
                ("Write the launch blog post", "Todo", "medium", 7),
                ("Set up analytics", "Done", "medium", -5),
                ("Compress hero images", "In progress", "low", 2),
            ],
        ),
        (
            "OPS",
            "Operations",
            &[
                ("Rotate database credentials", "Todo", "high", 5),
                ("Upgrade MariaDB to 11", "Backlog", "medium", 45),
                ("Document the on-call runbook", "In progress", "medium", 10),
                ("Alert on queue depth", "Done", "high", -2),
            ],
        ),
    ];
    for (key, name, plan) in plans {
        let project = projects::create(
            db,
            &scope,
            NewProject {
                key: key.into(),
                name: name.into(),
                description: Some(format!("The {name} team's work.")),
                visibility: None,
            },
        )
        .await
        .map_err(err)?;
        let bug = labels::create(db, &scope, project.id, NewLabel { name: "bug".into(), color: "#d73a4a".into() })
            .await
            .map_err(err)?;
        let feature =
            labels::create(db, &scope, project.id, NewLabel { name: "feature".into(), color: "#0e8a16".into() })
                .await
                .map_err(err)?;
        let columns = statuses::statuses_of(db, &scope, project.id).await.map_err(err)?;
        for (i, (title, status, priority, due_in_days)) in plan.iter().enumerate() {
            let status_id = columns.iter().find(|s| s.name == *status).map(|s| s.id);
            let label = if title.starts_with("Fix") { bug.id } else { feature.id };
            tasks::create(
                db,
                &scope,
                project.id,
                NewTask {
                    title: (*title).into(),
                    description: Some(format!("Part of the **{name}** plan.")),
                    status_id,
                    priority: Some((*priority).into()),
                    assignee_ids: vec![people[i % people.len()]],
                    label_ids: vec![label],
                    due_at: Some(Utc::now() + Duration::days(*due_in_days)),
                    ..Default::default()
                },
            )
            .await
            .map_err(err)?;
        }
    }
    Ok(())
}
