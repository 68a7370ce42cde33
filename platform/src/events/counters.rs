//! Which daily counters an event moves. A pure function of the event, so both adapters (and a replay) count alike.
//!
//! Task completion is read from `status_category` (`{"from": …, "to": …}` under `changes` of `task.updated` and
//! `task.moved`, a plain category on `task.created`): the outbox row names statuses by id only, and the category is
//! added by the one who records the event while it can still read the statuses (the workers' activity sink).
use serde_json::Value;

use super::{ActivityEvent, CounterDelta};

/// The counter names.
pub mod names {
    pub const TASKS_CREATED: &str = "tasks_created";
    /// Tasks that entered a status of the `completed` category.
    pub const TASKS_COMPLETED: &str = "tasks_completed";
    /// Tasks that left `completed` or `cancelled` for an open status.
    pub const TASKS_REOPENED: &str = "tasks_reopened";
    pub const COMMENTS_ADDED: &str = "comments_added";
    pub const ATTACHMENTS_ADDED: &str = "attachments_added";
}

const COMPLETED: &str = "completed";

fn is_done(category: &str) -> bool {
    category == COMPLETED || category == "cancelled"
}

/// The counters `event` increments on its UTC day: each once for its project (when it has one) and once for the
/// org total.
pub fn counters_for(event: &ActivityEvent) -> Vec<CounterDelta> {
    let mut counted: Vec<&str> = Vec::new();
    let p = &event.payload;
    match event.event_type.as_str() {
        "task.created" => {
            counted.push(names::TASKS_CREATED);
            if p.get("status_category").and_then(Value::as_str) == Some(COMPLETED) {
                counted.push(names::TASKS_COMPLETED);
            }
        }
        "task.updated" | "task.moved" => {
            let change = &p["changes"]["status_category"];
            if let (Some(from), Some(to)) = (change["from"].as_str(), change["to"].as_str()) {
                if to == COMPLETED && from != COMPLETED {
                    counted.push(names::TASKS_COMPLETED);
                }
                if is_done(from) && !is_done(to) {
                    counted.push(names::TASKS_REOPENED);
                }
            }
        }
        "comment.created" => counted.push(names::COMMENTS_ADDED),
        "attachment.added" => counted.push(names::ATTACHMENTS_ADDED),
        _ => {}
    }
    let date = event.occurred_at.date_naive();
    let scopes: Vec<Option<uuid::Uuid>> = match event.project_id {
        Some(p) => vec![Some(p), None],
        None => vec![None],
    };
    counted
        .into_iter()
        .flat_map(|name| {
            scopes.iter().map(move |&project_id| CounterDelta { date, project_id, name: name.to_owned(), delta: 1 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, Utc};
    use serde_json::json;
    use uuid::Uuid;

    fn event(event_type: &str, project_id: Option<Uuid>, payload: Value) -> ActivityEvent {
        ActivityEvent {
            id: Uuid::now_v7(),
            org_id: Uuid::now_v7(),
            occurred_at: "2026-11-25T23:59:59.999999Z".parse::<chrono::DateTime<Utc>>().unwrap(),
            event_type: event_type.into(),
            actor_id: None,
            entity_type: "task".into(),
            entity_id: Uuid::now_v7(),
            project_id,
            task_id: None,
            payload,
        }
    }

    fn names_of(deltas: &[CounterDelta]) -> Vec<(Option<Uuid>, &str)> {
        deltas.iter().map(|d| (d.project_id, d.name.as_str())).collect()
    }

    #[test]
    fn each_counter_is_bumped_for_the_project_and_the_org() {
        let p = Uuid::now_v7();
        let d = counters_for(&event("comment.created", Some(p), json!({})));
        assert_eq!(names_of(&d), vec![(Some(p), "comments_added"), (None, "comments_added")]);
        assert!(d.iter().all(|d| d.delta == 1 && d.date == NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()));
        let d = counters_for(&event("attachment.added", None, json!({})));
        assert_eq!(names_of(&d), vec![(None, "attachments_added")]);
        assert!(counters_for(&event("org.renamed", None, json!({}))).is_empty());
    }

    #[test]
    fn completion_and_reopening_follow_the_status_category() {
        let moved = |from: &str, to: &str| {
            let payload = json!({ "changes": { "status_category": { "from": from, "to": to } } });
            let d = counters_for(&event("task.moved", None, payload));
            d.into_iter().map(|d| d.name).collect::<Vec<_>>()
        };
        assert_eq!(moved("started", "completed"), vec!["tasks_completed"]);
        assert_eq!(moved("cancelled", "completed"), vec!["tasks_completed"]);
        assert_eq!(moved("completed", "started"), vec!["tasks_reopened"]);
        assert_eq!(moved("cancelled", "backlog"), vec!["tasks_reopened"]);
        assert!(moved("started", "cancelled").is_empty());
        assert!(moved("backlog", "started").is_empty());
        let plain_update = counters_for(&event("task.updated", None, json!({ "changes": { "title": {} } })));
        assert!(plain_update.is_empty());
        let done_at_once = counters_for(&event("task.created", None, json!({ "status_category": "completed" })));
        assert_eq!(names_of(&done_at_once), vec![(None, "tasks_created"), (None, "tasks_completed")]);
    }
}
