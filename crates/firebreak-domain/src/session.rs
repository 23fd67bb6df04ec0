//! Signing in to the web: browser sessions, the invitations that let a user set a password,
//! and the backoff that slows guessing after failed sign-ins. Pure rules; the engine stores
//! the records and hashes the secrets.

use jiff::{SignedDuration, Timestamp};

use crate::Name;

/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: SignedDuration = SignedDuration::from_hours(12);
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_TIMEOUT: SignedDuration = SignedDuration::from_hours(24 * 7);
/// How stale `last_seen_at` may be before a request writes it again: the idle timeout is
/// this coarse, and a busy page does not write on every request.
pub const TOUCH_EVERY: SignedDuration = SignedDuration::from_secs(60);
/// How long an invitation link works, unless the inviter says otherwise.
pub const INVITATION_TTL: SignedDuration = SignedDuration::from_hours(72);
/// The longest an invitation may be made to last.
pub const INVITATION_MAX: SignedDuration = SignedDuration::from_hours(24 * 14);

/// How a session was signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    Password,
    /// Single sign-on through the configured OpenID provider.
    Oidc,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::Oidc => "oidc",
        }
    }
    pub fn parse(s: &str) -> Option<SignInMethod> {
        match s {
            "password" => Some(SignInMethod::Password),
            "oidc" => Some(SignInMethod::Oidc),
            _ => None,
        }
    }
}

/// A signed-in browser. Only the SHA-256 of its id is stored: the id itself lives in the
/// browser's cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    pub user: Name,
    pub method: SignInMethod,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// The absolute end: `created_at` plus [`ABSOLUTE_TIMEOUT`].
    pub expires_at: Timestamp,
    /// Set by sign-out, "sign out everywhere", a password change or disabling the user.
    pub revoked_at: Option<Timestamp>,
    /// The peer address that signed in.
    pub source: Option<String>,
}

impl Session {
    pub fn start(
        id_hash: String,
        user: Name,
        method: SignInMethod,
        now: Timestamp,
        source: Option<String>,
    ) -> Session {
        Session {
            id_hash,
            user,
            method,
            created_at: now,
            last_seen_at: now,
            expires_at: now.saturating_add(ABSOLUTE_TIMEOUT).unwrap_or(now),
            revoked_at: None,
            source,
        }
    }

    /// When the session ends if nothing else happens: the sooner of the idle and absolute
    /// timeouts.
    pub fn ends_at(&self) -> Timestamp {
        let idle = self
            .last_seen_at
            .saturating_add(IDLE_TIMEOUT)
            .unwrap_or(self.last_seen_at);
        idle.min(self.expires_at)
    }

    /// Whether the session still signs its browser in at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.ends_at()
    }

    /// Whether a request at `now` should record itself as the session's last activity.
    pub fn needs_touch(&self, now: Timestamp) -> bool {
        now.duration_since(self.last_seen_at) >= TOUCH_EVERY
    }
}

/// What an invitation link lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationFor {
    /// Set the password of this existing user.
    User(Name),
    /// Create the first admin: made at start while nobody can sign in.
    FirstAdmin,
}

/// A one-time link to set a password. Only the SHA-256 of its secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub token_hash: String,
    pub target: InvitationFor,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// Why an invitation link does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationRefusal {
    Used,
    Expired,
}

impl Invitation {
    /// Whether the link may be used at `now`.
    pub fn check(&self, now: Timestamp) -> Result<(), InvitationRefusal> {
        if self.used_at.is_some() {
            Err(InvitationRefusal::Used)
        } else if now >= self.expires_at {
            Err(InvitationRefusal::Expired)
        } else {
            Ok(())
        }
    }
}

/// The failed sign-ins counted against one key: an account (`user:alice`) or a peer address
/// (`ip:203.0.113.9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub last_at: Timestamp,
}

/// How sign-ins back off after failures against one key: the first `free` failures cost
/// nothing; after that each failure doubles the wait before the next attempt is heard, from
/// one second up to `max`. Failures older than `forget_after` are forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub free: u32,
    pub max: SignedDuration,
    pub forget_after: SignedDuration,
}

/// Per account from one source (an address, or an IPv6 /64): five tries, then waits up to
/// 15 minutes. A stranger guessing from elsewhere does not slow the owner down.
pub const ACCOUNT_BACKOFF: Backoff = Backoff {
    free: 5,
    max: SignedDuration::from_mins(15),
    forget_after: SignedDuration::from_hours(1),
};

/// Per account from every source together: a ceiling for guessing spread over many
/// addresses, high enough that a stranger alone is unlikely to reach it.
pub const ACCOUNT_ANY_SOURCE_BACKOFF: Backoff = Backoff {
    free: 50,
    max: SignedDuration::from_mins(15),
    forget_after: SignedDuration::from_hours(1),
};

/// Per source address (an IPv6 /64): more tries (a shared office address), then waits up to 15 minutes.
pub const ADDRESS_BACKOFF: Backoff = Backoff {
    free: 20,
    max: SignedDuration::from_mins(15),
    forget_after: SignedDuration::from_hours(1),
};

impl Backoff {
    /// The failures that still count at `now`.
    pub fn counted(&self, failures: Option<Failures>, now: Timestamp) -> u32 {
        match failures {
            Some(f) if now.duration_since(f.last_at) < self.forget_after => f.count,
            _ => 0,
        }
    }

    /// Until when a sign-in against this key is refused without being checked, if it is.
    pub fn refused_until(&self, failures: Option<Failures>, now: Timestamp) -> Option<Timestamp> {
        let f = failures?;
        let count = self.counted(Some(f), now);
        if count < self.free {
            return None;
        }
        let doublings = (count - self.free).min(20);
        let wait = SignedDuration::from_secs(1i64 << doublings).min(self.max);
        let until = f.last_at.saturating_add(wait).ok()?;
        (now < until).then_some(until)
    }
}

/// The shortest password Firebreak accepts.
pub const PASSWORD_MIN: usize = 12;
/// The longest: argon2 takes any length, but a megabyte of password is a denial of service.
pub const PASSWORD_MAX: usize = 1024;

/// Checks a new password's shape, with the reason it is refused.
pub fn check_password(password: &str, handle: &str) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN {
        return Err("must be at least 12 characters; a short sentence is easier to remember");
    }
    if password.len() > PASSWORD_MAX {
        return Err("must be at most 1024 bytes");
    }
    if password.eq_ignore_ascii_case(handle) {
        return Err("must not be the user's handle");
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(' '))
    {
        return Err("must not be one character repeated");
    }
    Ok(())
}

/// How long a session or an invitation link is kept after it ended (revoked, timed out, used
/// or expired), then deleted. Sign-ins and sign-outs are in the audit log; this keeps a week
/// of ended rows for looking into a recent one.
pub const KEEP_ENDED: SignedDuration = SignedDuration::from_hours(24 * 7);

/// Every backoff a sign-in counts failures for: failed sign-ins are kept as long as the
/// longest of them still counts them.
pub const BACKOFFS: [Backoff; 3] = [ACCOUNT_BACKOFF, ACCOUNT_ANY_SOURCE_BACKOFF, ADDRESS_BACKOFF];

/// Which sign-in rows may be deleted at an instant: the store deletes what ended before these
/// instants, and keeps everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInPrune {
    /// A session revoked, or past its absolute end, before this instant, or invitation link
    /// used or expired before it, ended more than [`KEEP_ENDED`] ago.
    pub ended_before: Timestamp,
    /// A session last seen before this instant timed out idle more than [`KEEP_ENDED`] ago.
    pub seen_before: Timestamp,
    /// Failed sign-ins last counted before this instant no longer count for any backoff.
    pub failed_before: Timestamp,
}

impl SignInPrune {
    /// What may be deleted at `now`.
    pub fn at(now: Timestamp) -> SignInPrune {
        let ended_before = now.saturating_sub(KEEP_ENDED).unwrap_or(now);
        let forget_after = BACKOFFS
            .iter()
            .map(|b| b.forget_after)
            .max()
            .unwrap_or(SignedDuration::ZERO);
        SignInPrune {
            ended_before,
            seen_before: ended_before
                .saturating_sub(IDLE_TIMEOUT)
                .unwrap_or(ended_before),
            failed_before: now.saturating_sub(forget_after).unwrap_or(now),
        }
    }

    /// Whether `session` may be deleted: it ended before `ended_before`.
    pub fn session(&self, session: &Session) -> bool {
        session.revoked_at.is_some_and(|r| r < self.ended_before)
            || session.ends_at() < self.ended_before
    }

    /// Whether `invitation` may be deleted: used or expired before `ended_before`.
    pub fn invitation(&self, invitation: &Invitation) -> bool {
        invitation.used_at.is_some_and(|u| u < self.ended_before)
            || invitation.expires_at < self.ended_before
    }

    /// Whether the failures counted against a key may be deleted: no backoff counts them.
    pub fn failures(&self, failures: &Failures) -> bool {
        failures.last_at < self.failed_before
    }
}

/// Whether `next` is a safe place to send a browser after sign-in: a path on this server,
/// never another host (`//evil.example`, `/\evil.example`, `https://...`).
pub fn safe_next(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\')
        && next.len() <= 2048
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    /// Alice's session, signed in at 0.
    fn alices_session() -> Session {
        Session::start(
            "h".into(),
            Name::parse("alice").unwrap(),
            SignInMethod::Password,
            at(0),
            None,
        )
    }

    #[test]
    fn sessions_end_idle_or_absolute() {
        let mut s = alices_session();
        assert!(s.is_live(at(11 * 3600)));
        assert!(!s.is_live(at(12 * 3600)));
        // Busy all week: the absolute timeout still ends it.
        s.last_seen_at = at(7 * 86400 - 10);
        assert!(s.is_live(at(7 * 86400 - 1)));
        assert!(!s.is_live(at(7 * 86400)));
        s.revoked_at = Some(at(1));
        assert!(!s.is_live(at(2)));
        assert!(!s.needs_touch(at(7 * 86400 + 30)));
        assert!(s.needs_touch(at(7 * 86400 + 60)));
    }

    #[test]
    fn backoff_doubles_after_the_free_tries() {
        let b = ACCOUNT_BACKOFF;
        let f = |count| {
            Some(Failures {
                count,
                last_at: at(0),
            })
        };
        assert_eq!(b.refused_until(f(4), at(0)), None);
        assert_eq!(b.refused_until(f(5), at(0)), Some(at(1)));
        assert_eq!(b.refused_until(f(7), at(0)), Some(at(4)));
        assert_eq!(b.refused_until(f(7), at(4)), None);
        assert_eq!(b.refused_until(f(60), at(0)), Some(at(900)));
        // Forgotten after an hour.
        assert_eq!(b.counted(f(60), at(3600)), 0);
        assert_eq!(b.refused_until(f(60), at(3600)), None);
    }

    /// A first-admin link made at 0 that expires at 100.
    fn setup_link() -> Invitation {
        Invitation {
            token_hash: "t".into(),
            target: InvitationFor::FirstAdmin,
            created_by: "firebreak".into(),
            created_at: at(0),
            expires_at: at(100),
            used_at: None,
        }
    }

    #[test]
    fn invitations_work_once_and_not_late() {
        let mut i = setup_link();
        assert_eq!(i.check(at(99)), Ok(()));
        assert_eq!(i.check(at(100)), Err(InvitationRefusal::Expired));
        i.used_at = Some(at(5));
        assert_eq!(i.check(at(6)), Err(InvitationRefusal::Used));
    }

    #[test]
    fn next_stays_on_this_server() {
        for ok in ["/", "/incidents/4", "/incidents?open=1"] {
            assert!(safe_next(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/x\ny",
            "/a\\b",
        ] {
            assert!(!safe_next(bad), "{bad}");
        }
    }

    #[test]
    fn passwords_have_a_floor() {
        assert!(check_password("short", "alice").is_err());
        assert!(check_password("aaaaaaaaaaaaaa", "alice").is_err());
        assert!(check_password("correct horse battery", "alice").is_ok());
    }

    #[test]
    fn ended_sign_in_rows_are_kept_a_week() {
        let week = KEEP_ENDED.as_secs();
        let mut s = alices_session();
        // Idle since sign-in: ended at 12 h, deleted a week after that.
        let idle_end = 12 * 3600;
        assert!(!SignInPrune::at(at(idle_end + week)).session(&s));
        assert!(SignInPrune::at(at(idle_end + week + 1)).session(&s));
        // Busy all week: ends at the absolute timeout.
        s.last_seen_at = at(7 * 86400 - 1);
        assert!(!SignInPrune::at(at(7 * 86400 + week)).session(&s));
        assert!(SignInPrune::at(at(7 * 86400 + week + 1)).session(&s));
        // Revoked early: kept a week after the revocation.
        s.revoked_at = Some(at(10));
        assert!(!SignInPrune::at(at(10 + week)).session(&s));
        assert!(SignInPrune::at(at(11 + week)).session(&s));
        let prune = SignInPrune::at(at(idle_end + week + 1));
        assert_eq!(prune.seen_before, at(1));
        assert_eq!(prune.ended_before, at(idle_end + 1));

        let mut i = setup_link();
        assert!(!SignInPrune::at(at(100 + week)).invitation(&i));
        assert!(SignInPrune::at(at(101 + week)).invitation(&i));
        i.used_at = Some(at(5));
        assert!(SignInPrune::at(at(6 + week)).invitation(&i));

        // Failures go once no backoff counts them any more.
        let f = Failures {
            count: 3,
            last_at: at(0),
        };
        for b in BACKOFFS {
            assert!(!SignInPrune::at(at(0) + b.forget_after).failures(&f));
            assert_eq!(b.counted(Some(f), at(0) + b.forget_after), 0);
        }
        assert!(SignInPrune::at(at(3601)).failures(&f));
    }
}
