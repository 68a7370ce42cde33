//! A sample context for every template, the way the notification code fills them.
use serde_json::{json, Value};

pub const APP_URL: &str = "https://tasks.example.com";
/// With a `&`, so tests see it escaped in HTML attributes and intact after decoding.
pub const UNSUBSCRIBE_URL: &str = "https://tasks.example.com/unsubscribe?token=abc123&kind=task_assigned";
pub const PREFERENCES_URL: &str = "https://tasks.example.com/settings/notifications";
pub const TASK_URL: &str = "https://tasks.example.com/orgs/acme/projects/web/tasks/WEB-42";

/// Fields the layouts treat as optional.
pub const OPTIONAL: &[&str] = &["unsubscribe_url", "preferences_url"];

pub fn task() -> Value {
    json!({"ref": "WEB-42", "title": "Fix the login page", "url": TASK_URL, "project_name": "Website"})
}

/// The sample context of template `name`, with the common fields.
pub fn context(name: &str) -> Value {
    let mut ctx = match name {
        "task_assigned" => json!({"actor_name": "Grace Hopper", "task": task()}),
        "mentioned" | "task_commented" => json!({
            "actor_name": "Grace Hopper",
            "task": task(),
            "comment_excerpt": "@ada could you look at the redirect after login?",
        }),
        "task_status_changed" => {
            json!({"actor_name": "Grace Hopper", "task": task(), "from_status": "In progress", "to_status": "Done"})
        }
        "task_due_changed" => json!({
            "actor_name": "Grace Hopper",
            "task": task(),
            "from_due": "2026-12-01",
            "to_due": "2026-12-15",
        }),
        "invitation" => json!({
            "inviter_name": "Grace Hopper",
            "org_name": "Acme",
            "role": "member",
            "accept_url": "https://tasks.example.com/invitations/accept?token=tok_1",
            "expires_at": "2026-12-02 10:00 UTC",
        }),
        "verify_email" => json!({
            "verify_url": "https://tasks.example.com/verify?token=v_1",
            "expires_at": "2026-12-02 10:00 UTC",
        }),
        "password_reset" => json!({
            "reset_url": "https://tasks.example.com/reset?token=r_1",
            "expires_at": "2026-11-25 12:00 UTC",
        }),
        "report_ready" => json!({
            "report_name": "Weekly throughput",
            "download_url": "https://tasks.example.com/reports/01J/download?sig=x",
            "expires_at": "2026-11-26 10:00 UTC",
        }),
        "reminder" => {
            let mut task = task();
            task["due_at"] = json!("2026-12-01 17:00 UTC");
            json!({"task": task, "note": "Ship before the release freeze"})
        }
        "attachment_infected" => json!({
            "task": task(),
            "file_name": "invoice.pdf.exe",
            "signature": "Win.Test.EICAR_HDB-1",
        }),
        "digest" => json!({
            "date": "2026-11-25",
            "items": [
                {"title": "WEB-42 Fix the login page", "body": "Grace assigned you", "url": TASK_URL},
                {"title": "WEB-7 Footer links", "body": "Alan commented: looks good", "url": "https://tasks.example.com/orgs/acme/projects/web/tasks/WEB-7"},
            ],
        }),
        "overdue_digest" => json!({
            "date": "2026-11-25",
            "tasks": [
                {"ref": "WEB-42", "title": "Fix the login page", "url": TASK_URL, "project_name": "Website", "due_at": "2026-11-20"},
            ],
        }),
        other => panic!("no sample context for template {other}"),
    };
    let common = json!({
        "recipient_name": "Ada Lovelace",
        "app_url": APP_URL,
        "unsubscribe_url": UNSUBSCRIBE_URL,
        "preferences_url": PREFERENCES_URL,
    });
    for (k, v) in common.as_object().expect("an object") {
        ctx[k] = v.clone();
    }
    ctx
}

/// The link a template exists to deliver.
pub fn primary_link(name: &str, ctx: &Value) -> String {
    let pointer = match name {
        "invitation" => "/accept_url",
        "verify_email" => "/verify_url",
        "password_reset" => "/reset_url",
        "report_ready" => "/download_url",
        "digest" => "/items/1/url",
        "overdue_digest" => "/tasks/0/url",
        _ => "/task/url",
    };
    ctx.pointer(pointer).and_then(Value::as_str).expect("the sample has its link").to_owned()
}

/// JSON pointers to every required field of `ctx` (nested objects and the first element of lists included).
pub fn required_paths(ctx: &Value) -> Vec<String> {
    fn walk(value: &Value, prefix: &str, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if prefix.is_empty() && OPTIONAL.contains(&k.as_str()) {
                        continue;
                    }
                    let path = format!("{prefix}/{k}");
                    out.push(path.clone());
                    walk(v, &path, out);
                }
            }
            Value::Array(items) if !items.is_empty() => walk(&items[0], &format!("{prefix}/0"), out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(ctx, "", &mut out);
    out
}

/// `ctx` without the field at `pointer`.
pub fn without(ctx: &Value, pointer: &str) -> Value {
    let mut ctx = ctx.clone();
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer has a slash");
    let parent = if parent.is_empty() { &mut ctx } else { ctx.pointer_mut(parent).expect("the parent exists") };
    parent.as_object_mut().expect("fields live in objects").remove(key).expect("the field exists");
    ctx
}
