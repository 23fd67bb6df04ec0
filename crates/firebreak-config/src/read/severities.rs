//! The `severities` section: names, response targets, who is paged, the update cadence and
//! what a public incident of the severity shows on the status page.

use firebreak_domain::config::{PageTarget, ResponseTarget, Role, Severity};

use super::{DURATION_HINT, Reader, parse_duration};
use crate::node::{Node, Value};

pub(crate) const SEVERITY_KEYS: &[&str] = &[
    "name",
    "description",
    "respond_within",
    "page",
    "update_every",
    "requires_commander",
    "status_page",
];

impl Reader<'_> {
    pub(super) fn severity(
        &mut self,
        node: &Node,
        path: &str,
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
        })
    }
}
