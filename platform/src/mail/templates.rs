//! The email for every notification: a subject, an HTML body and a plain-text body per template, rendered with
//! minijinja from sources compiled into the binary (`templates/`).
//!
//! Each template `NAME` is two files. `NAME.txt` extends `layout.txt` and also defines the `subject` block;
//! `NAME.html` extends `layout.html` and gets the rendered subject as `subject` (for `<title>`). The layouts greet
//! `recipient_name`, link `app_url`, and show `preferences_url` / `unsubscribe_url` in the footer when present.
//!
//! Two rules hold for every template:
//! - **A missing field is an error**, never an empty string (minijinja's strict undefined): a notification
//!   that would go out as "  assigned you " fails loudly in the job instead. Fields documented as nullable must
//!   still be present, as `null`.
//! - **HTML escapes user content** (titles, names, comments) by auto-escaping every `.html` file; the text
//!   bodies and the subject carry it verbatim. Links are the absolute URLs from the context, unchanged.
use minijinja::value::{Serde, Value};
use minijinja::{context, escape_formatter, AutoEscape, Environment, Output, State, UndefinedBehavior};

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// A template could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("no mail template named `{0}`")]
    Unknown(String),
    #[error("the context of mail template `{0}` must be a JSON object")]
    ContextNotAnObject(String),
    /// Usually a missing context field; the message names the file and line.
    #[error("rendering mail template `{name}`: {source:#}")]
    Render {
        name: String,
        #[source]
        source: minijinja::Error,
    },
}

/// `(file name, source)` of every template file, compiled in.
macro_rules! sources {
    ($($file:literal),* $(,)?) => { &[$(($file, include_str!(concat!("templates/", $file)))),*] };
}

const SOURCES: &[(&str, &str)] = sources![
    "layout.html",
    "layout.txt",
    "components.html",
    "task_assigned.html",
    "task_assigned.txt",
    "mentioned.html",
    "mentioned.txt",
    "task_commented.html",
    "task_commented.txt",
    "task_status_changed.html",
    "task_status_changed.txt",
    "task_due_changed.html",
    "task_due_changed.txt",
    "invitation.html",
    "invitation.txt",
    "verify_email.html",
    "verify_email.txt",
    "password_reset.html",
    "password_reset.txt",
    "report_ready.html",
    "report_ready.txt",
    "reminder.html",
    "reminder.txt",
    "attachment_infected.html",
    "attachment_infected.txt",
    "digest.html",
    "digest.txt",
    "overdue_digest.html",
    "overdue_digest.txt",
];

/// The mail templates, parsed once.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("names", &Self::NAMES).finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

/// Escapes text for HTML content and quoted attributes. minijinja's own HTML escaping also turns `/` into
/// `&#x2f;`, which is valid but leaves every URL in the source as an entity soup; `/` needs no escaping here.
fn escape_html(text: &str, out: &mut Output) -> std::fmt::Result {
    let mut last = 0;
    for (i, c) in text.char_indices() {
        let entity = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&#x27;",
            _ => continue,
        };
        out.write_str(&text[last..i])?;
        out.write_str(entity)?;
        last = i + c.len_utf8();
    }
    out.write_str(&text[last..])
}

fn format_value(out: &mut Output, state: &mut State, value: &Value) -> Result<(), minijinja::Error> {
    let escapes_html = matches!(state.auto_escape(), AutoEscape::Html);
    if escapes_html && !value.is_safe() && !value.is_undefined() && !value.is_none() {
        escape_html(&value.to_string(), out)?;
        Ok(())
    } else {
        // Undefined (an error under strict mode), none, safe strings and text output keep minijinja's behaviour.
        escape_formatter(out, state, value)
    }
}

impl Templates {
    /// Every template name [`Templates::render`] accepts.
    pub const NAMES: &[&str] = &[
        "task_assigned",
        "mentioned",
        "task_commented",
        "task_status_changed",
        "task_due_changed",
        "invitation",
        "verify_email",
        "password_reset",
        "report_ready",
        "reminder",
        "attachment_infected",
        "digest",
        "overdue_digest",
    ];

    /// Parses the compiled-in templates.
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
        env.set_formatter(format_value);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        for (file, source) in SOURCES {
            env.add_template(file, source).unwrap_or_else(|e| panic!("mail template {file} does not parse: {e:#}"));
        }
        Templates { env }
    }

    /// Renders template `name` with `ctx` (a JSON object holding the template's fields plus `recipient_name`,
    /// `app_url` and optionally `unsubscribe_url` / `preferences_url`).
    pub fn render(&self, name: &str, ctx: &serde_json::Value) -> Result<Rendered, TemplateError> {
        if !Self::NAMES.contains(&name) {
            return Err(TemplateError::Unknown(name.to_owned()));
        }
        if !ctx.is_object() {
            return Err(TemplateError::ContextNotAnObject(name.to_owned()));
        }
        let failed = |source| TemplateError::Render { name: name.to_owned(), source };
        let ctx = Value::from(Serde(ctx));

        let text_template = self.env.get_template(&format!("{name}.txt")).map_err(failed)?;
        let mut captured = text_template.render_captured(ctx.clone()).map_err(failed)?;
        let subject = captured.with_state_mut(|state| state.render_block("subject")).map_err(failed)?;
        // A subject is one header line, whatever line breaks a title brought along.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let text = format!("{}\n", captured.into_output().trim());

        let html_template = self.env.get_template(&format!("{name}.html")).map_err(failed)?;
        let html = html_template.render(context! { subject => subject.clone(), ..ctx }).map_err(failed)?;
        Ok(Rendered { subject, html, text })
    }
}
