//! Org roles and what each may do. The table is documented in docs/ARCHITECTURE.md; this is its single source.
use std::fmt;
use std::str::FromStr;

/// A member's role in an org, from most to least powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Guest,
    Member,
    Admin,
    Owner,
}

/// Something a member may or may not do in an org.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Rename the org.
    ManageOrg,
    /// Delete the org.
    DeleteOrg,
    /// Invite people, change roles, remove members.
    ManageMembers,
    /// See every project, private ones included, and manage any project.
    AdministerProjects,
    /// Create projects.
    CreateProject,
    /// Create and edit tasks, statuses and labels in projects the member can see.
    WriteTasks,
    /// Comment on tasks the member can see.
    Comment,
}

impl Role {
    /// Whether this role grants `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match permission {
            DeleteOrg => self == Role::Owner,
            ManageOrg | ManageMembers | AdministerProjects => self >= Role::Admin,
            CreateProject | WriteTasks => self >= Role::Member,
            Comment => true,
        }
    }

    /// Whether a member with this role sees a project: admins and owners see all of them, members the org-wide ones,
    /// and everyone the projects they were added to.
    pub fn sees_project(self, project_is_org_wide: bool, is_project_member: bool) -> bool {
        self.allows(Permission::AdministerProjects) || (self != Role::Guest && project_is_org_wide) || is_project_member
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Guest => "guest",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stored role string was not one of the four roles.
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            "member" => Role::Member,
            "guest" => Role::Guest,
            other => return Err(UnknownRole(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_delete_orgs_and_guests_only_comment() {
        assert!(Role::Owner.allows(Permission::DeleteOrg));
        assert!(!Role::Admin.allows(Permission::DeleteOrg));
        assert!(Role::Admin.allows(Permission::ManageMembers));
        assert!(!Role::Member.allows(Permission::ManageMembers));
        assert!(Role::Member.allows(Permission::WriteTasks));
        assert!(!Role::Guest.allows(Permission::WriteTasks));
        assert!(Role::Guest.allows(Permission::Comment));
    }

    #[test]
    fn roles_round_trip_through_strings() {
        for r in [Role::Owner, Role::Admin, Role::Member, Role::Guest] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
