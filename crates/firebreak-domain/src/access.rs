//! Who may do what: the three access roles and the one rule that orders them.

use std::fmt;
use std::str::FromStr;

/// The access role of a token or user. Each role includes everything the roles below it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessRole {
    /// Reads everything except tokens and the audit log.
    Viewer,
    /// Runs incidents: declares, changes, assigns, checks off, writes notes.
    Responder,
    /// Everything, including tokens, users, services and the audit log.
    Admin,
}

impl AccessRole {
    pub fn allows(self, needed: AccessRole) -> bool {
        self >= needed
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AccessRole::Viewer => "viewer",
            AccessRole::Responder => "responder",
            AccessRole::Admin => "admin",
        }
    }
}

impl fmt::Display for AccessRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a role; expected viewer, responder or admin")]
pub struct BadAccessRole(pub String);

impl FromStr for AccessRole {
    type Err = BadAccessRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(AccessRole::Viewer),
            "responder" => Ok(AccessRole::Responder),
            "admin" => Ok(AccessRole::Admin),
            other => Err(BadAccessRole(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AccessRole::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Admin.allows(Responder) && Admin.allows(Viewer));
        assert!(Responder.allows(Viewer) && !Responder.allows(Admin));
        assert!(!Viewer.allows(Responder));
    }
}
