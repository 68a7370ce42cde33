//! `/orgs*`: organisations, members and invitations.
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use uuid::Uuid;

use super::types::{Created, NoContent, UserSummary};
use super::ApiTags;
use crate::auth::schemes::Auth;
use crate::domain::access::scope;
use crate::domain::orgs::{self, Member as DomainMember, OrgWithRole};
use crate::problem::ApiError;
use crate::state::AppState;

/// An organisation and the caller's role in it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    /// The caller's role: owner, admin, member or guest.
    pub role: String,
    /// The largest attachment this org accepts, in bytes (the server's limit unless the org set a lower one).
    pub max_attachment_bytes: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<OrgWithRole> for Org {
    fn from(o: OrgWithRole) -> Self {
        Org {
            id: o.org.id,
            name: o.org.name,
            role: o.role.as_str().to_owned(),
            max_attachment_bytes: o.org.max_attachment_bytes,
            created_at: o.org.created_at,
        }
    }
}

/// Create or rename an org.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OrgInput {
    pub name: String,
}

/// JSON merge patch of an org.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OrgPatchInput {
    pub name: Option<String>,
    /// The largest attachment members may upload, in bytes, at most the server's limit; null: the server's limit.
    pub max_attachment_bytes: poem_openapi::types::MaybeUndefined<i64>,
}

/// A member of an org.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Member {
    pub user: UserSummary,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

impl From<DomainMember> for Member {
    fn from(m: DomainMember) -> Self {
        Member { user: (&m.user).into(), role: m.membership.role, joined_at: m.membership.created_at }
    }
}

/// Role change.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RoleInput {
    /// owner, admin, member or guest.
    pub role: String,
}

/// New invitation.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InvitationInput {
    pub email: String,
    /// owner, admin, member or guest; not above the inviter's role.
    pub role: String,
}

/// A pending invitation.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub invited_by: Uuid,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<entities::tables::invitations::Model> for Invitation {
    fn from(i: entities::tables::invitations::Model) -> Self {
        Invitation {
            id: i.id,
            email: i.email,
            role: i.role,
            invited_by: i.invited_by,
            expires_at: i.expires_at,
            created_at: i.created_at,
        }
    }
}

/// A created invitation with its token, to send to the invitee.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    /// Secret the invitee accepts with; shown only now.
    pub token: String,
}

/// Accepting an invitation.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AcceptInput {
    pub token: String,
}

pub struct OrgsApi;

#[OpenApi(tag = "ApiTags::Orgs")]
impl OrgsApi {
    /// Create an organisation (the caller becomes its owner)
    #[oai(path = "/orgs", method = "post", operation_id = "createOrg")]
    async fn create(&self, state: Data<&AppState>, auth: Auth, body: Json<OrgInput>) -> Result<Created<Org>, ApiError> {
        let org = orgs::create(&state.db, auth.actor().user_id, &body.name).await?;
        Ok(Created::Created(Json(org.into())))
    }

    /// List the organisations I belong to
    #[oai(path = "/orgs", method = "get", operation_id = "listOrgs")]
    async fn list(&self, state: Data<&AppState>, auth: Auth) -> Result<Json<Vec<Org>>, ApiError> {
        let list = orgs::list_mine(&state.db, auth.actor().user_id).await?;
        Ok(Json(list.into_iter().map(Org::from).collect()))
    }

    /// Get an organisation
    #[oai(path = "/orgs/:org_id", method = "get", operation_id = "getOrg")]
    async fn get(&self, state: Data<&AppState>, auth: Auth, org_id: Path<Uuid>) -> Result<Json<Org>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let org = orgs::get(&state.db, &s).await?;
        Ok(Json(OrgWithRole { org, role: s.role() }.into()))
    }

    /// Rename an organisation or set its attachment size limit (owner or admin)
    #[oai(path = "/orgs/:org_id", method = "patch", operation_id = "renameOrg")]
    async fn rename(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<OrgPatchInput>,
    ) -> Result<Json<Org>, ApiError> {
        auth.actor().require_admin_scope()?;
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let b = body.0;
        let limit = match b.max_attachment_bytes {
            poem_openapi::types::MaybeUndefined::Undefined => None,
            poem_openapi::types::MaybeUndefined::Null => Some(None),
            poem_openapi::types::MaybeUndefined::Value(v) => Some(Some(v)),
        };
        let patch = orgs::OrgPatch { name: b.name, max_attachment_bytes: limit };
        let org = orgs::update(&state.db, &s, patch, state.config.attachment_max_bytes).await?;
        Ok(Json(OrgWithRole { org, role: s.role() }.into()))
    }

    /// Delete an organisation and all its data (owner only)
    #[oai(path = "/orgs/:org_id", method = "delete", operation_id = "deleteOrg")]
    async fn delete(&self, state: Data<&AppState>, auth: Auth, org_id: Path<Uuid>) -> Result<NoContent, ApiError> {
        auth.actor().require_admin_scope()?;
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        orgs::delete(&state.db, &state.cache, &s).await?;
        Ok(NoContent::Done)
    }

    /// List members
    #[oai(path = "/orgs/:org_id/members", method = "get", operation_id = "listMembers")]
    async fn members(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<Vec<Member>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(orgs::members(&state.db, &s).await?.into_iter().map(Member::from).collect()))
    }

    /// Change a member's role (owner or admin; only owners touch the owner role)
    #[oai(path = "/orgs/:org_id/members/:user_id", method = "patch", operation_id = "changeMemberRole")]
    async fn change_role(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: Json<RoleInput>,
    ) -> Result<Json<Member>, ApiError> {
        auth.actor().require_admin_scope()?;
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(orgs::change_role(&state.db, &state.cache, &s, user_id.0, &body.role).await?.into()))
    }

    /// Remove a member
    #[oai(path = "/orgs/:org_id/members/:user_id", method = "delete", operation_id = "removeMember")]
    async fn remove(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        auth.actor().require_admin_scope()?;
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        orgs::remove_member(&state.db, &state.cache, &s, user_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Leave an organisation (the last owner cannot)
    #[oai(path = "/orgs/:org_id/leave", method = "post", operation_id = "leaveOrg")]
    async fn leave(&self, state: Data<&AppState>, auth: Auth, org_id: Path<Uuid>) -> Result<NoContent, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        orgs::leave(&state.db, &state.cache, &s).await?;
        Ok(NoContent::Done)
    }

    /// Invite someone by email
    #[oai(path = "/orgs/:org_id/invitations", method = "post", operation_id = "createInvitation")]
    async fn invite(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        body: Json<InvitationInput>,
    ) -> Result<Created<CreatedInvitation>, ApiError> {
        auth.actor().require_admin_scope()?;
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        let ttl = state.config.invitation_ttl_hours;
        let c = orgs::invite(&state.db, &s, &body.email, &body.role, ttl, &state.secret).await?;
        Ok(Created::Created(Json(CreatedInvitation { invitation: c.invitation.into(), token: c.token })))
    }

    /// List pending invitations
    #[oai(path = "/orgs/:org_id/invitations", method = "get", operation_id = "listInvitations")]
    async fn invitations(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
    ) -> Result<Json<Vec<Invitation>>, ApiError> {
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        Ok(Json(orgs::pending_invitations(&state.db, &s).await?.into_iter().map(Invitation::from).collect()))
    }

    /// Revoke a pending invitation
    #[oai(path = "/orgs/:org_id/invitations/:invitation_id", method = "delete", operation_id = "revokeInvitation")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        org_id: Path<Uuid>,
        invitation_id: Path<Uuid>,
    ) -> Result<NoContent, ApiError> {
        auth.actor().require_admin_scope()?;
        let s = scope(&state.db, &state.cache, auth.actor(), org_id.0).await?;
        orgs::revoke_invitation(&state.db, &s, invitation_id.0).await?;
        Ok(NoContent::Done)
    }

    /// Accept an invitation with its token
    #[oai(path = "/invitations/accept", method = "post", operation_id = "acceptInvitation")]
    async fn accept(&self, state: Data<&AppState>, auth: Auth, body: Json<AcceptInput>) -> Result<Json<Org>, ApiError> {
        Ok(Json(orgs::accept_invitation(&state.db, &state.cache, auth.actor().user_id, &body.token).await?.into()))
    }
}
