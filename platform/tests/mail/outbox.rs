use std::path::PathBuf;

use platform::mail::testing::read_outbox;
use platform::mail::{mailer_from_config, outbox_dir, Mail, MailError, Mailer, OutboxMailer, Templates};
use platform::Config;
use serde_json::json;
use uuid::Uuid;

use crate::samples::{self, TASK_URL, UNSUBSCRIBE_URL};

/// A private data directory, removed at the end of the test.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> DataDir {
        DataDir(std::env::temp_dir().join(format!("taskforge-mail-test-{}", Uuid::now_v7().simple())))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bodies come back with CRLF line ends from the MIME encoding.
fn lf(s: &str) -> String {
    s.replace("\r\n", "\n")
}

fn rendered_mail(title: &str) -> Mail {
    let mut ctx = samples::context("task_assigned");
    ctx["task"]["title"] = json!(title);
    let r = Templates::new().render("task_assigned", &ctx).expect("the sample renders");
    Mail {
        from: "Taskforge <no-reply@taskforge.example>".into(),
        to: vec!["Ada Lovelace <ada@example.com>".into(), "bob@example.com".into()],
        subject: r.subject,
        html: r.html,
        text: r.text,
        list_unsubscribe: Some(UNSUBSCRIBE_URL.into()),
        headers: vec![("X-Taskforge-Notification".into(), "task_assigned".into())],
    }
}

#[tokio::test]
async fn the_outbox_holds_a_complete_message_a_mail_parser_reads_back() {
    let data = DataDir::new();
    let mailer = OutboxMailer::new(&data.0);
    let mail = rendered_mail("Zoë's café <script>alert(1)</script> ✓");
    let sent = mailer.send(&mail).await.expect("the outbox accepts the mail");

    let files: Vec<String> = std::fs::read_dir(outbox_dir(&data.0))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1, "exactly the message, no temporary file left: {files:?}");
    assert!(files[0].ends_with(&format!("-{}.eml", sent.message_id)), "{files:?}");
    assert!(files[0].starts_with("20") && files[0].as_bytes()[8] == b'T', "timestamp first: {files:?}");

    let parsed = read_outbox(mailer.dir());
    assert_eq!(parsed.len(), 1);
    let m = &parsed[0];
    assert_eq!(m.from, "no-reply@taskforge.example");
    assert_eq!(m.from_name.as_deref(), Some("Taskforge"));
    assert_eq!(m.to, ["ada@example.com", "bob@example.com"]);
    assert_eq!(m.subject, mail.subject, "the UTF-8 subject survives its encoding");
    assert!(m.subject.contains("Zoë's café <script>alert(1)</script> ✓"));
    assert_eq!(m.content_types, ["multipart/alternative", "text/plain", "text/html"]);
    assert_eq!(lf(&m.text), mail.text);
    assert_eq!(lf(&m.html), mail.html);
    assert!(m.html.contains("&lt;script&gt;") && m.text.contains("<script>alert(1)</script>"));
    assert_eq!(m.message_id(), Some(sent.message_id.as_str()));
    assert!(m.header("Date").is_some_and(|d| d.ends_with("+0000")), "{:?}", m.header("Date"));
    assert_eq!(m.header("List-Unsubscribe"), Some(format!("<{UNSUBSCRIBE_URL}>").as_str()));
    assert_eq!(m.header("List-Unsubscribe-Post"), Some("List-Unsubscribe=One-Click"));
    assert_eq!(m.header("X-Taskforge-Notification"), Some("task_assigned"));
    let links = m.links();
    assert!(links.contains(&TASK_URL.to_owned()) && links.contains(&UNSUBSCRIBE_URL.to_owned()), "{links:?}");
}

#[tokio::test]
async fn the_outbox_lists_messages_in_sending_order() {
    let data = DataDir::new();
    let mailer = OutboxMailer::new(&data.0);
    let titles: Vec<String> = (1..=5).map(|i| format!("Task number {i}")).collect();
    for title in &titles {
        mailer.send(&rendered_mail(title)).await.unwrap();
    }
    let subjects: Vec<String> = read_outbox(mailer.dir()).into_iter().map(|m| m.subject).collect();
    let expected: Vec<String> = titles.iter().map(|t| format!("Grace Hopper assigned you WEB-42: {t}")).collect();
    assert_eq!(subjects, expected);
}

#[tokio::test]
async fn a_mail_without_unsubscribe_has_no_list_headers() {
    let data = DataDir::new();
    let mailer = OutboxMailer::new(&data.0);
    let mut mail = rendered_mail("Quiet");
    mail.list_unsubscribe = None;
    mail.headers.clear();
    mailer.send(&mail).await.unwrap();
    let m = &read_outbox(mailer.dir())[0];
    assert_eq!(m.header("List-Unsubscribe"), None);
    assert_eq!(m.header("List-Unsubscribe-Post"), None);
}

#[tokio::test]
async fn a_bad_address_is_a_permanent_error_and_writes_nothing() {
    let data = DataDir::new();
    let mailer = OutboxMailer::new(&data.0);
    let mut mail = rendered_mail("Nobody");
    mail.to = vec!["not an address".into()];
    let err = mailer.send(&mail).await.unwrap_err();
    assert!(matches!(err, MailError::InvalidAddress { .. }) && err.is_permanent(), "{err}");
    assert!(read_outbox(mailer.dir()).is_empty());
}

#[tokio::test]
async fn an_unwritable_outbox_is_a_retryable_error() {
    let data = DataDir::new();
    // A file where the data directory should be: nothing can be created below it.
    std::fs::write(&data.0, b"not a directory").unwrap();
    let err = OutboxMailer::new(&data.0).send(&rendered_mail("Blocked")).await.unwrap_err();
    assert!(matches!(err, MailError::Outbox { .. }) && !err.is_permanent(), "{err}");
    std::fs::remove_file(&data.0).unwrap();
}

#[tokio::test]
async fn the_configured_outbox_exists_from_the_start() {
    let data = DataDir::new();
    let config = Config::from_pairs([("data_dir", data.0.display().to_string())]).unwrap();
    let mailer = mailer_from_config(&config).await.expect("the outbox mailer starts");
    assert!(outbox_dir(&data.0).is_dir());
    let sent = mailer.send(&rendered_mail("Configured")).await.unwrap();
    let parsed = read_outbox(&outbox_dir(&data.0));
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].message_id(), Some(sent.message_id.as_str()));
}
