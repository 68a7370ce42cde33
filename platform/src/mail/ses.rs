//! The production mail adapter: Amazon SES v2 `SendEmail` with raw content, i.e. the same MIME bytes the outbox
//! would hold, optionally tagged with a configuration set (event publishing for bounces, complaints, deliveries).
//!
//! Raw rather than simple content because SES's simple content cannot carry our own headers
//! (`List-Unsubscribe`, `X-Taskforge-Notification`) and would make the two adapters send different messages.
//! Recipients come from the message's `To` header; SES replaces the `Message-ID` with its own, returned as
//! [`SentMail::message_id`].
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{EmailContent, RawMessage};
use chrono::Utc;

use super::{mime, Mail, MailError, Mailer, SentMail};

/// Sends through SES v2.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    configuration_set: Option<String>,
}

impl SesMailer {
    /// A mailer over the shared SDK configuration (`platform::aws::sdk_config`).
    pub fn new(sdk: &SdkConfig, configuration_set: Option<String>) -> SesMailer {
        SesMailer::from_client(aws_sdk_sesv2::Client::new(sdk), configuration_set)
    }

    /// A mailer over an existing client.
    pub fn from_client(client: aws_sdk_sesv2::Client, configuration_set: Option<String>) -> SesMailer {
        SesMailer { client, configuration_set }
    }
}

/// Sorts SES's answer into permanent and transient failures.
fn classify(err: SdkError<SendEmailError>) -> MailError {
    let code = err.code().unwrap_or("unknown").to_owned();
    let message = err.message().map(str::to_owned).unwrap_or_else(|| err.to_string());
    match &err {
        SdkError::ServiceError(service) => {
            let permanent = match service.err() {
                // The content or an address is invalid, the sender is not verified, or a named resource (the
                // configuration set) does not exist: the same message fails the same way next time.
                SendEmailError::BadRequestException(_)
                | SendEmailError::MessageRejected(_)
                | SendEmailError::MailFromDomainNotVerifiedException(_)
                | SendEmailError::NotFoundException(_) => true,
                // Throttling and quota, or an account paused or suspended: nothing is wrong with the message,
                // and sending resumes once the rate drops or an operator lifts the block.
                SendEmailError::TooManyRequestsException(_)
                | SendEmailError::LimitExceededException(_)
                | SendEmailError::SendingPausedException(_)
                | SendEmailError::AccountSuspendedException(_) => false,
                // Codes this SDK version does not model: a 4xx other than throttling blames the request.
                _ => {
                    let status = service.raw().status().as_u16();
                    (400..500).contains(&status) && status != 429
                }
            };
            if permanent {
                MailError::Rejected { code, message }
            } else {
                MailError::Unavailable { code, message }
            }
        }
        // The request could not even be built from our input.
        SdkError::ConstructionFailure(_) => MailError::Rejected { code, message },
        // Timeouts, connection failures, unreadable responses: transient.
        _ => MailError::Unavailable { code, message },
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<SentMail, MailError> {
        let mime::Encoded { message_id: own_message_id, from_address, bytes } = mime::encode(mail, Utc::now())?;
        let raw = RawMessage::builder()
            .data(Blob::new(bytes))
            .build()
            .expect("the raw message's only required field, data, is set");
        let output = self
            .client
            .send_email()
            // The bare address: SES wants a non-ASCII display name RFC 2047 encoded here, and the message's own
            // `From` header already carries the name, properly encoded.
            .from_email_address(from_address)
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(classify)?;
        // SES always answers with its id; our own Message-ID identifies the message as well if it ever does not.
        let message_id = output.message_id.unwrap_or(own_message_id);
        tracing::debug!(message_id = %message_id, "mail sent through SES");
        Ok(SentMail { message_id })
    }
}
