//! What every event store does, whichever adapter: feeds newest first and paged without gaps or repeats, the
//! project, task and user feeds, the filters, the expiry of raw events, idempotent recording and daily counters.
use chrono::{Duration, NaiveDate};
use platform::events::{
    counter_names, counters_for, ActivityEvent, CounterDelta, DailyCounter, EventStoreError, Feed, FeedQuery, Recorded,
};
use serde_json::json;
use uuid::Uuid;

use crate::harness::{t0, EventBuilder, TestStore, TTL_DAYS};

/// Every page of `query` from the first, checking each holds at most `limit` events.
async fn all_pages(t: &TestStore, org: Uuid, mut query: FeedQuery) -> Vec<ActivityEvent> {
    let mut events = Vec::new();
    for _ in 0..1000 {
        let page = t.store.feed(org, &query).await.expect("reading a feed page");
        assert!(page.events.len() <= query.limit as usize, "a page holds at most `limit` events");
        events.extend(page.events);
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return events,
        }
    }
    panic!("the feed did not end after 1000 pages");
}

/// `events` in feed order: newest first, ties by id, newest first.
fn newest_first(mut events: Vec<ActivityEvent>) -> Vec<Uuid> {
    events.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.id)));
    events.into_iter().map(|e| e.id).collect()
}

fn ids(events: &[ActivityEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

/// An org with two projects, three tasks and two users, and 24 events recorded out of order, several sharing a
/// timestamp; plus an event of another org at the same times.
struct Timeline {
    org: Uuid,
    projects: [Uuid; 2],
    tasks: [Uuid; 3],
    users: [Uuid; 2],
    events: Vec<ActivityEvent>,
}

impl Timeline {
    async fn record(t: &TestStore) -> Timeline {
        let org = Uuid::now_v7();
        let projects = [Uuid::now_v7(), Uuid::now_v7()];
        let tasks = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
        let users = [Uuid::now_v7(), Uuid::now_v7()];
        let mut events = Vec::new();
        for i in 0..24i64 {
            // Two events per second for part of the range: the id orders them.
            let seconds = if i < 8 { i / 2 } else { i };
            let task = tasks[(i % 3) as usize];
            let mut b = EventBuilder::new(org, seconds)
                .kind(["task.updated", "comment.created", "task.moved"][(i % 3) as usize])
                .by(users[(i % 2) as usize]);
            if i % 4 != 3 {
                // Every fourth event is org-wide (no project, no task).
                b = b.in_project(projects[(task == tasks[2]) as usize]).on_task(task);
            }
            events.push(b.build());
        }
        // Recorded in a scrambled order: the feed orders by time, not by arrival.
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|i| (i * 7) % events.len());
        for i in order {
            t.record_new(&events[i]).await;
        }
        let stranger = EventBuilder::new(Uuid::now_v7(), 3).in_project(projects[0]).on_task(tasks[0]).by(users[0]);
        t.record_new(&stranger.build()).await;
        Timeline { org, projects, tasks, users, events }
    }

    fn matching(&self, keep: impl Fn(&ActivityEvent) -> bool) -> Vec<Uuid> {
        newest_first(self.events.iter().filter(|e| keep(e)).cloned().collect())
    }
}

every_store! {
    async fn the_org_feed_is_newest_first_and_its_pages_cover_every_event_once(t: TestStore) {
        let tl = Timeline::record(&t).await;
        let first = t.store.feed(tl.org, &FeedQuery::new(Feed::Org, 5)).await.unwrap();
        assert_eq!(ids(&first.events), tl.matching(|_| true)[..5].to_vec());
        assert!(first.next_cursor.is_some());
        for limit in [1, 7, 24, 200] {
            let all = all_pages(&t, tl.org, FeedQuery::new(Feed::Org, limit)).await;
            assert_eq!(ids(&all), tl.matching(|_| true), "limit {limit}: every event once, newest first");
        }
        let one_page = t.store.feed(tl.org, &FeedQuery::new(Feed::Org, 24)).await.unwrap();
        assert_eq!(one_page.events.len(), 24);
        assert_eq!(one_page.next_cursor, None, "a page that reaches the end has no cursor");
        assert_eq!(one_page.events, {
            let mut e = tl.events.clone();
            e.sort_by_key(|e| std::cmp::Reverse((e.occurred_at, e.id)));
            e
        }, "events come back as recorded");
        let empty = t.store.feed(Uuid::now_v7(), &FeedQuery::new(Feed::Org, 10)).await.unwrap();
        assert_eq!((empty.events.len(), empty.next_cursor), (0, None), "an org without events has an empty feed");
    }

    async fn project_task_and_user_feeds_hold_exactly_their_events(t: TestStore) {
        let tl = Timeline::record(&t).await;
        for project in tl.projects {
            let got = all_pages(&t, tl.org, FeedQuery::new(Feed::Project(project), 3)).await;
            assert_eq!(ids(&got), tl.matching(|e| e.project_id == Some(project)), "project feed");
        }
        for task in tl.tasks {
            let got = all_pages(&t, tl.org, FeedQuery::new(Feed::Task(task), 2)).await;
            assert_eq!(ids(&got), tl.matching(|e| e.task_id == Some(task)), "task feed");
        }
        for user in tl.users {
            let got = all_pages(&t, tl.org, FeedQuery::new(Feed::User(user), 4)).await;
            assert_eq!(ids(&got), tl.matching(|e| e.actor_id == Some(user)), "user feed");
        }
        assert!(tl.matching(|e| e.project_id == Some(tl.projects[0])).len() > 3, "the project feed spans pages");
        let other_org = all_pages(&t, Uuid::now_v7(), FeedQuery::new(Feed::Project(tl.projects[0]), 10)).await;
        assert!(other_org.is_empty(), "a project id does not open another org's events");
    }

    async fn type_actor_and_time_filters_narrow_every_feed(t: TestStore) {
        let tl = Timeline::record(&t).await;
        let mut q = FeedQuery::new(Feed::Org, 2);
        q.event_types = vec!["comment.created".into(), "task.moved".into()];
        let got = all_pages(&t, tl.org, q.clone()).await;
        assert_eq!(ids(&got), tl.matching(|e| e.event_type != "task.updated"));

        q.actor_id = Some(tl.users[1]);
        let got = all_pages(&t, tl.org, q.clone()).await;
        assert_eq!(ids(&got), tl.matching(|e| e.event_type != "task.updated" && e.actor_id == Some(tl.users[1])));

        let (since, until) = (t0() + Duration::seconds(2), t0() + Duration::seconds(12));
        let mut q = FeedQuery::new(Feed::Org, 3);
        q.since = Some(since);
        q.until = Some(until);
        let got = all_pages(&t, tl.org, q.clone()).await;
        let in_range = |e: &ActivityEvent| e.occurred_at >= since && e.occurred_at < until;
        assert_eq!(ids(&got), tl.matching(in_range), "since is included, until is not");
        assert!(got.iter().any(|e| e.occurred_at == since), "an event at `since` is in");

        let mut q = FeedQuery::new(Feed::Task(tl.tasks[0]), 1);
        q.since = Some(since);
        q.event_types = vec!["task.updated".into()];
        q.actor_id = Some(tl.users[0]);
        let got = all_pages(&t, tl.org, q).await;
        let want = tl.matching(|e| {
            e.task_id == Some(tl.tasks[0])
                && e.occurred_at >= since
                && e.event_type == "task.updated"
                && e.actor_id == Some(tl.users[0])
        });
        assert!(!want.is_empty(), "the combined filter matches something");
        assert_eq!(ids(&got), want, "filters combine on a GSI feed");

        let mut q = FeedQuery::new(Feed::Project(tl.projects[1]), 5);
        q.event_types = vec!["no.such_event".into()];
        assert!(all_pages(&t, tl.org, q).await.is_empty());
    }

    async fn raw_events_carry_their_expiry(t: TestStore) {
        let event = EventBuilder::new(Uuid::now_v7(), 0).kind("task.created").build();
        t.record_new(&event).await;
        let expected = event.occurred_at + Duration::days(TTL_DAYS);
        let stored = t.stored_expiry(&event).await;
        // DynamoDB's TTL attribute counts whole seconds.
        assert!((stored - expected).num_seconds().abs() < 1, "expires {stored}, expected {expected}");
    }

    async fn a_replayed_event_changes_nothing_counters_included(t: TestStore) {
        let org = Uuid::now_v7();
        let project = Uuid::now_v7();
        let event = EventBuilder::new(org, 0).kind("comment.created").in_project(project).by(Uuid::now_v7()).build();
        let deltas = counters_for(&event);
        assert_eq!(deltas.len(), 2, "the project's and the org's comments_added");
        assert_eq!(t.store.record(&event, &deltas).await.unwrap(), Recorded::Inserted);
        let day = t0().date_naive();
        let before = t.store.counters(org, Some(project), day, day).await.unwrap();
        assert_eq!(before, vec![DailyCounter { date: day, project_id: Some(project), name: "comments_added".into(), value: 1 }]);
        for _ in 0..3 {
            assert_eq!(t.store.record(&event, &deltas).await.unwrap(), Recorded::AlreadyRecorded);
        }
        // A replay carrying other counters (a newer version of the rules) changes nothing either.
        let other = [CounterDelta { date: day, project_id: None, name: "tasks_created".into(), delta: 5 }];
        assert_eq!(t.store.record(&event, &other).await.unwrap(), Recorded::AlreadyRecorded);
        assert_eq!(t.store.counters(org, Some(project), day, day).await.unwrap(), before);
        let totals = t.store.counters(org, None, day, day).await.unwrap();
        assert_eq!(totals, vec![DailyCounter { date: day, project_id: None, name: "comments_added".into(), value: 1 }]);
        let feed = t.store.feed(org, &FeedQuery::new(Feed::Org, 10)).await.unwrap();
        assert_eq!(ids(&feed.events), vec![event.id], "one event in the log");
    }

    async fn counters_are_summed_per_day_and_project(t: TestStore) {
        let org = Uuid::now_v7();
        let (web, api) = (Uuid::now_v7(), Uuid::now_v7());
        let day1 = t0().date_naive();
        let day2 = day1 + Duration::days(1);
        let completed = json!({ "changes": { "status_category": { "from": "started", "to": "completed" } } });
        let reopened = json!({ "changes": { "status_category": { "from": "completed", "to": "unstarted" } } });
        let mut events = vec![
            EventBuilder::new(org, 0).kind("task.created").in_project(web),
            EventBuilder::new(org, 10).kind("task.created").in_project(web),
            EventBuilder::new(org, 20).kind("task.created").in_project(api),
            EventBuilder::new(org, 30).kind("task.moved").in_project(web).payload(completed.clone()),
            EventBuilder::new(org, 40).kind("comment.created").in_project(web),
            EventBuilder::new(org, 50).kind("attachment.added").in_project(api),
            EventBuilder::new(org, 60).kind("org.renamed"),
            // The next day (t0 is 09:00, so +15 h is past midnight UTC).
            EventBuilder::new(org, 15 * 3600).kind("task.updated").in_project(web).payload(reopened),
            EventBuilder::new(org, 15 * 3600 + 1).kind("task.updated").in_project(web).payload(completed),
            EventBuilder::new(org, 15 * 3600 + 2).kind("task.created").in_project(api),
        ];
        // Another org on the same days.
        events.push(EventBuilder::new(Uuid::now_v7(), 5).kind("task.created").in_project(web));
        for e in events.drain(..) {
            t.record_new(&e.build()).await;
        }
        let c = |date: NaiveDate, project_id: Option<Uuid>, name: &str, value: i64| DailyCounter {
            date,
            project_id,
            name: name.into(),
            value,
        };
        use counter_names::*;
        assert_eq!(
            t.store.counters(org, Some(web), day1, day2).await.unwrap(),
            vec![
                c(day1, Some(web), COMMENTS_ADDED, 1),
                c(day1, Some(web), "flow_in_completed", 1),
                c(day1, Some(web), "flow_out_started", 1),
                c(day1, Some(web), TASKS_COMPLETED, 1),
                c(day1, Some(web), TASKS_CREATED, 2),
                // Reopened (completed → unstarted), then completed again (started → completed).
                c(day2, Some(web), "flow_in_completed", 1),
                c(day2, Some(web), "flow_in_unstarted", 1),
                c(day2, Some(web), "flow_out_completed", 1),
                c(day2, Some(web), "flow_out_started", 1),
                c(day2, Some(web), TASKS_COMPLETED, 1),
                c(day2, Some(web), TASKS_REOPENED, 1),
            ]
        );
        assert_eq!(
            t.store.counters(org, Some(api), day1, day2).await.unwrap(),
            vec![c(day1, Some(api), ATTACHMENTS_ADDED, 1), c(day1, Some(api), TASKS_CREATED, 1), c(day2, Some(api), TASKS_CREATED, 1)]
        );
        assert_eq!(
            t.store.counters(org, None, day1, day1).await.unwrap(),
            vec![
                c(day1, None, ATTACHMENTS_ADDED, 1),
                c(day1, None, COMMENTS_ADDED, 1),
                c(day1, None, "flow_in_completed", 1),
                c(day1, None, "flow_out_started", 1),
                c(day1, None, TASKS_COMPLETED, 1),
                c(day1, None, TASKS_CREATED, 3),
            ],
            "the org totals of one day; the other org's event is not in them"
        );
        assert!(t.store.counters(org, None, day2 + Duration::days(1), day2 + Duration::days(30)).await.unwrap().is_empty());
        assert!(matches!(t.store.counters(org, None, day2, day1).await, Err(EventStoreError::InvalidQuery(_))));
    }

    async fn a_bad_cursor_is_refused(t: TestStore) {
        let org = Uuid::now_v7();
        t.record_new(&EventBuilder::new(org, 0).build()).await;
        for bad in ["not a cursor", "djE6MTox", ""] {
            let mut q = FeedQuery::new(Feed::Org, 10);
            q.cursor = Some(bad.into());
            assert!(matches!(t.store.feed(org, &q).await, Err(EventStoreError::BadCursor)), "{bad:?}");
        }
        assert!(matches!(t.store.feed(org, &FeedQuery::new(Feed::Org, 0)).await, Err(EventStoreError::InvalidQuery(_))));
    }
}
