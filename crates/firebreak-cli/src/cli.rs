//! Clap derive types for the client side of the `firebreak` binary: the
//! global connection options ([`ClientArgs`]), the `incident` and `token`
//! subcommands, and the arguments of `login`.

use clap::{Args, Subcommand, ValueEnum};

// Connection and output options shared by every client command. Flattened into the
// top-level parser; every argument is `global`, so it may stand before or after the
// subcommand. (A plain comment: a doc comment here would replace the binary's --help text.)
#[derive(Debug, Clone, Default, Args)]
pub struct ClientArgs {
    /// Base URL of the Firebreak server, e.g. http://127.0.0.1:8080
    #[arg(long, global = true, env = "FIREBREAK_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// API token used as a bearer credential
    #[arg(
        long,
        global = true,
        env = "FIREBREAK_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Print the server's JSON instead of tables
    #[arg(long, global = true)]
    pub json: bool,
}

/// `firebreak login`: verify a token against a server and store both.
#[derive(Debug, Clone, Default, Args)]
pub struct LoginArgs {
    /// Base URL of the Firebreak server, e.g. http://127.0.0.1:8080
    #[arg(long, env = "FIREBREAK_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// API token to store
    #[arg(
        long,
        env = "FIREBREAK_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
}

/// `firebreak incident ...`
#[derive(Debug, Clone, Subcommand)]
pub enum IncidentCommand {
    /// Declare a new incident
    Declare {
        /// Short title of the incident
        title: String,
        /// Severity, e.g. sev1
        #[arg(long)]
        severity: String,
        /// Affected service (repeatable)
        #[arg(long = "service", value_name = "SERVICE")]
        services: Vec<String>,
        /// Initial summary
        #[arg(long)]
        summary: Option<String>,
        /// Mark the incident as a drill
        #[arg(long)]
        drill: bool,
    },
    /// List incidents
    List {
        /// Only incidents with this status
        #[arg(long)]
        status: Option<String>,
        /// Only incidents with this severity
        #[arg(long)]
        severity: Option<String>,
        /// Only incidents affecting this service
        #[arg(long)]
        service: Option<String>,
        /// Only open incidents
        #[arg(long, conflicts_with = "closed")]
        open: bool,
        /// Only closed incidents
        #[arg(long)]
        closed: bool,
        /// Only drills (true) or only real incidents (false)
        #[arg(long, value_name = "true|false")]
        drill: Option<bool>,
        /// Page size
        #[arg(long)]
        limit: Option<u32>,
        /// Follow next_cursor and fetch every page
        #[arg(long)]
        all: bool,
    },
    /// Show an incident: details, roles, checklist and timeline
    Show {
        /// Incident id, e.g. INC-7
        id: String,
    },
    /// Change the status of an incident
    Status {
        /// Incident id, e.g. INC-7
        id: String,
        /// New status, e.g. mitigated
        status: String,
    },
    /// Change the severity of an incident
    Severity {
        /// Incident id, e.g. INC-7
        id: String,
        /// New severity, e.g. sev2
        severity: String,
        /// Why the severity changed
        #[arg(long)]
        reason: Option<String>,
    },
    /// Assign (or with --remove, unassign) a role
    Assign {
        /// Incident id, e.g. INC-7
        id: String,
        /// Role, e.g. incident-commander
        role: String,
        /// User handle (ignored with --remove)
        #[arg(required_unless_present = "remove")]
        user: Option<String>,
        /// Remove whoever holds the role
        #[arg(long)]
        remove: bool,
    },
    /// Add a note to the timeline (BODY `-` reads standard input)
    Note {
        /// Incident id, e.g. INC-7
        id: String,
        /// Note text, or `-` for standard input
        body: String,
    },
    /// Show the checklist, or tick / untick an item
    Checklist {
        /// Incident id, e.g. INC-7
        id: String,
        /// done or undo
        #[arg(requires = "item")]
        action: Option<ChecklistAction>,
        /// Checklist item id
        item: Option<u64>,
    },
}

/// What to do with a checklist item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChecklistAction {
    /// Mark the item done
    Done,
    /// Mark the item not done
    Undo,
}

/// `firebreak token ...` in its HTTP API form.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Create an API token (the secret is shown once)
    Create {
        /// Name of the token
        #[arg(long)]
        name: String,
        /// Role granted to the token
        #[arg(long)]
        role: String,
        /// The user the token acts for
        #[arg(long)]
        user: Option<String>,
    },
    /// List API tokens
    List,
    /// Revoke an API token
    Revoke {
        /// Token id
        id: String,
    },
}
