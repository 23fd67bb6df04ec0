//! The `users` section: handles, display names, emails and time zones.

use firebreak_domain::config::User;

use super::{Reader, looks_like_email};
use crate::node::Node;

pub(crate) const USER_KEYS: &[&str] = &["handle", "name", "email", "time_zone"];

impl Reader<'_> {
    pub(super) fn user(
        &mut self,
        node: &Node,
        path: &str,
        seen: &mut Vec<(String, u64)>,
    ) -> Option<User> {
        let f = self.fields(
            node,
            path,
            USER_KEYS,
            "a user mapping with handle, name, email and time_zone",
        )?;
        let handle = self.name(&f, "handle");
        if let Some((handle, handle_node)) = &handle {
            self.unique(
                seen,
                handle.as_str(),
                handle_node,
                &f.path("handle"),
                "user handle",
                handle.as_str(),
            );
        }
        let name = self.opt_text(&f, "name");
        let mut ok = true;
        let email = match f.get("email") {
            Some(n) => {
                let email = self.text_of(n, &f.path("email"));
                if let Some(e) = &email
                    && !looks_like_email(e)
                {
                    self.error_at(
                        n,
                        &f.path("email"),
                        format!(
                            "invalid email \"{e}\"; expected an address like alice@example.com"
                        ),
                    );
                    ok = false;
                }
                ok &= email.is_some();
                email
            }
            None => None,
        };
        let time_zone = match f.get("time_zone") {
            Some(n) => {
                let tz = self.text_of(n, &f.path("time_zone"));
                if let Some(t) = &tz
                    && jiff::tz::TimeZone::get(t).is_err()
                {
                    self.error_at(
                        n,
                        &f.path("time_zone"),
                        format!("unknown time zone \"{t}\"; expected an IANA name like Europe/Berlin or America/New_York"),
                    );
                    ok = false;
                }
                ok &= tz.is_some();
                tz
            }
            None => None,
        };
        let (handle, _) = handle?;
        if !ok {
            return None;
        }
        Some(User {
            name: name.unwrap_or_else(|| handle.to_string()),
            handle,
            email,
            time_zone,
        })
    }
}
