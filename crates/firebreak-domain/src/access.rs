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

/// Whom a token belongs to, as it stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenOwner {
    /// A token made for a machine, belonging to no user.
    Nobody,
    /// A user's token: it acts as them and can do no more than they can.
    User { role: AccessRole, disabled: bool },
    /// The token names a user who no longer exists.
    Missing,
}

/// What a token may do at `now`: its own role, capped by its user's current role. Nothing once
/// it has expired, or when its user is disabled or gone. This is the one rule every request is
/// authorised by.
pub fn effective_role(
    token_role: AccessRole,
    expires_at: Option<jiff::Timestamp>,
    owner: TokenOwner,
    now: jiff::Timestamp,
) -> Option<AccessRole> {
    if expires_at.is_some_and(|end| now >= end) {
        return None;
    }
    match owner {
        TokenOwner::Nobody => Some(token_role),
        TokenOwner::User { disabled: true, .. } | TokenOwner::Missing => None,
        TokenOwner::User { role, .. } => Some(token_role.min(role)),
    }
}

/// A token's lifetime as the CLI writes it: `90d`, `12h`, `2w`.
pub fn token_lifetime(text: &str) -> Option<jiff::SignedDuration> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = digits.parse().ok().filter(|n| *n > 0)?;
    let hours = match unit {
        "h" => n,
        "d" => n.checked_mul(24)?,
        "w" => n.checked_mul(24 * 7)?,
        _ => return None,
    };
    (hours <= 24 * 366 * 5).then(|| jiff::SignedDuration::from_hours(hours))
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
    fn a_token_can_do_no_more_than_its_user_and_nothing_once_expired_or_disabled() {
        use super::{TokenOwner, effective_role};
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let later = now + jiff::SignedDuration::from_hours(1);
        assert_eq!(
            effective_role(Admin, None, TokenOwner::Nobody, now),
            Some(Admin)
        );
        let responder = TokenOwner::User {
            role: Responder,
            disabled: false,
        };
        assert_eq!(effective_role(Admin, None, responder, now), Some(Responder));
        assert_eq!(effective_role(Viewer, None, responder, now), Some(Viewer));
        assert_eq!(
            effective_role(Admin, Some(later), responder, now),
            Some(Responder)
        );
        assert_eq!(effective_role(Admin, Some(now), responder, now), None);
        let disabled = TokenOwner::User {
            role: Admin,
            disabled: true,
        };
        assert_eq!(effective_role(Admin, None, disabled, now), None);
        assert_eq!(effective_role(Admin, None, TokenOwner::Missing, now), None);
    }

    #[test]
    fn lifetimes_read_as_hours_days_and_weeks() {
        use super::token_lifetime;
        use jiff::SignedDuration;
        assert_eq!(
            token_lifetime("90d"),
            Some(SignedDuration::from_hours(90 * 24))
        );
        assert_eq!(token_lifetime("12h"), Some(SignedDuration::from_hours(12)));
        assert_eq!(token_lifetime("2w"), Some(SignedDuration::from_hours(336)));
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "90",
            "90m",
            "1y",
            "99999999999999999999d",
            "6000d",
        ] {
            assert_eq!(token_lifetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Admin.allows(Responder) && Admin.allows(Viewer));
        assert!(Responder.allows(Viewer) && !Responder.allows(Admin));
        assert!(!Viewer.allows(Responder));
    }
}
