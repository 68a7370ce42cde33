//! The tenant scope. Tenant rows are reached only through a [`Scope`], which exists only for a user who is a member
//! of the org: it is built from a membership row, never from a bare org id. Queries on tenant tables start from
//! [`Scope::find`] (or the update/delete counterparts), which always filter by `org_id`; clippy's
//! `disallowed-methods` (clippy.toml) rejects the unscoped `EntityTrait` entry points outside this crate, so an
//! unscoped tenant query does not build under `-D warnings`.
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};
use uuid::Uuid;

use crate::roles::{Permission, Role};
use crate::tables::memberships;

/// A table whose rows belong to one org.
pub trait TenantEntity: EntityTrait {
    /// The `org_id` column.
    fn org_id_column() -> Self::Column;
}

/// An authenticated user acting inside one org with their role there.
#[derive(Clone, Debug)]
pub struct Scope {
    org_id: Uuid,
    user_id: Uuid,
    role: Role,
}

impl Scope {
    /// The scope of `user_id` in `org_id`, or `None` when they are not a member (the caller answers 404).
    #[allow(clippy::disallowed_methods)] // the membership lookup is what creates a scope
    pub async fn of_member(db: &impl ConnectionTrait, user_id: Uuid, org_id: Uuid) -> Result<Option<Scope>, DbErr> {
        let row = memberships::Entity::find()
            .filter(memberships::Column::OrgId.eq(org_id))
            .filter(memberships::Column::UserId.eq(user_id))
            .one(db)
            .await?;
        Ok(row.and_then(|m| {
            let role = m.role.parse().ok()?;
            Some(Scope { org_id, user_id, role })
        }))
    }

    /// The scope of a member whose role the membership cache remembers. The cache is filled only from what
    /// [`Scope::of_member`] read and is cleared whenever that membership changes, so this is still a scope built
    /// from a membership row.
    pub fn of_cached_member(org_id: Uuid, user_id: Uuid, role: Role) -> Scope {
        Scope { org_id, user_id, role }
    }

    /// The scope of the creator of a brand-new org, written in the same transaction as its owner membership.
    pub fn of_new_org_owner(org_id: Uuid, user_id: Uuid) -> Scope {
        Scope { org_id, user_id, role: Role::Owner }
    }

    /// The scope of background work done for `org_id` by the system itself (a worker acting on a stored event or
    /// job whose org it trusts), not by a person: its user id is nil. It still keeps every query inside one org.
    pub fn system(org_id: Uuid) -> Scope {
        Scope { org_id, user_id: Uuid::nil(), role: Role::Owner }
    }

    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the actor's role grants `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }

    /// Rows of a tenant table that belong to this org.
    #[allow(clippy::disallowed_methods)]
    pub fn find<E: TenantEntity>(&self) -> Select<E> {
        E::find().filter(E::org_id_column().eq(self.org_id))
    }

    /// An UPDATE limited to this org's rows.
    #[allow(clippy::disallowed_methods)]
    pub fn update_many<E: TenantEntity>(&self) -> UpdateMany<E> {
        E::update_many().filter(E::org_id_column().eq(self.org_id))
    }

    /// A DELETE limited to this org's rows.
    #[allow(clippy::disallowed_methods)]
    pub fn delete_many<E: TenantEntity>(&self) -> DeleteMany<E> {
        E::delete_many().filter(E::org_id_column().eq(self.org_id))
    }
}
