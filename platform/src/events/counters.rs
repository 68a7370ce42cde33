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
    /// Tasks that entered a status of the category (`flow_in_started`): created there, moved or restored into it.
    pub const FLOW_IN: &str = "flow_in_";
    /// Tasks that left a status of the category: moved out or deleted.
    pub const FLOW_OUT: &str = "flow_out_";
    /// The status categories the flow counters are kept for.
    pub const CATEGORIES: [&str; 5] = ["backlog", "unstarted", "started", "completed", "cancelled"];

    /// `flow_in_<category>` or `flow_out_<category>`; `None` for a category that is not one of [`CATEGORIES`].
    pub fn flow(prefix: &str, category: &str) -> Option<String> {
        CATEGORIES.contains(&category).then(|| format!("{prefix}{category}"))
    }
}

const COMPLETED: &str = "completed";

fn is_done(category: &str) -> bool {
    category == COMPLETED || category == "cancelled"
}

/// The counters `event` increments on its UTC day: each once for its project (when it has one) and once for the
/// org total.
pub fn counters_for(event: &ActivityEvent) -> Vec<CounterDelta> {
    let mut counted: Vec<String> = Vec::new();
    let p = &event.payload;
    let category = p.get("status_category").and_then(Value::as_str);
    let mut flow = |prefix: &str, category: &str| counted_flow(&mut counted, prefix, category);
    match event.event_type.as_str() {
        "task.created" => {
            if let Some(category) = category {
                flow(names::FLOW_IN, category);
            }
            counted.push(names::TASKS_CREATED.into());
            if category == Some(COMPLETED) {
                counted.push(names::TASKS_COMPLETED.into());
            }
        }
        "task.updated" | "task.moved" => {
            let change = &p["changes"]["status_category"];
            if let (Some(from), Some(to)) = (change["from"].as_str(), change["to"].as_str()) {
                if from != to {
                    flow(names::FLOW_OUT, from);
                    flow(names::FLOW_IN, to);
                }
                if to == COMPLETED && from != COMPLETED {
                    counted.push(names::TASKS_COMPLETED.into());
                }
                if is_done(from) && !is_done(to) {
                    counted.push(names::TASKS_REOPENED.into());
                }
            }
        }
        "task.deleted" => {
            if let Some(category) = category {
                flow(names::FLOW_OUT, category);
            }
        }
        "task.restored" => {
            if let Some(category) = category {
                flow(names::FLOW_IN, category);
            }
        }
        "comment.created" => counted.push(names::COMMENTS_ADDED.into()),
        "attachment.added" => counted.push(names::ATTACHMENTS_ADDED.into()),
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
            scopes.iter().map(move |&project_id| CounterDelta { date, project_id, name: name.clone(), delta: 1 })
        })
        .collect()
}

fn counted_flow(counted: &mut Vec<String>, prefix: &str, category: &str) {
    if let Some(name) = names::flow(prefix, category) {
        counted.push(name);
    }
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
            d.into_iter().map(|d| d.name).filter(|n| !n.starts_with("flow_")).collect::<Vec<_>>()
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
        assert_eq!(
            names_of(&done_at_once),
            vec![(None, "flow_in_completed"), (None, "tasks_created"), (None, "tasks_completed")]
        );
    }

    #[test]
    fn the_cumulative_flow_counts_each_task_in_and_out_of_its_category() {
        let flows = |event_type: &str, payload: Value| {
            let d = counters_for(&event(event_type, None, payload));
            d.into_iter().map(|d| d.name).filter(|n| n.starts_with("flow_")).collect::<Vec<_>>()
        };
        assert_eq!(flows("task.created", json!({ "status_category": "backlog" })), vec!["flow_in_backlog"]);
        let moved = json!({ "changes": { "status_category": { "from": "unstarted", "to": "started" } } });
        assert_eq!(flows("task.moved", moved), vec!["flow_out_unstarted", "flow_in_started"]);
        let same = json!({ "changes": { "status_category": { "from": "started", "to": "started" } } });
        assert!(flows("task.updated", same).is_empty(), "a move within a category changes no flow");
        assert_eq!(flows("task.deleted", json!({ "status_category": "started" })), vec!["flow_out_started"]);
        assert_eq!(flows("task.restored", json!({ "status_category": "started" })), vec!["flow_in_started"]);
        assert!(flows("task.created", json!({ "status_category": "made-up" })).is_empty());
        assert!(flows("task.deleted", json!({})).is_empty(), "no category, no flow");
    }
}
