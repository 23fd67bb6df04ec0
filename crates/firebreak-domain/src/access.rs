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

/// What a caller may do at `now`, and the break-glass grant that lets them, if one does. This
/// is the one rule every request is authorised by:
/// - a token's own role, capped by its user's current role; nothing once the token expired, or
///   when its user is disabled or gone;
/// - raised by the highest of the user's break-glass `grants` in force at `now`, when the token
///   carries the user's full role (a token made with less than its user's role stays as it
///   was made: a dashboard's viewer token never becomes an admin).
pub fn effective_role(
    token_role: AccessRole,
    expires_at: Option<jiff::Timestamp>,
    owner: TokenOwner,
    grants: &[crate::break_glass::Grant],
    now: jiff::Timestamp,
) -> Option<Effective> {
    if expires_at.is_some_and(|end| now >= end) {
        return None;
    }
    let (base, user_role) = match owner {
        TokenOwner::Nobody => return Some(Effective::plain(token_role)),
        TokenOwner::User { disabled: true, .. } | TokenOwner::Missing => return None,
        TokenOwner::User { role, .. } => (token_role.min(role), role),
    };
    let raised = grants
        .iter()
        .filter(|g| token_role >= user_role && g.in_force(now) && g.role > base)
        .max_by_key(|g| (g.role, std::cmp::Reverse(g.id)));
    Some(match raised {
        Some(g) => Effective {
            role: g.role,
            grant: Some(g.id),
        },
        None => Effective::plain(base),
    })
}

/// A caller's role now, and the break-glass grant it comes from, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    pub role: AccessRole,
    pub grant: Option<i64>,
}

impl Effective {
    pub fn plain(role: AccessRole) -> Effective {
        Effective { role, grant: None }
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
        use super::TokenOwner;
        let effective_role =
            |t, e, o, now| super::effective_role(t, e, o, &[], now).map(|e| e.role);
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
    fn a_grant_raises_a_full_token_while_in_force() {
        use super::{Effective, TokenOwner, effective_role};
        use crate::break_glass::Grant;
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let grant = Grant {
            id: 4,
            incident: crate::IncidentNumber(7),
            user: crate::Name::parse("ada").unwrap(),
            role: Admin,
            reason: "failover".into(),
            requested_at: now,
            duration: jiff::SignedDuration::from_mins(30),
            granted_at: Some(now),
            approved_by: None,
            ended_at: None,
            end_reason: None,
        };
        let responder = TokenOwner::User {
            role: Responder,
            disabled: false,
        };
        let grants = std::slice::from_ref(&grant);
        assert_eq!(
            effective_role(Responder, None, responder, grants, now),
            Some(Effective {
                role: Admin,
                grant: Some(4)
            })
        );
        // A token made with less than its user's role stays as it was made.
        assert_eq!(
            effective_role(Viewer, None, responder, grants, now),
            Some(Effective::plain(Viewer))
        );
        let later = now + jiff::SignedDuration::from_mins(30);
        assert_eq!(
            effective_role(Responder, None, responder, grants, later),
            Some(Effective::plain(Responder))
        );
        let disabled = TokenOwner::User {
            role: Responder,
            disabled: true,
        };
        assert_eq!(effective_role(Responder, None, disabled, grants, now), None);
        // A pending grant raises nothing.
        let pending = Grant {
            granted_at: None,
            ..grant.clone()
        };
        assert_eq!(
            effective_role(Responder, None, responder, &[pending], now),
            Some(Effective::plain(Responder))
        );
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
