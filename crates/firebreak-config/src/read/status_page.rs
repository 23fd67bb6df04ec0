//! The `status_page` section: the public page's title and time zone, where it is served, its
//! links, the components it shows and the templates of public updates; and a severity's
//! `status_page`, what a public incident of that severity shows.
//!
//! The rules of a component live in `firebreak_domain::status_page`; this reads the file's
//! shape, checks each component's services against the services the file declares, and points
//! at the line of each problem.

use std::net::SocketAddr;

use firebreak_domain::config::{ComponentSpec, StatusPage};
use firebreak_domain::status_page::{
    Component, ComponentStatus, Impact, MAX_BODY, MAX_DESCRIPTION, MAX_NAME, PublicStatus,
    SeverityEffect,
};

use super::{Fields, Reader, check_public_url, join, locate, looks_like_http_url, written};
use crate::node::{Node, Value};

pub(crate) const STATUS_PAGE_KEYS: &[&str] = &[
    "title",
    "time_zone",
    "listen",
    "url",
    "logo_url",
    "site_url",
    "components",
    "templates",
];
pub(crate) const COMPONENT_KEYS: &[&str] = &["name", "description", "group", "services"];
/// The keys of `templates`: the public statuses, as [`PublicStatus::as_str`] spells them.
pub(crate) const TEMPLATE_KEYS: &[&str] =
    &["investigating", "identified", "monitoring", "resolved"];
/// The keys of a severity's `status_page`.
pub(crate) const EFFECT_KEYS: &[&str] = &["component_status", "impact"];

const EFFECT_EXAMPLE: &str = "{component_status: major_outage, impact: critical}";

/// The impacts a severity may have: all but `maintenance`, which only scheduled maintenance has.
fn severity_impacts() -> Vec<Impact> {
    Impact::ALL
        .into_iter()
        .filter(|i| *i != Impact::Maintenance)
        .collect()
}

fn words(impacts: &[Impact]) -> String {
    impacts
        .iter()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Reader<'_> {
    /// The `status_page` section; keys left out keep their defaults. A component's `services`
    /// must be among the `services` declared in the file.
    pub(super) fn status_page(&mut self, node: &Node, services: &[String]) -> Option<StatusPage> {
        let f = self.fields(
            node,
            "status_page",
            STATUS_PAGE_KEYS,
            "a mapping with title, time_zone, listen, url, logo_url, site_url, components and \
             templates",
        )?;
        let mut page = StatusPage::default();
        if let Some(n) = f.get("title")
            && let Some(title) = self.text_of(n, &f.path("title"))
        {
            if title.trim().is_empty() {
                self.error_at(
                    n,
                    &f.path("title"),
                    "expected non-empty text: the page's title, like Example Status",
                );
            } else {
                page.title = title;
            }
        }
        if let Some(n) = f.get("time_zone")
            && let Some(tz) = self.text_of(n, &f.path("time_zone"))
        {
            if jiff::tz::TimeZone::get(&tz).is_ok() {
                page.time_zone = tz;
            } else {
                self.error_at(
                    n,
                    &f.path("time_zone"),
                    format!(
                        "unknown time zone \"{tz}\"; expected an IANA name like Europe/Berlin \
                         or America/New_York"
                    ),
                );
            }
        }
        if let Some((listen, _)) = self.listen_address(&f, "0.0.0.0:8081 or [::]:8081") {
            page.listen = Some(listen);
        }
        if let Some(n) = f.get("url")
            && let Some(text) = self.text_of(n, &f.path("url"))
        {
            match check_public_url(&text) {
                Ok(url) => page.url = Some(url),
                Err(message) => self.error_at(n, &f.path("url"), message),
            }
        }
        page.logo_url = self.link(&f, "logo_url", "https://example.com/logo.png");
        // The page's Content-Security-Policy loads images over https (or from itself): an
        // http:// logo elsewhere would never show.
        if let (Some(logo), Some(node)) = (&page.logo_url, f.get("logo_url"))
            && !logo.to_ascii_lowercase().starts_with("https://")
        {
            self.error_at(
                node,
                &f.path("logo_url"),
                format!(
                    "logo_url \"{logo}\" must be an https:// URL: the status page loads images \
                     over https only, so browsers would not show it"
                ),
            );
            page.logo_url = None;
        }
        page.site_url = self.link(&f, "site_url", "https://example.com");
        if let Some(n) = f.get("components")
            && let Some(items) = self.section(n, &f.path("components"))
        {
            let path = f.path("components");
            // Every component's name, so a group can be checked against components written
            // after it.
            let names: Vec<String> = items.iter().filter_map(|c| written(c, "name")).collect();
            let mut seen = Vec::new();
            page.components = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    self.component(item, &format!("{path}[{i}]"), &mut seen, &names, services)
                })
                .collect();
        }
        if let Some(n) = f.get("templates") {
            page.templates = self.templates(n, &f.path("templates"));
        }
        Some(page)
    }

    /// An optional `listen` address: an IP address and a port, like `example`.
    pub(super) fn listen_address<'n>(
        &mut self,
        f: &Fields<'n>,
        example: &str,
    ) -> Option<(String, &'n Node)> {
        let n = f.get("listen")?;
        let listen = self.text_of(n, &f.path("listen"))?;
        if listen.parse::<SocketAddr>().is_ok() {
            Some((listen, n))
        } else {
            self.error_at(
                n,
                &f.path("listen"),
                format!(
                    "invalid listen address \"{listen}\"; expected an IP address and a port, \
                     like {example}"
                ),
            );
            None
        }
    }

    /// An optional http(s) link shown on the page, like its logo.
    pub(super) fn link(&mut self, f: &Fields, key: &str, example: &str) -> Option<String> {
        let node = f.get(key)?;
        let url = self.text_of(node, &f.path(key))?;
        if looks_like_http_url(&url) {
            Some(url)
        } else {
            self.error_at(
                node,
                &f.path(key),
                format!(
                    "invalid {key} \"{url}\"; expected an http:// or https:// URL, like {example}"
                ),
            );
            None
        }
    }

    fn component(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
        names: &[String],
        services: &[String],
    ) -> Option<ComponentSpec> {
        let f = self.fields(
            node,
            path,
            COMPONENT_KEYS,
            "a component mapping with name, description, group and services",
        )?;
        let before = self.errors.len();
        let name = self.component_name(&f);
        if let Some((name, name_node)) = &name {
            // Case-sensitive, as updates and the API refer to components.
            self.unique(
                seen,
                name,
                name_node,
                &f.path("name"),
                "component name",
                name,
            );
        }
        let description = self.opt_text(&f, "description");
        if let (Some(d), Some(n)) = (&description, f.get("description")) {
            let length = d.chars().count();
            if length > MAX_DESCRIPTION {
                self.error_at(
                    n,
                    &f.path("description"),
                    format!("must be at most {MAX_DESCRIPTION} characters, found {length}"),
                );
            }
        }
        let group = self.opt_text(&f, "group");
        if let (Some(g), Some(n)) = (&group, f.get("group")) {
            let own = name.as_ref().map(|(name, _)| name.as_str());
            if g.trim().is_empty()
                || g.chars().count() > MAX_NAME
                || g.chars().any(char::is_control)
            {
                self.error_at(
                    n,
                    &f.path("group"),
                    format!(
                        "invalid group \"{}\"; expected 1 to {MAX_NAME} characters, with no \
                         control characters",
                        g.escape_debug()
                    ),
                );
            } else if own == Some(g.as_str()) {
                self.error_at(
                    n,
                    &f.path("group"),
                    format!(
                        "group \"{g}\" is the component's own name; a group holds other \
                         components: leave group out, or name the group differently"
                    ),
                );
            } else if names.iter().any(|c| c == g) {
                self.error_at(
                    n,
                    &f.path("group"),
                    format!(
                        "group \"{g}\" is also the name of a component; a group and a component \
                         cannot share a name: rename the group or the component"
                    ),
                );
            }
        }
        let component_services = self.service_refs(&f, services);
        let (name, _) = name?;
        if self.errors.len() > before {
            return None;
        }
        let spec = ComponentSpec {
            name,
            description,
            group,
            services: component_services,
        };
        // What the reader has not checked itself, should the domain's rules grow.
        let component = Component {
            id: String::new(),
            name: spec.name.clone(),
            description: spec.description.clone(),
            group: spec.group.clone(),
            services: spec.services.clone(),
            position: 1,
            manual: None,
            from_config: true,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
        };
        if let Err(e) = component.check() {
            self.error_at(locate(node, e.field), &join(path, e.field), e.message);
            return None;
        }
        Some(spec)
    }

    /// A component's `name`: 1 to [`MAX_NAME`] characters, no control characters, no spaces
    /// around it.
    fn component_name(&mut self, f: &Fields) -> Option<(String, Node)> {
        let (name, node) = self.required_text(f, "name")?;
        let length = name.chars().count();
        let problem = if name.trim() != name {
            Some("must not start or end with spaces".to_string())
        } else if length > MAX_NAME {
            Some(format!(
                "must be at most {MAX_NAME} characters, found {length}"
            ))
        } else if name.chars().any(char::is_control) {
            Some("must not contain control characters".to_string())
        } else {
            None
        };
        match problem {
            Some(problem) => {
                self.error_at(
                    &node,
                    &f.path("name"),
                    format!(
                        "invalid component name \"{}\": {problem}",
                        name.escape_debug()
                    ),
                );
                None
            }
            None => Some((name, node)),
        }
    }

    /// `templates`: the text of a public update by status, in status order.
    fn templates(&mut self, node: &Node, path: &str) -> Vec<(PublicStatus, String)> {
        let Some(f) = self.fields(
            node,
            path,
            TEMPLATE_KEYS,
            "a mapping from public statuses (investigating, identified, monitoring, resolved) \
             to the text of their updates",
        ) else {
            return Vec::new();
        };
        let mut templates = Vec::new();
        // The YAML parser refuses a key written twice, so each status comes once at most.
        for (key, value) in &f.entries {
            // Like any other key, `null` means it is not set.
            if matches!(value.value, Value::Null) {
                continue;
            }
            let key_path = f.path(key);
            let Some(text) = self.text_of(value, &key_path) else {
                continue;
            };
            let length = text.chars().count();
            if text.trim().is_empty() {
                self.error_at(
                    value,
                    &key_path,
                    "expected non-empty text: the update posted with this status, where \
                     {components} stands for the names of the incident's components; leave \
                     the key out to use the default",
                );
            } else if length > MAX_BODY {
                self.error_at(
                    value,
                    &key_path,
                    format!("must be at most {MAX_BODY} characters, found {length}"),
                );
            } else if let Some(status) = PublicStatus::parse(key) {
                templates.push((status, text));
            }
        }
        // Kept in status order, so reading an exported file gives the same config back.
        templates.sort_by_key(|(status, _)| *status);
        templates
    }

    /// A severity's `status_page`: what the components of its public incidents show, and the
    /// incidents' impact.
    pub(super) fn severity_effect(&mut self, node: &Node, path: &str) -> Option<SeverityEffect> {
        let f = self.fields(
            node,
            path,
            EFFECT_KEYS,
            &format!("a mapping with component_status and impact, like {EFFECT_EXAMPLE}"),
        )?;
        let statuses = ComponentStatus::expected();
        let component_status = match f.get("component_status") {
            None => {
                self.error_at(
                    f.node,
                    &f.path,
                    format!(
                        "missing required key \"component_status\": what the components of this \
                         severity's public incidents show, one of {statuses}"
                    ),
                );
                None
            }
            Some(n) => {
                let text = self.text_of(n, &f.path("component_status"));
                text.and_then(|text| {
                    let status = ComponentStatus::parse(&text);
                    if status.is_none() {
                        self.error_at(
                            n,
                            &f.path("component_status"),
                            format!(
                                "unknown component status \"{text}\"; expected one of {statuses}"
                            ),
                        );
                    }
                    status
                })
            }
        };
        let allowed = severity_impacts();
        let impacts = words(&allowed);
        let impact = match f.get("impact") {
            None => {
                self.error_at(
                    f.node,
                    &f.path,
                    format!(
                        "missing required key \"impact\": the impact of this severity's public \
                         incidents, one of {impacts}"
                    ),
                );
                None
            }
            Some(n) => {
                let text = self.text_of(n, &f.path("impact"));
                text.and_then(|text| match Impact::parse(&text) {
                    Some(impact) if allowed.contains(&impact) => Some(impact),
                    Some(_) => {
                        self.error_at(
                            n,
                            &f.path("impact"),
                            format!(
                                "impact \"{text}\" is for scheduled maintenance, not incidents; \
                                 expected one of {impacts}"
                            ),
                        );
                        None
                    }
                    None => {
                        self.error_at(
                            n,
                            &f.path("impact"),
                            format!("unknown impact \"{text}\"; expected one of {impacts}"),
                        );
                        None
                    }
                })
            }
        };
        Some(SeverityEffect {
            component_status: component_status?,
            impact: impact?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_keys_are_the_public_statuses() {
        let statuses: Vec<&str> = PublicStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(statuses, TEMPLATE_KEYS);
    }

    #[test]
    fn a_severity_has_every_impact_but_maintenance() {
        assert_eq!(words(&severity_impacts()), "none, minor, major, critical");
    }
}
