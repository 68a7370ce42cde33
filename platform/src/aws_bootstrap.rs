//! `taskforge admin aws-bootstrap`: creates the AWS resources the SQS queue and SES mail adapters expect, or
//! leaves them as they are when present, so it is safe to run on every deploy. Terraform owns production; this is
//! for moto, LocalStack and accounts set up by hand.
//!
//! Covered: every pool's queue and dead-letter queue (with the redrive policy and the pool's visibility timeout,
//! see [`SqsQueue::bootstrap`]), the SES email identity of `mail_from`, and, when `storage = s3`, the bucket with
//! default SSE-S3 encryption and public access blocked (see [`S3Storage::bootstrap`]), and, when `events =
//! dynamodb`, the event table with its three GSIs and TTL on `expires_at` (see [`DynamoEventStore::bootstrap`]).
use aws_sdk_sesv2::error::ProvideErrorMetadata;

use crate::config::{EventsKind, StorageKind};
use crate::events::{DynamoEventStore, EventStoreError};
use crate::jobs::{QueueError, SqsQueue};
use crate::storage::{S3Storage, StorageError};
use crate::Config;

/// One resource and whether this run created it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provisioned {
    /// What it is: `sqs queue`, `ses identity`, `s3 bucket` or `dynamodb table`.
    pub kind: &'static str,
    pub name: String,
    pub created: bool,
}

/// Provisioning stopped at the first failure.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("SES email identity `{identity}`: {detail}")]
    Ses { identity: String, detail: String },
    #[error("S3 bucket `{bucket}`: {source}")]
    Bucket {
        bucket: String,
        #[source]
        source: StorageError,
    },
    #[error("DynamoDB table `{table}`: {source}")]
    Table {
        table: String,
        #[source]
        source: EventStoreError,
    },
}

/// The address inside `Name <address>`, or the whole value when it has no angle brackets.
pub fn sender_address(mail_from: &str) -> &str {
    match (mail_from.rfind('<'), mail_from.rfind('>')) {
        (Some(start), Some(end)) if start < end => mail_from[start + 1..end].trim(),
        _ => mail_from.trim(),
    }
}

/// Creates what is missing and reports every resource.
pub async fn bootstrap(config: &Config) -> Result<Vec<Provisioned>, BootstrapError> {
    let sdk = crate::aws::sdk_config(config).await;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), &config.sqs_prefix);
    let mut done: Vec<Provisioned> = queue
        .bootstrap()
        .await?
        .into_iter()
        .map(|q| Provisioned { kind: "sqs queue", name: q.name, created: q.created })
        .collect();
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    let identity = sender_address(&config.mail_from).to_owned();
    let ses_error = |e: &dyn ProvideErrorMetadata, fallback: String| BootstrapError::Ses {
        identity: identity.clone(),
        detail: match (e.code(), e.message()) {
            (Some(code), message) => format!("{code}: {}", message.unwrap_or("")),
            (None, _) => fallback,
        },
    };
    // Look first: moto replaces an existing identity instead of answering AlreadyExists as SES does.
    let created = match ses.get_email_identity().email_identity(&identity).send().await {
        Ok(_) => false,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found_exception()) => {
            match ses.create_email_identity().email_identity(&identity).send().await {
                Ok(_) => true,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_already_exists_exception()) => false,
                Err(e) => {
                    let fallback = aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string();
                    return Err(ses_error(&e, fallback));
                }
            }
        }
        Err(e) => {
            let fallback = aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string();
            return Err(ses_error(&e, fallback));
        }
    };
    done.push(Provisioned { kind: "ses identity", name: identity, created });
    if let (StorageKind::S3, Some(bucket)) = (config.storage, &config.s3_bucket) {
        let created = S3Storage::new(&sdk, bucket)
            .bootstrap(&config.aws_region)
            .await
            .map_err(|source| BootstrapError::Bucket { bucket: bucket.clone(), source })?;
        done.push(Provisioned { kind: "s3 bucket", name: bucket.clone(), created });
    }
    if config.events == EventsKind::DynamoDb {
        let table = &config.dynamodb_table;
        let ttl = chrono::Duration::days(i64::from(config.event_ttl_days));
        let created = DynamoEventStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, ttl)
            .bootstrap()
            .await
            .map_err(|source| BootstrapError::Table { table: table.clone(), source })?;
        done.push(Provisioned { kind: "dynamodb table", name: table.clone(), created });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_address_is_taken_from_inside_angle_brackets() {
        assert_eq!(sender_address("Taskforge <no-reply@example.com>"), "no-reply@example.com");
        assert_eq!(sender_address(" no-reply@example.com "), "no-reply@example.com");
    }
}
