//! `seed-bench --events N`: a year of activity for the bench org, written straight into the embedded event store's
//! tables (`activity_events`, `activity_counters`) the way the relay would leave them: every event's counters come
//! from `platform::events::counters_for`, the function the publisher uses, summed per day, project and name.
#![allow(clippy::disallowed_methods)] // bulk inserts of the bench org's rows, outside any request

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use entities::tables::{activity_counters, activity_events};
use platform::events::{counters_for, ActivityEvent};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::Rng;
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use serde_json::json;
use uuid::Uuid;

const BATCH: usize = 2000;
/// How far back the events go.
const DAYS: i64 = 365;
const CATEGORIES: [&str; 5] = ["backlog", "unstarted", "started", "completed", "cancelled"];

/// Inserts `n` events of `org_id` spread over the last year, with their counters.
pub async fn seed_events(
    db: &DatabaseConnection,
    rng: &mut StdRng,
    org_id: Uuid,
    project_ids: &[Uuid],
    user_ids: &[Uuid],
    n: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut counters: HashMap<(NaiveDate, Uuid, String), i64> = HashMap::new();
    let mut done = 0;
    while done < n {
        let size = BATCH.min(n - done);
        let mut rows = Vec::with_capacity(size);
        for _ in 0..size {
            let event = random_event(rng, org_id, project_ids, user_ids, now);
            for c in counters_for(&event) {
                *counters.entry((c.date, c.project_id.unwrap_or(Uuid::nil()), c.name)).or_default() += c.delta;
            }
            rows.push(activity_events::ActiveModel {
                id: Set(event.id),
                org_id: Set(org_id),
                occurred_at: Set(event.occurred_at),
                event_type: Set(event.event_type),
                actor_id: Set(event.actor_id),
                entity_type: Set(event.entity_type),
                entity_id: Set(event.entity_id),
                project_id: Set(event.project_id),
                task_id: Set(event.task_id),
                payload: Set(event.payload),
                expires_at: Set(event.occurred_at + Duration::days(400)),
            });
        }
        let tx = entities::begin_write(db).await?;
        activity_events::Entity::insert_many(rows).exec_without_returning(&tx).await.context("inserting events")?;
        tx.commit().await?;
        done += size;
        if done % (BATCH * 50) == 0 || done == n {
            tracing::info!(events = done, of = n, "seeding events");
        }
    }
    let rows: Vec<activity_counters::ActiveModel> = counters
        .into_iter()
        .map(|((day, project_id, name), value)| activity_counters::ActiveModel {
            org_id: Set(org_id),
            day: Set(day),
            project_id: Set(project_id),
            name: Set(name),
            value: Set(value),
        })
        .collect();
    for chunk in rows.chunks(BATCH) {
        activity_counters::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    Ok(())
}

/// One event of the mix a busy team makes: creations, edits, board moves and comments.
fn random_event(
    rng: &mut StdRng,
    org_id: Uuid,
    project_ids: &[Uuid],
    user_ids: &[Uuid],
    now: DateTime<Utc>,
) -> ActivityEvent {
    let occurred_at = now - Duration::seconds(rng.random_range(0..DAYS * 86_400));
    let id = entities::new_id();
    let task_id = entities::new_id();
    let project_id = *project_ids.choose(rng).expect("at least one project");
    let actor_id = *user_ids.choose(rng).expect("at least one user");
    let roll = rng.random_range(0..100);
    let category = |rng: &mut StdRng| *CATEGORIES.choose(rng).expect("five categories");
    let (event_type, entity_type, entity_id, payload) = match roll {
        0..25 => ("task.created", "task", task_id, json!({ "title": "Seeded task", "status_category": category(rng) })),
        25..45 => {
            let (from, to) = (category(rng), category(rng));
            let changes = json!({ "changes": { "status_category": { "from": from, "to": to } } });
            ("task.moved", "task", task_id, changes)
        }
        45..75 => ("task.updated", "task", task_id, json!({ "changes": { "title": { "from": "A", "to": "B" } } })),
        _ => ("comment.created", "comment", entities::new_id(), json!({ "task_id": task_id })),
    };
    ActivityEvent {
        id,
        org_id,
        occurred_at,
        event_type: event_type.into(),
        actor_id: Some(actor_id),
        entity_type: entity_type.into(),
        entity_id,
        project_id: Some(project_id),
        task_id: Some(task_id),
        payload,
    }
}
