//! `invitation_mail`: the invitation to join an org, with its accept link.
use async_trait::async_trait;
use entities::tables::{invitations, orgs};
use entities::Scope;
use platform::jobs::{Envelope, Job};
use platform::secret_key::purpose;
use sea_orm::{ColumnTrait, DatabaseConnection, QueryFilter};
use serde_json::json;

use super::{display_time, recipient, MailDeps, Recipient};
use crate::handler::{Handler, HandlerError};
use crate::idempotency::mark_processed_once;

pub struct InvitationMailHandler {
    db: DatabaseConnection,
    mail: MailDeps,
}

impl InvitationMailHandler {
    pub fn new(db: DatabaseConnection, mail: MailDeps) -> InvitationMailHandler {
        InvitationMailHandler { db, mail }
    }
}

#[allow(clippy::disallowed_methods)] // orgs are looked up by the id of the invitation's own org
async fn org_name(db: &impl sea_orm::ConnectionTrait, org_id: uuid::Uuid) -> Result<Option<String>, HandlerError> {
    use sea_orm::EntityTrait;
    Ok(orgs::Entity::find_by_id(org_id).one(db).await?.map(|o| o.name))
}

#[async_trait]
impl Handler for InvitationMailHandler {
    async fn handle(&self, envelope: Envelope) -> Result<(), HandlerError> {
        let Job::InvitationMail { invitation_id } = envelope.job else {
            return Err(HandlerError::permanent("not an invitation_mail job"));
        };
        let Some(org_id) = envelope.org_id else {
            return Err(HandlerError::permanent("an invitation_mail job needs its org"));
        };
        let tx = entities::begin_write(&self.db).await?;
        let invitation = Scope::system(org_id)
            .find::<invitations::Entity>()
            .filter(invitations::Column::Id.eq(invitation_id))
            .one(&tx)
            .await?;
        let Some(inv) = invitation else { return Ok(()) };
        if inv.accepted_at.is_some() || inv.revoked_at.is_some() || inv.expires_at <= entities::now() {
            return Ok(());
        }
        if !mark_processed_once(&tx, invitation_id, "invitation_mail").await? {
            return Ok(());
        }
        let inviter = recipient(&tx, inv.invited_by).await?.map_or_else(|| "A teammate".to_owned(), |r| r.name);
        let Some(org_name) = org_name(&tx, org_id).await? else { return Ok(()) };
        let token = self.mail.secret.token(purpose::INVITATION, inv.id);
        let ctx = json!({
            "inviter_name": inviter,
            "org_name": org_name,
            "role": inv.role,
            "accept_url": self.mail.link(&format!("/invitations/accept?token={token}")),
            "expires_at": display_time(inv.expires_at),
        });
        // The invitee may have no account yet: the address is all there is.
        let to = Recipient { name: String::new(), email: inv.email.clone() };
        self.mail.send(&to, "invitation", ctx, None).await?;
        tx.commit().await?;
        Ok(())
    }
}
