//! SES v2 against the moto server at `TASKFORGE_TEST_AWS_URL` (default http://127.0.0.1:5055). moto's state is
//! shared with other tests, so every test uses its own sender identity and recipient and finds its message by them.
use std::time::Duration;

use platform::mail::testing::read_moto_ses;
use platform::mail::{mailer_from_config, Mail, MailError, Templates};
use platform::Config;
use serde_json::json;
use uuid::Uuid;

use crate::samples::{self, TASK_URL, UNSUBSCRIBE_URL};

/// The moto URL; `None` (skip) when nothing answers there, except under `CI=true`, where that fails the test.
async fn moto() -> Option<String> {
    let url = std::env::var("TASKFORGE_TEST_AWS_URL").unwrap_or_else(|_| "http://127.0.0.1:5055".into());
    let probe = reqwest::Client::new()
        .get(format!("{url}/moto-api/data.json"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .and_then(|r| r.error_for_status());
    match probe {
        Ok(_) => Some(url),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("moto at {url} is unreachable and CI=true: {e}")
        }
        Err(e) => {
            eprintln!("skipping the SES test: moto at {url} is unreachable ({e}); start it with scripts/moto.sh");
            None
        }
    }
}

fn ses_config(moto: &str, sender: &str, configuration_set: Option<&str>) -> Config {
    let mut pairs = vec![
        ("mail", "ses".to_owned()),
        ("mail_from", format!("Taskforge <{sender}>")),
        ("aws_endpoint_url", moto.to_owned()),
    ];
    if let Some(name) = configuration_set {
        pairs.push(("ses_configuration_set", name.to_owned()));
    }
    Config::from_pairs(pairs).expect("the SES test configuration is valid")
}

fn mail(config: &Config, to: &str, title: &str) -> Mail {
    let mut ctx = samples::context("task_assigned");
    ctx["task"]["title"] = json!(title);
    let r = Templates::new().render("task_assigned", &ctx).expect("the sample renders");
    Mail {
        from: config.mail_from.clone(),
        to: vec![format!("Ada Lovelace <{to}>")],
        subject: r.subject,
        html: r.html,
        text: r.text,
        list_unsubscribe: Some(UNSUBSCRIBE_URL.into()),
        headers: vec![("X-Taskforge-Notification".into(), "task_assigned".into())],
    }
}

#[tokio::test]
async fn ses_receives_the_mime_message_with_both_parts_and_the_unsubscribe_headers() {
    let Some(moto) = moto().await else { return };
    let suffix = Uuid::now_v7().simple().to_string();
    let sender = format!("no-reply-{suffix}@taskforge.test");
    let recipient = format!("ada-{suffix}@example.com");
    let configuration_set = format!("taskforge-test-{suffix}");
    let config = ses_config(&moto, &sender, Some(&configuration_set));

    let ses = aws_sdk_sesv2::Client::new(&platform::aws::sdk_config(&config).await);
    ses.create_email_identity().email_identity(&sender).send().await.expect("creating the sender identity");
    ses.create_configuration_set()
        .configuration_set_name(&configuration_set)
        .send()
        .await
        .expect("creating the configuration set");

    let mailer = mailer_from_config(&config).await.expect("the SES mailer starts");
    let mail = mail(&config, &recipient, &format!("Zoë's release {suffix} <script>"));
    let sent = mailer.send(&mail).await.expect("SES accepts the mail");

    let all = read_moto_ses(&moto).await;
    let ours: Vec<_> = all.iter().filter(|m| m.mail.subject == mail.subject).collect();
    assert_eq!(ours.len(), 1, "exactly one message with our subject among {} sent", all.len());
    let got = ours[0];
    assert_eq!(got.id, sent.message_id, "SentMail carries SES's message id");
    assert!(got.source.contains(&sender), "{}", got.source);
    assert_eq!(got.destinations, [format!("Ada Lovelace <{recipient}>")], "recipients come from the To header once");

    let m = &got.mail;
    assert_eq!(m.from, sender);
    assert_eq!(m.to, [recipient]);
    assert_eq!(m.content_types, ["multipart/alternative", "text/plain", "text/html"]);
    assert_eq!(m.text.replace("\r\n", "\n"), mail.text);
    assert_eq!(m.html.replace("\r\n", "\n"), mail.html);
    assert_eq!(m.header("List-Unsubscribe"), Some(format!("<{UNSUBSCRIBE_URL}>").as_str()));
    assert_eq!(m.header("List-Unsubscribe-Post"), Some("List-Unsubscribe=One-Click"));
    assert_eq!(m.header("X-Taskforge-Notification"), Some("task_assigned"));
    assert!(m.links().contains(&TASK_URL.to_owned()), "{:?}", m.links());
}

#[tokio::test]
async fn ses_refusing_an_unverified_sender_is_permanent() {
    let Some(moto) = moto().await else { return };
    let suffix = Uuid::now_v7().simple().to_string();
    let config = ses_config(&moto, &format!("never-verified-{suffix}@taskforge.test"), None);
    let mailer = mailer_from_config(&config).await.unwrap();
    let err = mailer.send(&mail(&config, &format!("ada-{suffix}@example.com"), "Refused")).await.unwrap_err();
    assert!(matches!(&err, MailError::Rejected { code, .. } if code == "MessageRejected"), "{err:?}");
    assert!(err.is_permanent());
}

#[tokio::test]
async fn an_unreachable_ses_is_a_retryable_error() {
    // Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
    let config = ses_config("http://127.0.0.1:9", "no-reply@taskforge.test", None);
    let mailer = mailer_from_config(&config).await.unwrap();
    let err = mailer.send(&mail(&config, "ada@example.com", "Unreachable")).await.unwrap_err();
    assert!(matches!(err, MailError::Unavailable { .. }) && !err.is_permanent(), "{err:?}");
}
