//! The `severities` section: names, response targets, who is paged, the update cadence,
//! what a public incident of the severity shows on the status page and what an open incident
//! of the severity freezes, until when.

use firebreak_domain::config::{PageTarget, ResponseTarget, Role, Severity};
use firebreak_domain::freeze::{FreezePolicy, FreezeScope, FreezeUntil, default_policy};

use super::{DURATION_HINT, Fields, Reader, parse_duration};
use crate::node::{Node, Value};

pub(crate) const SEVERITY_KEYS: &[&str] = &[
    "name",
    "description",
    "respond_within",
    "page",
    "update_every",
    "requires_commander",
    "status_page",
    "freeze",
    "freeze_until",
];

/// The scopes of `freeze`, as the file spells them: `services, all, none`.
fn scopes() -> String {
    FreezeScope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ends of `freeze_until`, as the file spells them: `mitigated, resolved`.
fn ends() -> String {
    FreezeUntil::ALL
        .iter()
        .map(|u| u.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Reader<'_> {
    /// The severity at `rank` in the list (0 is the most severe).
    pub(super) fn severity(
        &mut self,
        node: &Node,
        path: &str,
        rank: usize,
        seen: &mut Vec<(String, u64)>,
    ) -> Option<Severity> {
        let f = self.fields(
            node,
            path,
            SEVERITY_KEYS,
            "a severity mapping with name, respond_within, ...",
        )?;
        let name = self.required_text(&f, "name");
        if let Some((name, name_node)) = &name {
            self.unique(
                seen,
                &name.to_lowercase(),
                name_node,
                &f.path("name"),
                "severity name",
                name,
            );
        }
        let description = self.opt_text(&f, "description").unwrap_or_default();
        let respond_within = match f.get("respond_within") {
            None => {
                self.error_at(node, path, "missing required key \"respond_within\"");
                None
            }
            Some(n) => {
                let p = f.path("respond_within");
                match &n.value {
                    Value::Str(s) if Role::key_for(s) == "next-business-day" => {
                        Some(ResponseTarget::NextBusinessDay)
                    }
                    Value::Str(s) => match parse_duration(s) {
                        Some(d) => Some(ResponseTarget::Within(d)),
                        None => {
                            self.error_at(
                                n,
                                &p,
                                format!("invalid response target \"{s}\"; {DURATION_HINT}, or \"next business day\""),
                            );
                            None
                        }
                    },
                    _ => {
                        self.wrong_type(n, &p, "a duration like 15m or \"next business day\"");
                        None
                    }
                }
            }
        };
        let mut page = Vec::new();
        let mut page_ok = true;
        if let Some(targets) = self.text_list(&f, "page", "[on-call, manager]") {
            for (text, item, item_path) in targets {
                let target = match Role::key_for(&text).as_str() {
                    "on-call" | "oncall" => PageTarget::OnCall,
                    "manager" => PageTarget::Manager,
                    _ => {
                        self.error_at(
                            &item,
                            &item_path,
                            format!("unknown page target \"{text}\"; expected on-call or manager"),
                        );
                        page_ok = false;
                        continue;
                    }
                };
                if !page.contains(&target) {
                    page.push(target);
                }
            }
        } else if f.get("page").is_some() {
            page_ok = false;
        }
        // Before anything that gives up early, so its problems are reported too.
        let public = match f.get("status_page") {
            Some(n) => self.severity_effect(n, &f.path("status_page")).map(Some),
            None => Some(None),
        };
        let freeze = self.freeze_policy(&f, rank);
        let update_every = match f.get("update_every") {
            Some(n) => Some(self.duration(n, &f.path("update_every"))?),
            None => None,
        };
        let requires_commander = self.opt_bool(&f, "requires_commander");
        if f.get("requires_commander").is_some() && requires_commander.is_none() {
            return None;
        }
        let (name, _) = name?;
        if !page_ok {
            return None;
        }
        Some(Severity {
            name,
            description,
            respond_within: respond_within?,
            requires_commander: requires_commander.unwrap_or(!page.is_empty()),
            page,
            update_every,
            public: public?,
            freeze: freeze?,
        })
    }

    /// A severity's `freeze` and `freeze_until`: `Some(None)` when both are left out (the
    /// default for its rank applies), else the policy with the half left out taken from the
    /// default for its rank; `None` when either is invalid (reported).
    fn freeze_policy(&mut self, f: &Fields, rank: usize) -> Option<Option<FreezePolicy>> {
        let scope = self.freeze_word(
            f,
            "freeze",
            FreezeScope::parse,
            &format!(
                "what an open incident of this severity freezes, one of {}: services (its own \
                 services), all (every service) or none",
                scopes()
            ),
            "freeze scope",
            &scopes(),
        );
        let until = self.freeze_word(
            f,
            "freeze_until",
            FreezeUntil::parse,
            &format!(
                "when an incident's freeze ends, one of {}: when it is mitigated or resolved",
                ends()
            ),
            "freeze end",
            &ends(),
        );
        let (scope, until) = (scope?, until?);
        if scope.is_none() && until.is_none() {
            return Some(None);
        }
        let default = default_policy(rank);
        Some(Some(FreezePolicy {
            scope: scope.unwrap_or(default.scope),
            until: until.unwrap_or(default.until),
        }))
    }

    /// One of a fixed set of words at `key`: `Some(None)` when absent, `None` when it is not
    /// one of them (reported with `what` and the `words` expected).
    fn freeze_word<T>(
        &mut self,
        f: &Fields,
        key: &str,
        parse: fn(&str) -> Option<T>,
        expected: &str,
        what: &str,
        words: &str,
    ) -> Option<Option<T>> {
        let Some(node) = f.get(key) else {
            return Some(None);
        };
        let path = f.path(key);
        let Value::Str(text) = &node.value else {
            self.wrong_type(node, &path, expected);
            return None;
        };
        match parse(text) {
            Some(v) => Some(Some(v)),
            None => {
                self.error_at(
                    node,
                    &path,
                    format!("unknown {what} \"{text}\"; expected one of {words}"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeze_words_are_listed_as_the_file_spells_them() {
        assert_eq!(scopes(), "services, all, none");
        assert_eq!(ends(), "mitigated, resolved");
    }
}
