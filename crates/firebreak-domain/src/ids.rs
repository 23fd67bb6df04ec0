//! Identifiers that carry meaning: incident numbers and validated names.

use std::fmt;
use std::str::FromStr;

/// The human id of an incident, shown as `INC-42`. Numbers are sequential per store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncidentNumber(pub i64);

impl fmt::Display for IncidentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an incident id; expected a form like INC-42 or 42")]
pub struct BadIncidentNumber(pub String);

impl FromStr for IncidentNumber {
    type Err = BadIncidentNumber;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix("INC-")
            .or_else(|| s.strip_prefix("inc-"))
            .unwrap_or(s);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 && !digits.starts_with('+') => Ok(IncidentNumber(n)),
            _ => Err(BadIncidentNumber(s.to_string())),
        }
    }
}

/// A name used in URLs and config references: services, user handles.
/// 1 to 64 characters of lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a valid name: use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit"
)]
pub struct NameError(pub String);

impl Name {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
            });
        if ok {
            Ok(Name(s.to_string()))
        } else {
            Err(NameError(s.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_numbers_parse_both_forms() {
        assert_eq!("INC-7".parse(), Ok(IncidentNumber(7)));
        assert_eq!("7".parse(), Ok(IncidentNumber(7)));
        assert!("INC-0".parse::<IncidentNumber>().is_err());
        assert!("INC-x".parse::<IncidentNumber>().is_err());
        assert!("+7".parse::<IncidentNumber>().is_err());
        assert_eq!(IncidentNumber(42).to_string(), "INC-42");
    }

    #[test]
    fn names_are_url_safe() {
        assert!(Name::parse("checkout-api").is_ok());
        assert!(Name::parse("Checkout").is_err());
        assert!(Name::parse("").is_err());
        assert!(Name::parse("a/b").is_err());
        assert!(Name::parse(&"a".repeat(65)).is_err());
    }
}
