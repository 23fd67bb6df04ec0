//! The `review` section: after how long a missing postmortem is chased, for which severities,
//! and which blameless-language rules postmortems are checked with.

use jiff::SignedDuration;

use firebreak_domain::blameless::{self, BUILT_IN, ExtraRule, RuleError};
use firebreak_domain::config::Review;

use super::{Declared, Fields, Reader};
use crate::node::{Node, Value};

pub(crate) const REVIEW_KEYS: &[&str] = &["remind_after", "remind_severities", "blameless"];
pub(crate) const BLAMELESS_KEYS: &[&str] = &["disable", "rules"];
pub(crate) const BLAMELESS_RULE_KEYS: &[&str] = &["id", "pattern", "reason", "suggestion"];

/// The range of `remind_after`: an hour to 90 days.
const REMIND_AFTER: (SignedDuration, SignedDuration) = (
    SignedDuration::from_hours(1),
    SignedDuration::from_hours(24 * 90),
);

impl Reader<'_> {
    /// The `review` section; keys left out keep their defaults (a reminder after 5 days for
    /// the two most severe severities, every built-in blameless rule and no others).
    pub(super) fn review(&mut self, node: &Node, declared: &Declared) -> Option<Review> {
        let f = self.fields(
            node,
            "review",
            REVIEW_KEYS,
            "a mapping with remind_after, remind_severities and blameless, like \
             {remind_after: 5d, remind_severities: [SEV1, SEV2]}",
        )?;
        let mut review = Review::default();
        if let Some(after) = self.bounded_duration(
            &f,
            "remind_after",
            REMIND_AFTER,
            "1h to 90d",
            "how long after an incident resolves its commander is reminded of a postmortem \
             still unpublished, e.g. 5d",
        ) {
            review.remind_after = after;
        }
        if let Some(items) = self.text_list(&f, "remind_severities", "[SEV1, SEV2]") {
            let mut severities: Vec<String> = Vec::new();
            let mut listed: Vec<(String, u64)> = Vec::new();
            for (text, item, item_path) in items {
                let Some(name) = self.severity_ref(&text, &item, &item_path, &declared.severities)
                else {
                    continue;
                };
                if let Some(line) = super::first_seen(&mut listed, &name, &item) {
                    self.error_at(
                        &item,
                        &item_path,
                        format!("severity \"{name}\" is listed twice; first on line {line}"),
                    );
                    continue;
                }
                severities.push(name);
            }
            review.remind_severities = Some(severities);
        }
        if let Some(n) = f.get("blameless") {
            self.blameless(n, &f.path("blameless"), &mut review);
        }
        Some(review)
    }

    /// `review.blameless`: built-in rules disabled by id and the team's own rules, checked
    /// the way the engine builds them, so `firebreak check` refuses what a postmortem check
    /// would.
    fn blameless(&mut self, node: &Node, path: &str, review: &mut Review) {
        let Some(f) = self.fields(
            node,
            path,
            BLAMELESS_KEYS,
            "a mapping with disable (built-in rule ids) and rules (the team's own), like \
             {disable: [should-have]}",
        ) else {
            return;
        };
        let mut disable: Vec<String> = Vec::new();
        for (id, item, item_path) in self
            .text_list(&f, "disable", "[should-have, failed-to]")
            .unwrap_or_default()
        {
            if !BUILT_IN.contains(&id.as_str()) {
                let e = RuleError::UnknownRule { id };
                self.error_at(&item, &item_path, e.to_string());
                continue;
            }
            disable.push(id);
        }
        let mut rules: Vec<(ExtraRule, Node, String)> = Vec::new();
        if let Some(n) = f.get("rules") {
            let rules_path = f.path("rules");
            match &n.value {
                Value::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let item_path = format!("{rules_path}[{i}]");
                        if let Some(rule) = self.blameless_rule(item, &item_path) {
                            rules.push((rule, item.clone(), item_path));
                        }
                    }
                }
                _ => self.wrong_type(
                    n,
                    &rules_path,
                    "a list of rules, each with id, pattern, reason and suggestion",
                ),
            }
        }
        // Each rule on its own, then the set as the engine builds it: an id taken twice (or
        // a built-in one that is not disabled) is reported at the later rule.
        let mut accepted: Vec<ExtraRule> = Vec::new();
        for (rule, item, item_path) in rules {
            let mut with = accepted.clone();
            with.push(rule.clone());
            match blameless::Rules::configured(&disable, &with) {
                Ok(_) => accepted.push(rule),
                Err(e) => {
                    let (at, at_path) = match &e {
                        RuleError::BadPattern { .. } => ("pattern", format!("{item_path}.pattern")),
                        RuleError::Missing { field, .. } => {
                            (*field, format!("{item_path}.{field}"))
                        }
                        _ => ("id", format!("{item_path}.id")),
                    };
                    self.error_at(super::locate(&item, at), &at_path, e.to_string());
                }
            }
        }
        review.blameless_disable = disable;
        review.blameless_rules = accepted;
    }

    /// One of the team's rules, with every key present and written as text.
    fn blameless_rule(&mut self, node: &Node, path: &str) -> Option<ExtraRule> {
        let f: Fields = self.fields(
            node,
            path,
            BLAMELESS_RULE_KEYS,
            "a mapping with id, pattern, reason and suggestion",
        )?;
        let id = self.required_text(&f, "id");
        let pattern = self.required_text(&f, "pattern");
        let reason = self.required_text(&f, "reason");
        let suggestion = self.required_text(&f, "suggestion");
        Some(ExtraRule {
            id: id?.0,
            pattern: pattern?.0,
            reason: reason?.0,
            suggestion: suggestion?.0,
        })
    }
}
