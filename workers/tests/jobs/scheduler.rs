//! The scheduler tick: due reminders become notifications exactly once and the 08:00 digests are claimed once per
//! user and local day, even with two schedulers ticking at the same moment. Ticks take their time from the job, so
//! nothing here depends on the wall clock's time of day.
#![allow(clippy::disallowed_methods)] // the test builds and inspects rows across orgs

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entities::tables::{jobs, memberships, notifications, orgs, projects, reminders, task_assignees, tasks, users};
use platform::jobs::{Envelope, Job};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;
use workers::Scheduler;

use crate::common::TestDb;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn user(t: &TestDb, time_zone: &str) -> Uuid {
    let id = entities::new_id();
    let now = entities::now();
    users::ActiveModel {
        id: Set(id),
        email: Set(format!("{}@example.com", id.simple())),
        name: Set("Someone".into()),
        password_hash: Set("x".into()),
        time_zone: Set(time_zone.into()),
        locale: Set("en".into()),
        email_verified_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&t.db)
    .await
    .unwrap();
    id
}

/// An org with an org-wide project `WEB`, and these users as members.
struct Org {
    id: Uuid,
    project: Uuid,
    owner: Uuid,
}

async fn org(t: &TestDb, members: &[(Uuid, &str)]) -> Org {
    let now = entities::now();
    let id = entities::new_id();
    orgs::ActiveModel {
        id: Set(id),
        name: Set("Acme".into()),
        max_attachment_bytes: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&t.db)
    .await
    .unwrap();
    for (user_id, role) in members {
        memberships::ActiveModel {
            id: Set(entities::new_id()),
            org_id: Set(id),
            user_id: Set(*user_id),
            role: Set((*role).into()),
            created_at: Set(now),
        }
        .insert(&t.db)
        .await
        .unwrap();
    }
    let project = entities::new_id();
    projects::ActiveModel {
        id: Set(project),
        org_id: Set(id),
        key: Set("WEB".into()),
        name: Set("Web".into()),
        description: Set(String::new()),
        visibility: Set("org".into()),
        next_number: Set(1000),
        archived_at: Set(None),
        created_by: Set(members[0].0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&t.db)
    .await
    .unwrap();
    Org { id, project, owner: members[0].0 }
}

async fn task(t: &TestDb, o: &Org, number: i64, assignees: &[Uuid]) -> Uuid {
    let now = entities::now();
    let id = entities::new_id();
    let status_id = entities::new_id();
    tasks::ActiveModel {
        id: Set(id),
        org_id: Set(o.id),
        project_id: Set(o.project),
        number: Set(number),
        title: Set(format!("Task {number}")),
        description: Set(String::new()),
        status_id: Set(status_id),
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
        created_by: Set(o.owner),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&t.db)
    .await
    .unwrap();
    for user_id in assignees {
        task_assignees::ActiveModel {
            task_id: Set(id),
            user_id: Set(*user_id),
            org_id: Set(o.id),
            project_id: Set(Some(o.project)),
            status_id: Set(Some(status_id)),
        }
        .insert(&t.db)
        .await
        .unwrap();
    }
    id
}

async fn reminder(t: &TestDb, o: &Org, task_id: Uuid, fire_at: DateTime<Utc>, recipients: Option<Vec<Uuid>>) -> Uuid {
    let now = entities::now();
    let id = entities::new_id();
    reminders::ActiveModel {
        id: Set(id),
        org_id: Set(o.id),
        task_id: Set(task_id),
        created_by: Set(o.owner),
        remind_at: Set(Some(entities::far_date(fire_at))),
        offset_minutes: Set(None),
        recipients: Set(recipients.map(|r| serde_json::json!(r))),
        note: Set(Some("Check the build".into())),
        fire_at: Set(Some(entities::far_date(fire_at))),
        fired_at: Set(None),
        claim_token: Set(None),
        claimed_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&t.db)
    .await
    .unwrap();
    id
}

/// The queued jobs, decoded.
async fn queued(t: &TestDb) -> Vec<Job> {
    jobs::Entity::find().all(&t.db).await.unwrap().iter().map(|j| Envelope::decode(&j.body).unwrap().job).collect()
}

fn scheduler(t: &TestDb) -> Scheduler {
    Scheduler::with_clock(t.db.clone(), t.port(), t.clock.clone())
}

both_backends! {
    async fn two_schedulers_ticking_at_once_fire_each_reminder_exactly_once(t: TestDb) {
        let (ann, bob, cat, out) = (user(&t, "UTC").await, user(&t, "UTC").await, user(&t, "UTC").await, user(&t, "UTC").await);
        let o = org(&t, &[(ann, "owner"), (bob, "member"), (cat, "guest")]).await;
        let now = at("2026-11-25T07:00:00Z");
        let mut due = Vec::new();
        for n in 0..10 {
            let task_id = task(&t, &o, n + 1, &[bob]).await;
            // Half go to the assignees, half to listed people: a guest without access to the project and a user
            // outside the org are dropped at firing time.
            let recipients = (n % 2 == 0).then(|| vec![ann, bob, cat, out]);
            due.push(reminder(&t, &o, task_id, now - Duration::minutes(n), recipients).await);
        }
        let later_task = task(&t, &o, 99, &[bob]).await;
        let later = reminder(&t, &o, later_task, now + Duration::minutes(5), None).await;

        let (a, b) = (scheduler(&t), scheduler(&t));
        for _ in 0..3 {
            let (ra, rb) = tokio::join!(a.tick(now), b.tick(now));
            let (ra, rb) = (ra.expect("tick a"), rb.expect("tick b"));
            assert!(ra.reminders_fired + rb.reminders_fired <= 10);
        }
        let rows = notifications::Entity::find().all(&t.db).await.unwrap();
        let mut per_reminder: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for n in &rows {
            assert_eq!(n.kind, "reminder");
            assert_eq!(n.email_state, "pending");
            assert_eq!(n.org_id, Some(o.id));
            assert!(n.title.starts_with("Reminder: WEB-"), "{}", n.title);
            assert!(n.url.starts_with(&format!("/orgs/{}/tasks/WEB-", o.id)), "{}", n.url);
            assert_eq!(n.body, "Check the build");
            let id: Uuid = n.dedupe_key.split(':').nth(1).unwrap().parse().unwrap();
            per_reminder.entry(id).or_default().push(n.user_id);
        }
        assert_eq!(per_reminder.len(), 10, "every due reminder fired, the later one did not");
        for (i, id) in due.iter().enumerate() {
            let mut got = per_reminder[id].clone();
            got.sort();
            let mut want = if i % 2 == 0 { vec![ann, bob] } else { vec![bob] };
            want.sort();
            assert_eq!(got, want, "reminder {i}: one notification per visible recipient");
        }
        // One Notify job per notification, no more.
        let mut notified: Vec<Uuid> = queued(&t).await.into_iter().filter_map(|j| match j {
            Job::Notify { notification_id } => Some(notification_id),
            _ => None,
        }).collect();
        notified.sort();
        let mut ids: Vec<Uuid> = rows.iter().map(|n| n.id).collect();
        ids.sort();
        assert_eq!(notified, ids);
        let fired = reminders::Entity::find().filter(reminders::Column::FiredAt.is_not_null()).all(&t.db).await.unwrap();
        assert_eq!(fired.len(), 10);
        assert!(fired.iter().all(|r| r.claim_token.is_none() && r.claimed_until.is_none()));

        // Its time comes: the later one fires on the next tick, once.
        let (ra, rb) = tokio::join!(a.tick(now + Duration::minutes(5)), b.tick(now + Duration::minutes(5)));
        assert_eq!(ra.unwrap().reminders_fired + rb.unwrap().reminders_fired, 1);
        let for_later = notifications::Entity::find()
            .filter(notifications::Column::DedupeKey.starts_with(format!("reminder:{later}:")))
            .all(&t.db)
            .await
            .unwrap();
        assert_eq!(for_later.len(), 1);
        assert_eq!(for_later[0].user_id, bob);
    }

    async fn a_reminder_whose_delivery_died_is_delivered_again_after_its_lease_without_duplicates(t: TestDb) {
        let ann = user(&t, "UTC").await;
        let o = org(&t, &[(ann, "owner")]).await;
        let now = at("2026-11-25T07:00:00Z");
        let task_id = task(&t, &o, 1, &[ann]).await;
        let id = reminder(&t, &o, task_id, now, None).await;
        let s = scheduler(&t);
        assert_eq!(s.tick(now).await.unwrap().reminders_fired, 1);
        // A run that wrote the notification but died before marking the reminder fired, still holding a lease.
        reminders::Entity::update_many()
            .col_expr(reminders::Column::FiredAt, sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(reminders::Column::ClaimToken, sea_orm::sea_query::Expr::value(entities::new_id()))
            .col_expr(reminders::Column::ClaimedUntil, sea_orm::sea_query::Expr::value(t.clock.now() + Duration::seconds(60)))
            .filter(reminders::Column::Id.eq(id))
            .exec(&t.db)
            .await
            .unwrap();
        assert_eq!(s.tick(now).await.unwrap().reminders_fired, 0, "the lease keeps other runs away");
        t.clock.advance(std::time::Duration::from_secs(61));
        s.tick(now).await.unwrap();
        let rows = notifications::Entity::find().all(&t.db).await.unwrap();
        assert_eq!(rows.len(), 1, "the second delivery found the first one's notification");
        let fired = reminders::Entity::find_by_id(id).one(&t.db).await.unwrap().unwrap();
        assert!(fired.fired_at.is_some() && fired.claim_token.is_none());
        let notifies = queued(&t).await.into_iter().filter(|j| matches!(j, Job::Notify { .. })).count();
        assert_eq!(notifies, 2, "the notification's job is enqueued again; Notify is idempotent per row");
    }

    async fn digests_are_claimed_once_per_user_and_local_day_in_their_time_zone(t: TestDb) {
        let tokyo = user(&t, "Asia/Tokyo").await;
        let paris = user(&t, "Europe/Paris").await;
        let new_york = user(&t, "America/New_York").await;
        let nowhere = user(&t, "Mars/Olympus_Mons").await;
        // Paris has a notification waiting for the digest; nobody else does.
        notifications::ActiveModel {
            id: Set(entities::new_id()),
            org_id: Set(None),
            user_id: Set(paris),
            kind: Set("mentioned".into()),
            actor_id: Set(None),
            entity_type: Set(None),
            entity_id: Set(None),
            title: Set("x".into()),
            body: Set(String::new()),
            data: Set(serde_json::json!({})),
            url: Set("/".into()),
            dedupe_key: Set("test:digest".into()),
            email_state: Set("digest".into()),
            read_at: Set(None),
            emailed_at: Set(None),
            created_at: Set(entities::now()),
        }
        .insert(&t.db)
        .await
        .unwrap();
        let (a, b) = (scheduler(&t), scheduler(&t));
        let digests = |jobs: Vec<Job>| {
            let mut v: Vec<(&'static str, Uuid, NaiveDate)> = jobs.into_iter().filter_map(|j| match j {
                Job::OverdueDigest { user_id, local_date } => Some(("overdue", user_id, local_date)),
                Job::NotificationDigest { user_id, local_date } => Some(("notifications", user_id, local_date)),
                _ => None,
            }).collect();
            v.sort();
            v
        };
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let mut expected = Vec::new();

        // 06:30 UTC on the 25th: 15:30 in Tokyo, 07:30 in Paris, 01:30 in New York, 06:30 "UTC" for the unknown zone.
        let (ra, rb) = tokio::join!(a.tick(at("2026-11-25T06:30:00Z")), b.tick(at("2026-11-25T06:30:00Z")));
        assert_eq!(ra.unwrap().digests_enqueued + rb.unwrap().digests_enqueued, 1);
        expected.push(("overdue", tokyo, day(25)));
        expected.sort();
        assert_eq!(digests(queued(&t).await), expected);

        // 08:00 UTC: Paris (09:00) and the unknown zone (08:00 UTC) are due; Tokyo already ran today.
        for _ in 0..2 {
            let (ra, rb) = tokio::join!(a.tick(at("2026-11-25T08:00:00Z")), b.tick(at("2026-11-25T08:00:00Z")));
            ra.unwrap();
            rb.unwrap();
        }
        expected.extend([("overdue", paris, day(25)), ("notifications", paris, day(25)), ("overdue", nowhere, day(25))]);
        expected.sort();
        assert_eq!(digests(queued(&t).await), expected);

        // 23:30 UTC: New York's morning of the 25th has come (18:30), and Tokyo's 26th (08:30).
        let (ra, rb) = tokio::join!(a.tick(at("2026-11-25T23:30:00Z")), b.tick(at("2026-11-25T23:30:00Z")));
        assert_eq!(ra.unwrap().digests_enqueued + rb.unwrap().digests_enqueued, 2);
        expected.extend([("overdue", new_york, day(25)), ("overdue", tokyo, day(26))]);
        expected.sort();
        assert_eq!(digests(queued(&t).await), expected);
        // Nothing more that day, however often the scheduler ticks.
        a.tick(at("2026-11-25T23:59:00Z")).await.unwrap();
        assert_eq!(digests(queued(&t).await), expected);
    }

    async fn a_stale_tick_is_acknowledged_without_running(t: TestDb) {
        use workers::Handler;
        let ann = user(&t, "UTC").await;
        let o = org(&t, &[(ann, "owner")]).await;
        let task_id = task(&t, &o, 1, &[ann]).await;
        let stale = t.clock.now() - Duration::minutes(10);
        reminder(&t, &o, task_id, stale - Duration::minutes(1), None).await;
        let s = scheduler(&t);
        s.handle(Envelope::new(Job::SchedulerTick { at: stale }, None)).await.unwrap();
        assert!(notifications::Entity::find().all(&t.db).await.unwrap().is_empty());
        s.handle(Envelope::new(Job::SchedulerTick { at: t.clock.now() }, None)).await.unwrap();
        assert_eq!(notifications::Entity::find().all(&t.db).await.unwrap().len(), 1);
    }

    async fn ticks_purge_activity_events_past_their_retention_and_keep_the_counters(t: TestDb) {
        use platform::events::{counters_for, ActivityEvent, DbEventStore, EventStore, Feed, FeedQuery};
        let store: std::sync::Arc<dyn EventStore> = std::sync::Arc::new(DbEventStore::new(t.db.clone(), Duration::days(1)));
        let now = t.clock.now();
        let org_id = Uuid::now_v7();
        let event = |occurred_at: DateTime<Utc>| ActivityEvent {
            id: Uuid::now_v7(),
            org_id,
            occurred_at,
            event_type: "task.created".into(),
            actor_id: None,
            entity_type: "task".into(),
            entity_id: Uuid::now_v7(),
            project_id: Some(Uuid::now_v7()),
            task_id: None,
            payload: serde_json::json!({}),
        };
        let (old, fresh) = (event(now - Duration::days(3)), event(now - Duration::hours(1)));
        for e in [&old, &fresh] {
            store.record(e, &counters_for(e)).await.unwrap();
        }
        let s = scheduler(&t).with_event_store(store.clone());
        assert_eq!(s.tick(now).await.unwrap().events_purged, 1);
        let page = store.feed(org_id, &FeedQuery::new(Feed::Org, 50)).await.unwrap();
        assert_eq!(page.events.iter().map(|e| e.id).collect::<Vec<_>>(), [fresh.id], "only the expired event went");
        let days = store.counters(org_id, None, (now - Duration::days(4)).date_naive(), now.date_naive()).await.unwrap();
        assert_eq!(days.iter().filter(|c| c.name == "tasks_created").map(|c| c.value).sum::<i64>(), 2, "counters stay");
        assert_eq!(s.tick(now).await.unwrap().events_purged, 0, "nothing left to purge");
    }
}
