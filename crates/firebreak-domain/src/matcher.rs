//! Label matchers, written as Alertmanager writes them: `name="value"`, `name!="value"`,
//! `name=~"regex"`, `name!~"regex"`. Quotes are optional. Regexes are anchored, as in
//! Alertmanager, so `env=~"prod"` matches `prod` and not `preprod`.
//!
//! A matcher names a label; when the alert has no label of that name it looks at the alert's
//! field of that name instead (`severity`, `urgency`, `summary`, `source`, `service`,
//! `dedup_key`, `format`). A missing value matches like the empty string, as in Alertmanager.

use std::fmt;

use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a matcher: {reason}; write it like severity=\"critical\", env!=\"dev\" or service=~\"check.*\""
)]
pub struct MatcherError {
    pub text: String,
    pub reason: String,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

impl Matcher {
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, MatcherError> {
        let text = format!("{name}{}\"{value}\"", op.as_str());
        if !valid_name(name) {
            return Err(MatcherError {
                text,
                reason: "the label name must start with a letter or _ and hold only letters, digits, _, . or -".into(),
            });
        }
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$")).map_err(|e| MatcherError {
                    text: text.clone(),
                    reason: format!("bad regex: {}", e.to_string().lines().last().unwrap_or("")),
                })?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// Parses `name<op>value`, where the value may be in double quotes (with `\"` and `\\`).
    pub fn parse(text: &str) -> Result<Matcher, MatcherError> {
        let err = |reason: &str| MatcherError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let t = text.trim();
        let at = t
            .find(['=', '!'])
            .ok_or_else(|| err("no operator; use =, !=, =~ or !~"))?;
        let name = t[..at].trim();
        let rest = &t[at..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Equal, v)
        } else {
            return Err(err("no operator; use =, !=, =~ or !~"));
        };
        let value = value.trim();
        let value = if let Some(inner) = value.strip_prefix('"') {
            let inner = inner
                .strip_suffix('"')
                .ok_or_else(|| err("the value opens a quote it does not close"))?;
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => out.push('\n'),
                        Some(c) => out.push(c),
                        None => return Err(err("the value ends with a lone backslash")),
                    }
                } else {
                    out.push(c);
                }
            }
            out
        } else {
            value.to_string()
        };
        Matcher::new(name, op, &value).map_err(|e| MatcherError {
            text: text.to_string(),
            reason: e.reason,
        })
    }

    /// Whether the matcher holds for `value` (`None`: the alert has no such label or field).
    pub fn matches(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// True when every matcher holds; `lookup` gives the value of a name.
    pub fn all<'a>(matchers: &[Matcher], lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        matchers.iter().all(|m| m.matches(lookup(&m.name)))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped = self.value.replace('\\', "\\\\").replace('"', "\\\"");
        write!(f, "{}{}\"{}\"", self.name, self.op.as_str(), escaped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_four_operators() {
        let m = Matcher::parse(r#"severity="critical""#).unwrap();
        assert_eq!(
            (m.name.as_str(), m.op, m.value.as_str()),
            ("severity", MatchOp::Equal, "critical")
        );
        assert!(m.matches(Some("critical")));
        assert!(!m.matches(Some("warning")));
        let m = Matcher::parse("env != dev").unwrap();
        assert!(m.matches(None));
        assert!(!m.matches(Some("dev")));
        let m = Matcher::parse(r#"service=~"check.*""#).unwrap();
        assert!(m.matches(Some("checkout")));
        assert!(!m.matches(Some("precheckout")), "regexes are anchored");
        let m = Matcher::parse(r#"team!~"db|infra""#).unwrap();
        assert!(m.matches(Some("payments")));
        assert!(!m.matches(Some("db")));
    }

    #[test]
    fn errors_say_how_to_write_one() {
        let e = Matcher::parse("severity").unwrap_err();
        assert!(e.to_string().contains("no operator"), "{e}");
        assert!(
            Matcher::parse(r#"a=~"(""#)
                .unwrap_err()
                .reason
                .contains("bad regex")
        );
        assert!(Matcher::parse(r#"a="open"#).is_err());
        assert!(Matcher::parse(r#"1a="x""#).is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(name in "[a-z_][a-z0-9_]{0,10}", value in "\\PC{0,20}") {
            let m = Matcher::new(&name, MatchOp::Equal, &value).unwrap();
            let back = Matcher::parse(&m.to_string()).unwrap();
            prop_assert_eq!(back, m);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = Matcher::parse(&text);
        }
    }
}
