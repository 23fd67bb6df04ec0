//! The `secrets` section: the file actions' secrets (`{secret: NAME}` in a runbook action's
//! `env` and `headers`) are read from when they run, besides `FIREBREAK_SECRET_<NAME>` in the
//! environment.
//!
//! Only the path is checked here: the file is read when an action runs, so it may be created
//! after the configuration is checked, on the machine Firebreak runs on.

use firebreak_domain::config::Secrets;

use super::Reader;
use crate::node::Node;

pub(crate) const SECRETS_KEYS: &[&str] = &["file"];

const FILE_HINT: &str = "the path of a file of name: value lines readable only by its owner \
                         (mode 0600), like /etc/firebreak/secrets.yaml";

impl Reader<'_> {
    /// The `secrets` section; `file` left out means secrets come from the environment only.
    pub(super) fn secrets(&mut self, node: &Node) -> Option<Secrets> {
        let f = self.fields(
            node,
            "secrets",
            SECRETS_KEYS,
            &format!("a mapping with file, {FILE_HINT}"),
        )?;
        let mut secrets = Secrets::default();
        if let Some(n) = f.get("file")
            && let Some(file) = self.text_of(n, &f.path("file"))
        {
            if file.trim().is_empty() {
                self.error_at(
                    n,
                    &f.path("file"),
                    format!("expected non-empty text: {FILE_HINT}"),
                );
            } else {
                secrets.file = Some(file);
            }
        }
        Some(secrets)
    }
}
