//! Break-glass access: during an open incident a responder may take a higher role for a short
//! time, loudly. A grant ends by itself at its expiry or when its incident resolves, and
//! everything done under it is tagged with its id in the audit log.

use jiff::{SignedDuration, Timestamp};

use crate::access::AccessRole;
use crate::{IncidentNumber, Name};

/// `break_glass:` in `firebreak.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakGlassPolicy {
    /// The longest a grant may last.
    pub max: SignedDuration,
    /// Whether a grant waits for the incident's commander to approve it.
    pub approval: bool,
}

impl Default for BreakGlassPolicy {
    fn default() -> Self {
        BreakGlassPolicy {
            max: SignedDuration::from_hours(1),
            approval: false,
        }
    }
}

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    /// Waiting for the Incident Commander.
    PendingApproval,
    Active,
    /// Over: expired, revoked, refused, or its incident resolved.
    Ended,
}

impl GrantState {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::PendingApproval => "pending_approval",
            GrantState::Active => "active",
            GrantState::Ended => "ended",
        }
    }
}

/// A break-glass grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub incident: IncidentNumber,
    /// The user who holds it.
    pub user: Name,
    pub role: AccessRole,
    pub reason: String,
    pub requested_at: Timestamp,
    pub duration: SignedDuration,
    /// Set when it took effect (at once, or on approval).
    pub granted_at: Option<Timestamp>,
    pub approved_by: Option<String>,
    /// Set when it was ended before its expiry: revoked, refused, or its incident resolved.
    pub ended_at: Option<Timestamp>,
    pub end_reason: Option<String>,
}

impl Grant {
    /// When it stops by itself, once granted.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.granted_at.map(|g| g + self.duration)
    }

    pub fn state(&self, now: Timestamp) -> GrantState {
        if self.ended_at.is_some_and(|e| e <= now) {
            return GrantState::Ended;
        }
        match self.expires_at() {
            None => GrantState::PendingApproval,
            Some(end) if now < end => GrantState::Active,
            Some(_) => GrantState::Ended,
        }
    }

    pub fn in_force(&self, now: Timestamp) -> bool {
        self.state(now) == GrantState::Active
    }
}

/// Why a grant cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("{0} is resolved; break-glass access is only for open incidents")]
    Resolved(IncidentNumber),
    #[error("`duration` must be at most {max} (`break_glass.max`)")]
    TooLong { max: String },
    #[error("`duration` must be at least one minute")]
    TooShort,
    #[error("you already hold {held}; break-glass can only raise a role")]
    NotHigher { held: AccessRole },
    #[error("`reason` must say why (1 to 1000 characters)")]
    NoReason,
}

/// Checks a request for a grant: the incident must be open, the duration within the policy's
/// maximum, the role above what the caller holds, and the reason given.
pub fn check_request(
    policy: &BreakGlassPolicy,
    incident_number: IncidentNumber,
    incident_resolved: bool,
    held: AccessRole,
    role: AccessRole,
    duration: SignedDuration,
    reason: &str,
) -> Result<(), GrantError> {
    if incident_resolved {
        return Err(GrantError::Resolved(incident_number));
    }
    if duration < SignedDuration::from_mins(1) {
        return Err(GrantError::TooShort);
    }
    if duration > policy.max {
        return Err(GrantError::TooLong {
            max: minutes(policy.max),
        });
    }
    if role <= held {
        return Err(GrantError::NotHigher { held });
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(GrantError::NoReason);
    }
    Ok(())
}

/// `90m` as `1h30m`, the way `firebreak.yaml` writes it.
fn minutes(d: SignedDuration) -> String {
    let mins = (d.as_secs() + 59) / 60;
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn a_grant_holds_from_its_grant_until_expiry_or_its_end() {
        let mut g = Grant {
            id: 1,
            incident: IncidentNumber(7),
            user: Name::parse("ada").unwrap(),
            role: AccessRole::Admin,
            reason: "db failover".into(),
            requested_at: at(0),
            duration: SignedDuration::from_mins(30),
            granted_at: None,
            approved_by: None,
            ended_at: None,
            end_reason: None,
        };
        assert_eq!(g.state(at(1)), GrantState::PendingApproval);
        g.granted_at = Some(at(10));
        assert!(g.in_force(at(10)));
        assert!(g.in_force(at(10 + 1799)));
        assert!(!g.in_force(at(10 + 1800)));
        g.ended_at = Some(at(100));
        assert!(g.in_force(at(99)));
        assert_eq!(g.state(at(100)), GrantState::Ended);
    }

    #[test]
    fn requests_are_checked() {
        let p = BreakGlassPolicy::default();
        let n = IncidentNumber(7);
        let ok = |held, role, mins, reason: &str, resolved| {
            check_request(
                &p,
                n,
                resolved,
                held,
                role,
                SignedDuration::from_mins(mins),
                reason,
            )
        };
        use AccessRole::*;
        assert_eq!(ok(Responder, Admin, 30, "failover", false), Ok(()));
        assert_eq!(
            ok(Responder, Admin, 30, "failover", true),
            Err(GrantError::Resolved(n))
        );
        assert!(matches!(
            ok(Responder, Admin, 61, "x", false),
            Err(GrantError::TooLong { .. })
        ));
        assert_eq!(
            ok(Admin, Admin, 30, "x", false),
            Err(GrantError::NotHigher { held: Admin })
        );
        assert_eq!(
            ok(Responder, Admin, 30, "  ", false),
            Err(GrantError::NoReason)
        );
        assert_eq!(
            ok(Responder, Admin, 0, "x", false),
            Err(GrantError::TooShort)
        );
    }
}
