//! `scan_result`: records what a scan found on the attachment, from the scan Lambda or the embedded scan.
//!
//! Delivery is at least once and unordered (SQS), so the record is a conditional update: a report older than the
//! one already recorded changes nothing, and `infected` is final whatever comes after. A clean verdict is not
//! enough to serve a file: its size and the type its bytes show must agree with what was declared.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::SubsecRound;
use entities::notification_kinds::{email_state, Kind};
use entities::tables::attachments::{self, state, thumbnail_state};
use entities::tables::outbox::{self, Event};
use entities::tables::{notifications, projects, tasks};
use entities::Scope;
use lambdas::keys::UploadKey;
use lambdas::report::{ScanOutcome, ScanReport};
use platform::jobs::{Envelope, Job, Queue};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;

use super::thumbnails::is_thumbnailable;
use super::FileDeps;
use crate::handler::{Handler, HandlerError};
use crate::notifications::create::{create, NewNotification};

pub struct ScanResultHandler {
    db: DatabaseConnection,
    queue: Arc<dyn Queue>,
    deps: FileDeps,
}

impl ScanResultHandler {
    pub fn new(db: DatabaseConnection, queue: Arc<dyn Queue>, deps: FileDeps) -> Self {
        ScanResultHandler { db, queue, deps }
    }
}

/// The `dedupe_key` of the quarantine notice of attachment `id`.
fn notice_key(id: uuid::Uuid) -> String {
    format!("attachment_infected:{id}")
}

/// The attachment's new state, and why when it is not clean.
struct Decision {
    state: &'static str,
    failure: Option<(&'static str, String)>,
}

fn decide(a: &attachments::Model, report: &ScanReport) -> Decision {
    let failed = |code, detail| Decision { state: state::FAILED, failure: Some((code, detail)) };
    match report.outcome {
        ScanOutcome::Infected => Decision { state: state::INFECTED, failure: None },
        ScanOutcome::Failed => failed("scan_error", report.error.clone().unwrap_or_else(|| "the scan failed".into())),
        ScanOutcome::Clean => {
            if report.size != Some(a.size as u64) {
                return failed(
                    "size_mismatch",
                    format!("declared {} bytes, stored {}", a.size, report.size.map_or("?".into(), |s| s.to_string())),
                );
            }
            if !lambdas::sniff::agrees(&a.content_type, report.sniffed_type.as_deref()) {
                return failed(
                    "type_mismatch",
                    format!(
                        "declared {}, but the bytes are {}",
                        a.content_type,
                        report.sniffed_type.as_deref().unwrap_or("of no recognisable type")
                    ),
                );
            }
            Decision { state: state::CLEAN, failure: None }
        }
    }
}

#[async_trait]
impl Handler for ScanResultHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::ScanResult(mut report) = envelope.job else {
            return Err(HandlerError::permanent("not a scan_result job"));
        };
        // As stored (microseconds on MySQL), so a redelivered report compares equal to itself.
        report.scanned_at = report.scanned_at.trunc_subsecs(6);
        let key = UploadKey::parse(&report.key).map_err(HandlerError::permanent)?;
        let scope = Scope::system(key.org_id);
        let found = scope
            .find::<attachments::Entity>()
            .filter(attachments::Column::Id.eq(key.attachment_id))
            .one(&self.db)
            .await?;
        let Some(a) = found else {
            // Deleted while it was being scanned: nothing may keep its bytes.
            for k in [report.key.clone(), key.quarantine_key()] {
                self.deps.storage.delete(&k).await.map_err(HandlerError::retryable)?;
            }
            return Ok(());
        };
        let decision = decide(&a, &report);
        let thumbnails = decision.state == state::CLEAN && is_thumbnailable(&a.content_type);
        let (failure_code, failure_detail) = decision.failure.clone().unzip();
        let tx = entities::begin_write(&self.db).await?;
        let updated = scope
            .update_many::<attachments::Entity>()
            .col_expr(attachments::Column::State, Expr::value(decision.state))
            .col_expr(attachments::Column::Sha256, Expr::value(report.sha256.clone()))
            .col_expr(attachments::Column::SniffedType, Expr::value(report.sniffed_type.clone()))
            .col_expr(attachments::Column::ScanEngine, Expr::value(report.engine.clone()))
            .col_expr(attachments::Column::ScanEngineVersion, Expr::value(report.engine_version.clone()))
            .col_expr(attachments::Column::ScanSignature, Expr::value(report.signature.clone()))
            .col_expr(attachments::Column::QuarantineKey, Expr::value(report.quarantine_key.clone()))
            .col_expr(attachments::Column::FailureCode, Expr::value(failure_code.map(str::to_owned)))
            .col_expr(attachments::Column::FailureDetail, Expr::value(failure_detail))
            .col_expr(attachments::Column::ScannedAt, Expr::value(report.scanned_at))
            .col_expr(
                attachments::Column::ThumbnailState,
                Expr::value(if thumbnails { thumbnail_state::PENDING } else { thumbnail_state::NONE }),
            )
            .col_expr(attachments::Column::UpdatedAt, Expr::value(entities::now()))
            .filter(attachments::Column::Id.eq(a.id))
            .filter(attachments::Column::State.ne(state::INFECTED))
            .filter(
                Condition::any()
                    .add(attachments::Column::ScannedAt.is_null())
                    .add(attachments::Column::ScannedAt.lt(report.scanned_at)),
            )
            .exec(&tx)
            .await?;
        if updated.rows_affected == 0 {
            drop(tx);
            // This very report, delivered again: an earlier delivery recorded it but may have failed to enqueue its
            // follow-ups, so enqueue them again (both jobs are idempotent). A newer verdict, or a file infected for
            // good, needs nothing.
            if a.scanned_at.map(|t| t.trunc_subsecs(6)) == Some(report.scanned_at) {
                let notification = if a.state == state::INFECTED { self.pending_notice(a.id).await? } else { None };
                return self.follow_up(&a, notification, a.thumbnail_state == thumbnail_state::PENDING).await;
            }
            return Ok(());
        }
        let infected = decision.state == state::INFECTED;
        outbox::append(
            &tx,
            Event {
                org_id: a.org_id,
                actor_id: None,
                event_type: if infected { "attachment.infected" } else { "attachment.scanned" },
                entity_type: "attachment",
                entity_id: a.id,
                payload: json!({
                    "task_id": a.task_id, "project_id": a.project_id, "file_name": a.file_name,
                    "uploaded_by": a.uploaded_by, "state": decision.state, "failure_code": failure_code,
                    "engine": report.engine, "signature": report.signature,
                }),
            },
        )
        .await?;
        let notification = if infected { self.notify_uploader(&tx, &scope, &a, &report).await? } else { None };
        tx.commit().await?;
        self.follow_up(&a, notification, thumbnails).await
    }
}

impl ScanResultHandler {
    /// Enqueues the email of the quarantine notice and the thumbnails job, as they apply.
    async fn follow_up(
        &self,
        a: &attachments::Model,
        notification: Option<uuid::Uuid>,
        thumbnails: bool,
    ) -> Result<(), HandlerError> {
        let mut jobs = Vec::new();
        if let Some(id) = notification {
            jobs.push(Envelope::new(Job::Notify { notification_id: id }, Some(a.org_id)));
        }
        if thumbnails {
            jobs.push(Envelope::new(Job::Thumbnails { attachment_id: a.id }, Some(a.org_id)));
        }
        self.queue.enqueue(&jobs, Duration::ZERO).await.map_err(HandlerError::retryable)
    }

    /// The uploader's quarantine notice of attachment `id` whose email is still to be sent.
    async fn pending_notice(&self, id: uuid::Uuid) -> Result<Option<uuid::Uuid>, HandlerError> {
        #[allow(clippy::disallowed_methods)] // notifications are per user; the key names the attachment
        let row = notifications::Entity::find()
            .filter(notifications::Column::DedupeKey.eq(notice_key(id)))
            .filter(notifications::Column::EmailState.eq(email_state::PENDING))
            .one(&self.db)
            .await?;
        Ok(row.map(|n| n.id))
    }

    /// Tells the uploader their file was quarantined; returns the notification to email, if any.
    async fn notify_uploader(
        &self,
        tx: &impl sea_orm::ConnectionTrait,
        scope: &Scope,
        a: &attachments::Model,
        report: &ScanReport,
    ) -> Result<Option<uuid::Uuid>, HandlerError> {
        let task = scope.find::<tasks::Entity>().filter(tasks::Column::Id.eq(a.task_id)).one(tx).await?;
        let project = scope.find::<projects::Entity>().filter(projects::Column::Id.eq(a.project_id)).one(tx).await?;
        let (Some(task), Some(project)) = (task, project) else {
            return Ok(None);
        };
        let task_ref = format!("{}-{}", project.key, task.number);
        let url = format!("/orgs/{}/tasks/{task_ref}", a.org_id);
        let signature = report.signature.clone().unwrap_or_else(|| "malware".into());
        let new = NewNotification {
            org_id: Some(a.org_id),
            user_id: a.uploaded_by,
            kind: Kind::AttachmentInfected,
            actor_id: None,
            entity_type: Some("attachment"),
            entity_id: Some(a.id),
            title: format!("{} on {task_ref} was quarantined", a.file_name),
            body: format!("The file was found infected ({signature}) and nobody can download it."),
            url: url.clone(),
            data: json!({
                "task": {"ref": task_ref, "title": task.title, "url": url, "project_name": project.name},
                "file_name": a.file_name,
                "signature": signature,
            }),
            dedupe_key: notice_key(a.id),
        };
        Ok(create(tx, new).await?.filter(|row| row.email_state == email_state::PENDING).map(|row| row.id))
    }
}
