use platform::mail::{TemplateError, Templates};
use serde_json::json;

use crate::samples::{self, APP_URL, PREFERENCES_URL, UNSUBSCRIBE_URL};

/// The HTML's `href` targets, entities decoded (the same helper the outbox tests use on parsed mail).
fn links(html: &str) -> Vec<String> {
    platform::mail::testing::ParsedMail {
        from: String::new(),
        from_name: None,
        to: vec![],
        subject: String::new(),
        html: html.to_owned(),
        text: String::new(),
        headers: vec![],
        content_types: vec![],
    }
    .links()
}

#[test]
fn every_template_renders_its_sample_with_absolute_links() {
    let templates = Templates::new();
    for name in Templates::NAMES {
        let ctx = samples::context(name);
        let r = templates.render(name, &ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!r.subject.is_empty() && !r.subject.contains('\n'), "{name}: subject {:?}", r.subject);
        assert!(r.html.starts_with("<!DOCTYPE html>"), "{name}: {}", r.html);
        assert!(r.html.contains("Hi Ada Lovelace,") && r.text.starts_with("Hi Ada Lovelace,"), "{name}");
        assert!(r.html.contains(&format!("<title>{}</title>", r.subject)), "{name}: the subject is the title");

        let primary = samples::primary_link(name, &ctx);
        let hrefs = links(&r.html);
        assert!(hrefs.contains(&primary), "{name}: {primary} not among {hrefs:?}");
        assert!(hrefs.iter().all(|h| h.starts_with("https://tasks.example.com")), "{name}: {hrefs:?}");
        assert!(hrefs.contains(&APP_URL.to_owned()), "{name}: {hrefs:?}");
        assert!(r.text.contains(&primary), "{name}: the text names the link\n{}", r.text);
        assert!(!r.text.contains("{{") && !r.html.contains("{{") && !r.text.contains("{%"), "{name}");
    }
}

#[test]
fn a_missing_field_fails_every_template() {
    let templates = Templates::new();
    for name in Templates::NAMES {
        let ctx = samples::context(name);
        let paths = samples::required_paths(&ctx);
        assert!(paths.len() >= 3, "{name}: {paths:?}");
        for path in paths {
            match templates.render(name, &samples::without(&ctx, &path)) {
                Err(TemplateError::Render { name: failed, .. }) => assert_eq!(&failed, name),
                Err(other) => panic!("{name} without {path}: unexpected error {other}"),
                Ok(r) => panic!("{name} without {path} rendered:\n{}\n{}", r.subject, r.text),
            }
        }
    }
}

#[test]
fn nullable_fields_render_when_null() {
    let templates = Templates::new();
    let mut ctx = samples::context("task_due_changed");
    ctx["from_due"] = json!(null);
    ctx["to_due"] = json!(null);
    let r = templates.render("task_due_changed", &ctx).unwrap();
    assert!(r.subject.contains("no longer has a due date"), "{}", r.subject);
    assert!(r.text.contains("no due date -> no due date"), "{}", r.text);

    let mut ctx = samples::context("reminder");
    ctx["note"] = json!(null);
    ctx["task"]["due_at"] = json!(null);
    let r = templates.render("reminder", &ctx).unwrap();
    assert_eq!(r.subject, "Reminder: WEB-42 Fix the login page");
    assert!(!r.text.contains("null") && !r.text.contains(", due") && !r.html.contains(", due"), "{}", r.text);

    let mut ctx = samples::context("digest");
    ctx["items"] = json!([]);
    let r = templates.render("digest", &ctx).unwrap();
    assert!(r.subject.ends_with(": 0 updates"), "{}", r.subject);
}

#[test]
fn user_content_is_escaped_in_html_and_verbatim_in_text() {
    let templates = Templates::new();
    let title = r#"<script>alert("pwned")</script> & 'friends'"#;
    let mut ctx = samples::context("task_assigned");
    ctx["task"]["title"] = json!(title);
    ctx["actor_name"] = json!("<b>Mallory</b>");
    let r = templates.render("task_assigned", &ctx).unwrap();

    assert!(!r.html.contains("<script>") && !r.html.contains("<b>Mallory"), "{}", r.html);
    assert!(
        r.html.contains("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &#x27;friends&#x27;"),
        "{}",
        r.html
    );
    assert!(r.html.contains("&lt;b&gt;Mallory&lt;/b&gt;"), "{}", r.html);
    assert!(r.text.contains(title) && r.text.contains("<b>Mallory</b>"), "{}", r.text);
    assert_eq!(r.subject, format!("<b>Mallory</b> assigned you WEB-42: {title}"));

    // A comment's markup is shown, never interpreted.
    let mut ctx = samples::context("task_commented");
    ctx["comment_excerpt"] = json!("<img src=x onerror=alert(1)>");
    let r = templates.render("task_commented", &ctx).unwrap();
    assert!(r.html.contains("&lt;img src=x onerror=alert(1)&gt;") && !r.html.contains("<img"), "{}", r.html);
}

#[test]
fn a_title_with_line_breaks_gives_a_one_line_subject() {
    let templates = Templates::new();
    let mut ctx = samples::context("task_assigned");
    ctx["task"]["title"] = json!("first\r\nBcc: eve@example.com");
    let r = templates.render("task_assigned", &ctx).unwrap();
    assert_eq!(r.subject, "Grace Hopper assigned you WEB-42: first Bcc: eve@example.com");
}

#[test]
fn the_footer_links_settings_and_unsubscribe_only_when_given() {
    let templates = Templates::new();
    let ctx = samples::context("mentioned");
    let r = templates.render("mentioned", &ctx).unwrap();
    let hrefs = links(&r.html);
    assert!(hrefs.contains(&UNSUBSCRIBE_URL.to_owned()) && hrefs.contains(&PREFERENCES_URL.to_owned()), "{hrefs:?}");
    assert!(r.html.contains("unsubscribe?token=abc123&amp;kind=task_assigned"), "the & is escaped in the attribute");
    assert!(r.text.contains(&format!("Unsubscribe: {UNSUBSCRIBE_URL}")), "{}", r.text);
    assert!(r.text.contains(&format!("Notification settings: {PREFERENCES_URL}")), "{}", r.text);

    for absent in [json!(null), json!("")] {
        let mut ctx = samples::context("mentioned");
        ctx["unsubscribe_url"] = absent.clone();
        ctx.as_object_mut().unwrap().remove("preferences_url");
        let r = templates.render("mentioned", &ctx).unwrap();
        assert!(!r.html.contains("Unsubscribe") && !r.text.contains("Unsubscribe"), "{absent}: {}", r.text);
        assert!(!r.html.contains("Notification settings") && !r.text.contains("Notification settings"));
    }
}

#[test]
fn unknown_templates_and_non_object_contexts_are_refused() {
    let templates = Templates::new();
    assert!(matches!(templates.render("nope", &json!({})), Err(TemplateError::Unknown(n)) if n == "nope"));
    assert!(matches!(templates.render("layout", &json!({})), Err(TemplateError::Unknown(_))));
    assert!(matches!(templates.render("verify_email", &json!(["x"])), Err(TemplateError::ContextNotAnObject(_))));
}

#[test]
fn the_error_names_the_missing_field_location() {
    let templates = Templates::new();
    let ctx = samples::without(&samples::context("invitation"), "/org_name");
    let err = templates.render("invitation", &ctx).unwrap_err().to_string();
    assert!(err.contains("invitation") && err.contains("undefined"), "{err}");
}
