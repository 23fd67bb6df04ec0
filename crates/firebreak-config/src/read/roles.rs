//! The `roles` and `checklists` sections.

use firebreak_domain::config::{Checklist, Role};

use super::Reader;
use crate::node::{Node, Value};

pub(crate) const ROLE_KEYS: &[&str] = &["name", "key", "duty"];
pub(crate) const CHECKLIST_KEYS: &[&str] = &["name", "severities", "items"];

impl Reader<'_> {
    pub(super) fn role(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
    ) -> Option<Role> {
        let f = self.fields(node, path, ROLE_KEYS, "a role mapping with name and duty")?;
        let (name, name_node) = self.required_text(&f, "name")?;
        let duty = self.opt_text(&f, "duty").unwrap_or_default();
        let (key, key_node, key_path) = match f.get("key") {
            Some(key_node) => {
                let key = self.text_of(key_node, &f.path("key"))?;
                if key.is_empty() || Role::key_for(&key) != key {
                    self.error_at(
                        key_node,
                        &f.path("key"),
                        format!("invalid role key \"{key}\"; expected lowercase words joined by '-', like incident-commander"),
                    );
                    return None;
                }
                (key, key_node.clone(), f.path("key"))
            }
            None => {
                let key = Role::key_for(&name);
                if key.is_empty() {
                    self.error_at(
                        &name_node,
                        &f.path("name"),
                        format!("role name \"{name}\" has no letters or digits to make a key from"),
                    );
                    return None;
                }
                (key, name_node.clone(), f.path("name"))
            }
        };
        let before = self.errors.len();
        self.unique(seen, &key, &key_node, &key_path, "role key", &key);
        if self.errors.len() > before {
            return None;
        }
        Some(Role { key, name, duty })
    }

    pub(super) fn checklist(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        severities: &[String],
    ) -> Option<Checklist> {
        let f = self.fields(
            node,
            path,
            CHECKLIST_KEYS,
            "a checklist mapping with name, severities and items",
        )?;
        let name = self.required_text(&f, "name");
        if let Some((name, name_node)) = &name {
            self.unique(
                seen,
                &name.to_lowercase(),
                name_node,
                &f.path("name"),
                "checklist name",
                name,
            );
        }
        let mut for_severities = Vec::new();
        for (text, item, item_path) in self
            .text_list(&f, "severities", "[SEV1, SEV2]")
            .unwrap_or_default()
        {
            if let Some(s) = self.severity_ref(&text, &item, &item_path, severities) {
                for_severities.push(s);
            }
        }
        let items = match f.get("items") {
            None => {
                self.error_at(node, path, "missing required key \"items\"");
                None
            }
            Some(items_node) => {
                if matches!(&items_node.value, Value::Seq(v) if v.is_empty()) {
                    self.error_at(
                        items_node,
                        &f.path("items"),
                        "expected at least one checklist item",
                    );
                }
                let items = self.text_list(&f, "items", "[bridge opened, status page updated]")?;
                Some(items.into_iter().map(|(t, _, _)| t).collect())
            }
        };
        Some(Checklist {
            name: name?.0,
            severities: for_severities,
            items: items?,
        })
    }
}
