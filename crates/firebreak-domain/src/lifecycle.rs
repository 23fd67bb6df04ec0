//! The incident lifecycle as a pure state machine:
//! `investigating -> identified -> mitigated -> resolved`.
//!
//! Moving forward may skip steps. A resolved incident may be reopened to `investigating`.
//! Every other backward move is refused with a reason a responder can act on.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Investigating,
    Identified,
    Mitigated,
    Resolved,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Investigating,
        Status::Identified,
        Status::Mitigated,
        Status::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Investigating => "investigating",
            Status::Identified => "identified",
            Status::Mitigated => "mitigated",
            Status::Resolved => "resolved",
        }
    }

    pub fn is_open(self) -> bool {
        self != Status::Resolved
    }

    /// Decides whether an incident in `self` may move to `to`.
    pub fn move_to(self, to: Status) -> Result<Move, TransitionError> {
        if self == to {
            Ok(Move::Unchanged)
        } else if to > self {
            Ok(Move::Forward)
        } else if self == Status::Resolved && to == Status::Investigating {
            Ok(Move::Reopen)
        } else {
            Err(TransitionError { from: self, to })
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a status; expected investigating, identified, mitigated or resolved")]
pub struct BadStatus(pub String);

impl FromStr for Status {
    type Err = BadStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| BadStatus(s.to_string()))
    }
}

/// What kind of move a permitted status change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// The incident already has that status: nothing changes.
    Unchanged,
    /// A step forward, possibly skipping steps.
    Forward,
    /// A resolved incident goes back to investigating.
    Reopen,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.reason())]
pub struct TransitionError {
    pub from: Status,
    pub to: Status,
}

impl TransitionError {
    pub fn reason(&self) -> String {
        if self.from == Status::Resolved {
            format!(
                "a resolved incident can only be reopened to investigating, not moved to {}",
                self.to
            )
        } else {
            format!(
                "an incident cannot move back from {} to {}; the lifecycle is investigating -> identified -> mitigated -> resolved",
                self.from, self.to
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = Status> {
        prop::sample::select(Status::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn forward_moves_are_always_allowed(a in status(), b in status()) {
            if b > a {
                prop_assert_eq!(a.move_to(b), Ok(Move::Forward));
            }
        }

        #[test]
        fn backward_moves_are_refused_except_reopen(a in status(), b in status()) {
            if b < a {
                let result = a.move_to(b);
                if a == Status::Resolved && b == Status::Investigating {
                    prop_assert_eq!(result, Ok(Move::Reopen));
                } else {
                    prop_assert!(result.is_err());
                }
            }
        }

        #[test]
        fn any_walk_of_allowed_moves_ends_in_a_valid_status(steps in prop::collection::vec(status(), 0..40)) {
            let mut current = Status::Investigating;
            let mut reopened = 0;
            for next in steps {
                match current.move_to(next) {
                    Ok(Move::Reopen) => { reopened += 1; current = next; }
                    Ok(_) => current = next,
                    Err(e) => prop_assert!(next < current && !e.reason().is_empty()),
                }
            }
            prop_assert!(reopened <= 40);
        }

        #[test]
        fn parse_round_trips(a in status()) {
            prop_assert_eq!(a.as_str().parse::<Status>(), Ok(a));
        }
    }

    #[test]
    fn same_status_is_unchanged() {
        for s in Status::ALL {
            assert_eq!(s.move_to(s), Ok(Move::Unchanged));
        }
    }
}
