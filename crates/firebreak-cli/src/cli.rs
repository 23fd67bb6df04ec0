//! Clap derive types for the client side of the `firebreak` binary: the
//! global connection options ([`ClientArgs`]), the `incident`, `token`,
//! `alert`, `silence`, `integration`, `deploy`, `webhook`, `schedule`,
//! `contact`, `policy`, `escalation`, `postmortem`, `action-item`, `report` and
//! `config` subcommands, and the arguments of `login` and `oncall`.

use std::path::PathBuf;

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
    #[command(after_help = "\
Resolving an incident that has public updates also posts the status page's
`resolved` update (from its template) unless you give your own with
--public-update, or keep the page as it is with --no-public-update (say, to
keep \"monitoring\" in public a while longer). The answer says which happened.

Examples:
  firebreak incident status INC-7 mitigated
  firebreak incident status INC-7 resolved
  firebreak incident status INC-7 resolved --public-update \"Checkout works normally again.\"
  firebreak incident status INC-7 resolved --no-public-update")]
    Status {
        /// Incident id, e.g. INC-7
        id: String,
        /// New status, e.g. mitigated
        status: String,
        /// With `resolved`: the public update to post instead of the template
        #[arg(long, value_name = "MESSAGE", conflicts_with = "no_public_update")]
        public_update: Option<String>,
        /// With `resolved`: post nothing on the status page
        #[arg(long)]
        no_public_update: bool,
    },
    /// Post a status update: --public for the status page, --internal for the team
    #[command(
        group(clap::ArgGroup::new("audience").required(true).args(["public", "internal"])),
        after_help = "\
A public update goes on the status page, its feeds and to its subscribers; the
incident shows there under its public title (set with `PATCH public_title`).
An internal update goes to the incident's channels. Both are on the timeline
and count for the severity's update cadence.

STATUS is investigating, identified, monitoring or resolved (public updates;
left out, the current one stays). --template fills MESSAGE from that status's
template, so the first update is one command. --component sets what a
component shows until the incident resolves: NAME=STATUS, where STATUS is
operational, degraded_performance, partial_outage, major_outage or
under_maintenance.

Examples:
  firebreak incident update INC-7 --public --template investigating --public-title \"Slow checkout\"
  firebreak incident update INC-7 --public --status identified \"A database limit slows checkout.\"
  firebreak incident update INC-7 --public --component \"Checkout API=partial_outage\" \"Checkout is slow.\"
  firebreak incident update INC-7 --internal \"Failing over to the replica.\""
    )]
    Update {
        /// Incident id, e.g. INC-7
        id: String,
        /// For the status page, its feeds and subscribers
        #[arg(long)]
        public: bool,
        /// For the team: the incident's channels
        #[arg(long)]
        internal: bool,
        /// The public status: investigating, identified, monitoring or resolved
        #[arg(long)]
        status: Option<String>,
        /// Fill the message from this status's template
        #[arg(long, value_name = "STATUS")]
        template: Option<String>,
        /// Set a component, NAME=STATUS; repeat for more
        #[arg(long = "component", value_name = "NAME=STATUS")]
        components: Vec<String>,
        /// Do not email the status page's subscribers
        #[arg(long)]
        quiet: bool,
        /// The name the status page shows instead of the incident's title
        #[arg(long, value_name = "TITLE")]
        public_title: Option<String>,
        /// The message, or `-` for standard input; leave it out with --template
        message: Option<String>,
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
    /// Acknowledge an incident: you are on it, so nobody else is paged for it
    #[command(
        visible_alias = "acknowledge",
        after_help = "\
Acknowledging stops every escalation of the incident: no further step pages
anyone. The incident stays open; change its status as you work on it.
Acknowledging again changes nothing.

Examples:
  firebreak incident ack INC-7
  firebreak escalation list --incident INC-7    # who was paged, and whether it got through"
    )]
    Ack {
        /// Incident id, e.g. INC-7
        id: String,
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
        /// When the token stops working
        #[arg(skip)]
        expires: Option<jiff::Timestamp>,
    },
    /// List API tokens
    List,
    /// Revoke an API token
    Revoke {
        /// Token id
        id: String,
    },
}

/// Alert states the server filters on.
const ALERT_STATUSES: [&str; 4] = ["open", "acknowledged", "resolved", "suppressed"];

/// `firebreak alert ...`
#[derive(Debug, Clone, Subcommand)]
pub enum AlertCommand {
    /// List alerts, newest first (50 per page unless --limit says otherwise)
    #[command(after_help = "\
Examples:
  firebreak alert list --status open
  firebreak alert list --service checkout --status acknowledged
  firebreak alert list --incident INC-7
  firebreak alert list --limit 200 --json | jq '.items[].summary'

When there are more alerts than fit on one page, the last line prints the
--cursor to pass for the next page.")]
    List {
        /// Only alerts in this state
        #[arg(long, value_name = "STATUS", value_parser = ALERT_STATUSES)]
        status: Option<String>,
        /// Only alerts routed to this service, e.g. checkout
        #[arg(long, value_name = "SERVICE")]
        service: Option<String>,
        /// Only alerts attached to this incident, e.g. INC-7
        #[arg(long, value_name = "INC-n")]
        incident: Option<String>,
        /// How many alerts to fetch (1 to 500)
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Continue a previous listing from this cursor
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
    },
    /// Show one alert in full: times, who acted on it, labels, details and links
    #[command(after_help = "\
Examples:
  firebreak alert show 42
  firebreak alert show 42 --json | jq .details")]
    Show {
        /// Alert id, the number in the ID column of `firebreak alert list`
        id: String,
    },
    /// Acknowledge an alert: you are on it, stop escalating
    #[command(
        visible_alias = "acknowledge",
        after_help = "\
Acknowledging stops the alert from paging anyone else. The alert stays open
until it is resolved, by you or by the monitoring tool that sent it.

Example:
  firebreak alert ack 42"
    )]
    Ack {
        /// Alert id, e.g. 42
        id: String,
    },
    /// Resolve an alert by hand
    #[command(after_help = "\
Resolve an alert when the problem is gone but the monitoring tool will not send
a resolve of its own. If the problem is still there, the next event from the
tool opens a new alert.

Example:
  firebreak alert resolve 42")]
    Resolve {
        /// Alert id, e.g. 42
        id: String,
    },
}

/// `firebreak silence ...`
#[derive(Debug, Clone, Subcommand)]
pub enum SilenceCommand {
    /// Silence matching alerts for a while (they are recorded but page no one)
    #[command(
        group(clap::ArgGroup::new("end").required(true).args(["duration", "until"])),
        after_help = "\
Every --match must hold for an alert to be silenced. Matchers use the
Alertmanager syntax: label=\"value\", label!=\"value\", label=~\"regex\",
label!~\"regex\". Quote them for the shell with single quotes.

Examples:
  firebreak silence add --match 'alertname=\"DiskFull\"' --duration 2h \\
      --comment 'cleaning up /var/log on db-1'
  firebreak silence add --match 'service=\"checkout\"' --match 'env!=\"prod\"' \\
      --until 2026-11-24T09:00:00Z --comment 'load test in staging'
  firebreak silence add --match 'alertname=~\"Backup.*\"' \\
      --starts 2026-11-24T01:00:00Z --duration 3h --comment 'planned backup migration'

The silence id is printed; end it early with `firebreak silence expire ID`."
    )]
    Add {
        /// A label matcher such as 'alertname="DiskFull"' (repeatable; all must match)
        #[arg(long = "match", value_name = "MATCHER", required = true)]
        matchers: Vec<String>,
        /// How long the silence lasts from its start, e.g. 30m, 2h, 1h30m
        #[arg(long, value_name = "DURATION")]
        duration: Option<String>,
        /// When the silence ends, RFC 3339, e.g. 2026-11-24T09:00:00Z
        #[arg(long, value_name = "RFC3339")]
        until: Option<String>,
        /// When the silence starts, RFC 3339 (default: now)
        #[arg(long, value_name = "RFC3339")]
        starts: Option<String>,
        /// Why you are silencing; shown on every alert the silence suppresses
        #[arg(long, value_name = "TEXT")]
        comment: String,
    },
    /// List silences in force or scheduled (with --expired, also recently ended ones)
    #[command(after_help = "\
Examples:
  firebreak silence list
  firebreak silence list --expired")]
    List {
        /// Also show silences that ended in the last 24 hours
        #[arg(long)]
        expired: bool,
    },
    /// End a silence now, so matching alerts page again
    #[command(
        visible_alias = "rm",
        after_help = "\
Example:
  firebreak silence expire 12"
    )]
    Expire {
        /// Silence id, from `firebreak silence list`
        id: String,
    },
}

/// `firebreak integration ...`
#[derive(Debug, Clone, Subcommand)]
pub enum IntegrationCommand {
    /// Create an integration for a service and print its key (shown only once)
    #[command(after_help = "\
The key is printed alone on standard output, so it can be captured; where to
send alerts with it is printed on standard error. The key cannot be shown
again: if it is lost, rotate it.

Examples:
  firebreak integration create --service checkout --name prometheus
  KEY=$(firebreak integration create --service checkout --name grafana)")]
    Create {
        /// The service whose alerts come through this integration, e.g. checkout
        #[arg(long, value_name = "SERVICE")]
        service: String,
        /// What sends through it, e.g. prometheus or grafana
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// List integrations and their live keys (never the keys themselves)
    #[command(after_help = "\
HINTS shows the last four characters of each live key and its key id, which
`firebreak integration revoke-key` takes.

Examples:
  firebreak integration list
  firebreak integration list --service checkout")]
    List {
        /// Only integrations of this service
        #[arg(long, value_name = "SERVICE")]
        service: Option<String>,
    },
    /// Issue a new key for an integration and print it; the old keys keep working
    #[command(after_help = "\
The new key is printed alone on standard output. The old keys keep working so
senders can be switched over without losing alerts; once they are, revoke each
old key with the command printed on standard error.

Example:
  NEW=$(firebreak integration rotate int_abc123)
  firebreak integration revoke-key int_abc123 key_old456")]
    Rotate {
        /// Integration id, from `firebreak integration list`
        id: String,
    },
    /// Revoke one key of an integration; senders using it are refused from now on
    #[command(after_help = "\
Example:
  firebreak integration revoke-key int_abc123 key_old456")]
    RevokeKey {
        /// Integration id, from `firebreak integration list`
        id: String,
        /// Key id (key_...), from the HINTS column of `firebreak integration list`
        key_id: String,
    },
}

/// `firebreak deploy ...`
#[derive(Debug, Clone, Subcommand)]
pub enum DeployCommand {
    /// Record a deployment (for CI jobs); prints the deployment id
    #[command(after_help = "\
Deployments appear next to alerts and incidents of the service, so responders
can see what changed. The deployment id is printed alone on standard output.

Examples:
  firebreak deploy record --service checkout --version 1.4.2
  firebreak deploy record --service checkout --version \"$CI_COMMIT_TAG\" \\
      --previous-version 1.4.1 --commit \"$CI_COMMIT_SHA\" \\
      --author \"$GITLAB_USER_LOGIN\" --link \"$CI_PIPELINE_URL\"

A rollback is recorded like any deploy, with the version now running again. Name
the deploy it undid (its id, from `firebreak deploy list`) and the incident it was
for: the change failure rate then counts the undone deploy as failed, and its
recovery time runs to the incident's mitigation. Rollbacks themselves count as
neither deploys nor failures.
  firebreak deploy record --service checkout --version 1.4.1 \\
      --previous-version 1.4.2 --rolls-back 41 --incident INC-7

In CI, set FIREBREAK_SERVER and FIREBREAK_TOKEN (a responder token) in the
job's environment instead of passing --server and --token.")]
    #[command(group(clap::ArgGroup::new("a_rollback").args(["rollback", "rolls_back"]).multiple(true)))]
    Record {
        /// The service that was deployed, e.g. checkout
        #[arg(long, value_name = "SERVICE")]
        service: String,
        /// The version now running, e.g. 1.4.2
        #[arg(long, value_name = "VERSION")]
        version: String,
        /// The version it replaced
        #[arg(long, value_name = "VERSION")]
        previous_version: Option<String>,
        /// The commit deployed
        #[arg(long, value_name = "SHA")]
        commit: Option<String>,
        /// Who deployed it
        #[arg(long, value_name = "AUTHOR")]
        author: Option<String>,
        /// An http(s) link to the pipeline or release
        #[arg(long, value_name = "URL")]
        link: Option<String>,
        /// When it was deployed, RFC 3339 (default: now)
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// One line about what changed
        #[arg(long, value_name = "TEXT")]
        summary: Option<String>,
        /// The deploy is a rollback: allowed during a freeze, and counted in no change
        /// failure rate
        #[arg(long)]
        rollback: bool,
        /// The id of the deploy this rollback undid, an earlier deploy of the same service
        /// (implies --rollback)
        #[arg(long, value_name = "ID")]
        rolls_back: Option<i64>,
        /// The incident this rollback was for, e.g. INC-7 (needs --rollback or --rolls-back)
        #[arg(long, value_name = "INC-n", requires = "a_rollback")]
        incident: Option<String>,
        /// A rehearsed deploy (a game day's): a suspect of drill incidents only, counted in
        /// DORA only with --drills
        #[arg(long)]
        drill: bool,
    },
    /// List deployments, newest first
    #[command(after_help = "\
Examples:
  firebreak deploy list
  firebreak deploy list --service checkout --limit 10")]
    List {
        /// Only deployments of this service
        #[arg(long, value_name = "SERVICE")]
        service: Option<String>,
        /// How many deployments to fetch (1 to 500)
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Continue a previous listing from this cursor
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
    },
}

/// The event types a webhook subscription can ask for.
pub const WEBHOOK_EVENTS: [&str; 9] = [
    "incident.declared",
    "incident.updated",
    "incident.resolved",
    "incident.note_added",
    "incident.role_assigned",
    "alert.opened",
    "alert.acknowledged",
    "alert.resolved",
    "deployment.recorded",
];

/// `firebreak user ...`
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Add a person who can hold incident roles and own tokens
    Add {
        /// Their handle: lowercase letters, digits and '-', like alice or sam-ops
        handle: String,
        /// Their full name (defaults to the handle)
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// An IANA time zone, like Europe/Berlin
        #[arg(long = "time-zone", value_name = "ZONE")]
        time_zone: Option<String>,
        /// What they may do
        #[arg(long, default_value = "responder", value_parser = ["viewer", "responder", "admin"])]
        role: String,
    },
    /// List users, their roles and whether they are disabled
    List,
    /// Show one user
    Show { handle: String },
    /// Change what a user (and every token acting as them) may do
    SetRole {
        handle: String,
        #[arg(value_parser = ["viewer", "responder", "admin"])]
        role: String,
    },
    /// Stop a user and every token acting as them, at once
    Disable { handle: String },
    /// Let a disabled user act again
    Enable { handle: String },
    /// Set a user's password for the web pages, read from the terminal (never from the
    /// command line); every browser signed in as them is signed out
    #[command(after_help = "\
The password is asked for twice on the terminal. When standard input is not a
terminal, the first line of standard input is the password, so a secret manager
can pipe it in:
  pass show firebreak/alice | firebreak user set-password alice

An admin may set anyone's password. To set your own you need a token of your
full role, and your current password: it is asked for first (or is the first
line of standard input, before the new one).")]
    SetPassword { handle: String },
    /// Print a one-time link for a user to set their password and sign in
    #[command(after_help = "\
Send the link to the person privately: it signs in whoever opens it first. It
works once, for 72 hours unless --expires says otherwise (at most 14 days).

Example:
  firebreak user add sam --email sam@example.com && firebreak user invite sam")]
    Invite {
        handle: String,
        /// How long the link works, like 24h or 7d
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Sign out every browser signed in as the user
    SignOut { handle: String },
}

/// `firebreak webhook ...`
#[derive(Debug, Clone, Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a URL to events and print its signing secret (shown only once)
    #[command(after_help = "\
Firebreak POSTs each event to the URL as JSON, signed per Standard Webhooks
(webhook-id, webhook-timestamp and webhook-signature headers). The secret that
verifies the signature is printed alone on standard output, so it can be
captured; the subscription id goes to standard error. The secret cannot be
shown again: if it is lost, remove the subscription and add it again.

Private and loopback addresses are refused unless the server allows them
(outbound.allow in firebreak.yaml, or FIREBREAK_OUTBOUND_ALLOW).

Examples:
  firebreak webhook add https://hooks.example.com/firebreak \\
      --event incident.declared --event incident.resolved --description 'ticket tracker'
  SECRET=$(firebreak webhook add https://bot.example.com/events --events alert.opened,alert.resolved)")]
    Add {
        /// Where to POST the events: an http(s) URL
        url: String,
        /// An event type to send (repeatable, or comma-separated)
        #[arg(
            long = "event",
            visible_alias = "events",
            value_name = "TYPE",
            value_delimiter = ',',
            required = true,
            value_parser = WEBHOOK_EVENTS
        )]
        events: Vec<String>,
        /// What the subscription is for, e.g. 'Jira sync'
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// List subscriptions: where they send, which events, and whether deliveries succeed
    #[command(after_help = "\
URLs are shown without their query string, which often holds a token; --json
shows them whole. STATUS is active, failing since the first failed delivery,
or disabled (after 24 hours of failures) with the reason.

Examples:
  firebreak webhook list
  firebreak webhook list --json | jq -r '.items[].url'")]
    List,
    /// Show a subscription's deliveries, newest first, with their attempts
    #[command(after_help = "\
STATUS is pending (waiting for its next attempt), sending, delivered, failed
(refused for good, e.g. a 4xx answer; not retried) or dead (retried until its
deadline passed).
EVENT ID is the webhook-id header, the same on every attempt.

Examples:
  firebreak webhook deliveries wh_abc123
  firebreak webhook deliveries wh_abc123 --limit 200 --json | jq '.items[] | select(.status == \"dead\")'")]
    Deliveries {
        /// Subscription id (wh_...), from `firebreak webhook list`
        id: String,
        /// How many deliveries to fetch (1 to 500)
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Continue a previous listing from this cursor
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
    },
    /// Send a finished delivery again, with the same webhook-id and body
    #[command(after_help = "\
The delivery is queued at once and retried like a new one. Receivers that
deduplicate on webhook-id treat it as the event they may already have.

Example:
  firebreak webhook redeliver wh_abc123 17")]
    Redeliver {
        /// Subscription id (wh_...), from `firebreak webhook list`
        id: String,
        /// Delivery id, the number in the DELIVERY column of `firebreak webhook deliveries`
        delivery: u64,
    },
    /// Turn a subscription back on after Firebreak disabled it
    #[command(after_help = "\
Firebreak disables a subscription whose every delivery failed for 24 hours.
Once the receiver is fixed, enable it: events from now on are sent to it, with
the same secret. Deliveries that failed meanwhile can be sent again with
`firebreak webhook redeliver`.

Example:
  firebreak webhook enable wh_abc123")]
    Enable {
        /// Subscription id (wh_...), from `firebreak webhook list`
        id: String,
    },
    /// Remove a subscription; deliveries still queued for it are not sent
    #[command(
        visible_alias = "rm",
        after_help = "\
Example:
  firebreak webhook remove wh_abc123"
    )]
    Remove {
        /// Subscription id (wh_...), from `firebreak webhook list`
        id: String,
    },
}

/// `firebreak config ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Print the running server's configuration as a firebreak.yaml, integration keys left out
    #[command(after_help = "\
The file has the same sections and keys as firebreak.yaml, and `firebreak
check` accepts it. Integration keys are secrets and are not exported: each
integration's key is written as {env: NAME}, the environment variable Firebreak
reads it from. The names to set are printed on standard error.

With --json, prints the server's JSON document instead.

Examples:
  firebreak config export > firebreak.yaml
  firebreak config export --output firebreak.yaml
  firebreak config export | diff -u firebreak.yaml -")]
    Export {
        /// Write the YAML to this file instead of standard output
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `firebreak schedule ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ScheduleCommand {
    /// List schedules: their time zone and layers (who is on call now: `firebreak oncall`)
    #[command(after_help = "\
Examples:
  firebreak schedule list
  firebreak schedule list --json | jq -r '.items[].name'")]
    List,
    /// Show a schedule's layers, rotations and restrictions
    #[command(after_help = "\
Examples:
  firebreak schedule show primary")]
    Show {
        /// Schedule name, from `firebreak schedule list`
        name: String,
    },
    /// The final shifts between two instants: layers and overrides resolved
    #[command(after_help = "\
An override's LAYER is `override`. Without --from and --to: the next seven days.
A range is at most 366 days.

Examples:
  firebreak schedule shifts primary
  firebreak schedule shifts primary --from 2026-12-01T00:00:00Z --to 2026-12-08T00:00:00Z")]
    Shifts {
        /// Schedule name, from `firebreak schedule list`
        name: String,
        /// Start of the range (RFC 3339 with a zone); now if left out
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// End of the range (RFC 3339 with a zone); a week after --from if left out
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
    },
    /// Add, list or remove overrides: someone covering a schedule for a while
    #[command(subcommand)]
    Override(OverrideCommand),
}

/// `firebreak schedule override ...`
#[derive(Debug, Clone, Subcommand)]
pub enum OverrideCommand {
    /// USER covers NAME from --start to --end, over every layer (responders may do this)
    #[command(after_help = "\
Examples:
  firebreak schedule override add primary --user carol \\
      --start 2026-12-05T18:00:00Z --end 2026-12-06T08:00:00Z")]
    Add {
        /// Schedule name, from `firebreak schedule list`
        name: String,
        /// Who covers: a user's handle
        #[arg(long)]
        user: String,
        /// When the cover starts (RFC 3339 with a zone)
        #[arg(long, value_name = "TIME")]
        start: String,
        /// When it ends (RFC 3339 with a zone), after --start
        #[arg(long, value_name = "TIME")]
        end: String,
    },
    /// List the overrides of NAME now or to come, with their ids
    #[command(after_help = "\
Examples:
  firebreak schedule override list primary
  firebreak schedule override list primary --json | jq -r '.items[] | select(.user == \"carol\") | .id'")]
    List {
        /// Schedule name, from `firebreak schedule list`
        name: String,
    },
    /// Remove an override by its id (ovr_...), shown when it was added and by `override list`
    #[command(after_help = "\
Examples:
  firebreak schedule override remove primary ovr_5c1d0e2a9f3b")]
    Remove {
        /// Schedule name
        name: String,
        /// Override id (ovr_...)
        id: String,
    },
}

/// `firebreak oncall`: who is on call.
#[derive(Debug, Clone, Default, Args)]
pub struct OncallArgs {
    /// Only this schedule; every schedule if left out
    #[arg(long, value_name = "NAME")]
    pub schedule: Option<String>,
    /// The instant to ask about (RFC 3339 with a zone); now if left out
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Just you: the schedules you are on call on now (or at --at), and your shifts in the 7 days from then
    #[arg(long)]
    pub me: bool,
}

/// The kinds of contact method the server can page through.
pub const CONTACT_TYPES: [&str; 6] = ["email", "webhook", "slack", "mattermost", "teams", "ntfy"];

/// `firebreak contact ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ContactCommand {
    /// Add a way to page you: email, a signed webhook, Slack, Mattermost, Teams or ntfy
    #[command(after_help = "\
TARGET is an email address for --type email, and a URL for every other type:
the incoming-webhook URL Slack, Mattermost or Teams gave you, the topic URL for
ntfy (like https://ntfy.example.com/oncall-alice), or your own endpoint for a
webhook. Chat and ntfy URLs are secrets: Firebreak shows them masked from now on.

For --type webhook, the signing secret is printed alone on standard output, so
it can be captured; it is shown only this once. Your receiver checks each
page's webhook-signature header with it (Standard Webhooks).

Private and loopback addresses are refused unless the server allows them
(outbound.allow in firebreak.yaml, or FIREBREAK_OUTBOUND_ALLOW).

Examples:
  firebreak contact add --type email alice@example.com
  firebreak contact add --type slack https://hooks.slack.com/services/T000/B000/XXXX --name team-chat
  firebreak contact add --type ntfy https://ntfy.example.com/oncall-alice --ntfy-token tk_abc123
  SECRET=$(firebreak contact add --type webhook https://pager.example.com/firebreak)
  firebreak contact add --type email bob@example.com --user bob    # admins, for someone else

Then send yourself a test page: firebreak contact test ID")]
    Add {
        /// How to reach you
        #[arg(long = "type", value_name = "TYPE", value_parser = CONTACT_TYPES)]
        kind: String,
        /// An email address, or the URL to send the page to
        target: String,
        /// A name to tell this one apart, e.g. phone or team-chat (default: the type)
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// For ntfy only: an access token (tk_...) for a protected topic
        #[arg(long = "ntfy-token", value_name = "TOKEN")]
        ntfy_token: Option<String>,
        /// Whose contact method this is (default: the user your token acts for; admins may name anyone)
        #[arg(long, value_name = "HANDLE")]
        user: Option<String>,
    },
    /// List the ways you (or --user) are paged
    #[command(after_help = "\
Chat and ntfy URLs are shown masked; webhook URLs without their query string
(--json shows what the server sends). Webhook signing secrets are never shown
again after `contact add`.

Examples:
  firebreak contact list
  firebreak contact list --user bob --json")]
    List {
        /// Whose contact methods (default: the user your token acts for)
        #[arg(long, value_name = "HANDLE")]
        user: Option<String>,
    },
    /// Send a test page and show what the receiver answered
    #[command(after_help = "\
The test page goes out at once, marked as a test, with nothing to acknowledge.
Exits 1 when the receiver did not take it, so a script can check a contact
method before going on call.

Examples:
  firebreak contact test cm_3f9c2a1b7e40
  firebreak contact test cm_3f9c2a1b7e40 --user bob")]
    Test {
        /// Contact method id (cm_...), from `firebreak contact list`
        id: String,
        /// Whose contact method (default: the user your token acts for)
        #[arg(long, value_name = "HANDLE")]
        user: Option<String>,
    },
    /// Stop paging you this way
    #[command(
        visible_alias = "rm",
        after_help = "\
Pages already queued for it are still sent.

Example:
  firebreak contact remove cm_3f9c2a1b7e40"
    )]
    Remove {
        /// Contact method id (cm_...), from `firebreak contact list`
        id: String,
        /// Whose contact method (default: the user your token acts for)
        #[arg(long, value_name = "HANDLE")]
        user: Option<String>,
    },
}

/// `firebreak status ...`
#[derive(Debug, Clone, Subcommand)]
pub enum StatusCommand {
    /// Show what the public status page says now
    #[command(after_help = "\
Reads the same JSON the public page serves (no token needed for it): the
overall status, each component, and the unresolved incidents with their
latest public update.

Example:
  firebreak status show")]
    Show,
}

/// `firebreak component ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ComponentCommand {
    /// List the status page's components and what each shows now
    List,
    /// Set what a component shows by hand, until `component clear`
    #[command(after_help = "\
STATUS is operational, degraded_performance, partial_outage, major_outage or
under_maintenance. A status set by hand wins over what incidents and
maintenance would show, until it is cleared.

Examples:
  firebreak component set \"Checkout API\" major_outage
  firebreak component clear \"Checkout API\"")]
    Set {
        /// The component's name or id, from `firebreak component list`
        component: String,
        status: String,
    },
    /// Clear a status set by hand, so the page derives it again
    Clear {
        /// The component's name or id, from `firebreak component list`
        component: String,
    },
}

/// `firebreak maintenance ...`
#[derive(Debug, Clone, Subcommand)]
pub enum MaintenanceCommand {
    /// Schedule maintenance: shown on the status page, and the components' alerts are quiet
    #[command(after_help = "\
The status page shows it as upcoming, then in progress, then completed. While it
runs its components show under_maintenance, and alerts on the services behind them
are suppressed like in any maintenance window. --start defaults to now; times are
RFC 3339 (2026-11-24T02:00:00Z) or a duration from now for --end (90m, 2h).

Examples:
  firebreak maintenance schedule \"Database upgrade\" --component \"Checkout API\" \\
      --start 2026-11-24T02:00:00Z --end 2026-11-24T03:00:00Z \\
      --body \"Checkout may pause for up to a minute.\"
  firebreak maintenance schedule \"Queue failover\" --component Notifications --end 45m")]
    Schedule {
        /// What customers see it called
        name: String,
        /// A component it affects, by name; repeat for more
        #[arg(long = "component", value_name = "NAME", required = true)]
        components: Vec<String>,
        /// When it starts (RFC 3339); now when left out
        #[arg(long, value_name = "TIME")]
        start: Option<String>,
        /// When it ends: RFC 3339, or a duration from the start (90m, 2h)
        #[arg(long, value_name = "TIME")]
        end: String,
        /// What customers should expect
        #[arg(long)]
        body: Option<String>,
    },
    /// List scheduled maintenance: upcoming, in progress and recently completed
    List,
    /// End a maintenance now (one that has not started is dropped)
    Cancel {
        /// Its id, from `firebreak maintenance list`
        id: u64,
    },
}

/// `firebreak policy ...`
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// List escalation policies: their steps and the services they page for
    #[command(after_help = "\
Examples:
  firebreak policy list
  firebreak policy list --json | jq -r '.items[].name'")]
    List,
    /// Show who a policy pages at each step, and how long each step waits for an ack
    #[command(after_help = "\
Steps are numbered from 0. A step pages its targets, then waits its delay; if
nobody has acknowledged by then, the next step pages. After the last step the
policy starts over, as many more times as `repeat` says.

Example:
  firebreak policy show ops")]
    Show {
        /// Policy name, from `firebreak policy list`
        name: String,
    },
}

/// `firebreak escalation ...`
#[derive(Debug, Clone, Subcommand)]
pub enum EscalationCommand {
    /// Show who was paged for an incident or an alert, and whether each page got through
    #[command(
        group(clap::ArgGroup::new("about").required(true).args(["incident", "alert"])),
        after_help = "\
Give --incident or --alert. STEP and ROUND are numbered from 0: step 0 is the
first step of `firebreak policy show`, round 0 the first time through the
steps. An escalation's STATUS is active, acknowledged, resolved or exhausted
(every step and repeat ran out with nobody acknowledging); a page's STATUS is
pending, sending, delivered or failed.

Examples:
  firebreak escalation list --incident INC-7
  firebreak escalation list --alert 42 --json"
    )]
    List {
        /// The incident's escalations, e.g. INC-7
        #[arg(long, value_name = "INC-n")]
        incident: Option<String>,
        /// The escalations an alert started, by alert id (from `firebreak alert list`)
        #[arg(long, value_name = "ID")]
        alert: Option<u64>,
    },
}

/// `firebreak postmortem ...`
#[derive(Debug, Clone, Subcommand)]
pub enum PostmortemCommand {
    /// Draft the postmortem now from what Firebreak recorded (resolving an incident drafts it too)
    #[command(after_help = "\
The draft is made from the incident's timeline, alerts, suspect deploys and
action items. Where only people can say what happened, it leaves prompts to
fill in; `firebreak postmortem show` lists them. An incident has one
postmortem: drafting a second time is refused.

--refresh drafts again only the sections nobody has changed since Firebreak
wrote them (the duration, mitigation and resolution, the timeline, ...), and
keeps every section people edited. Mitigating and resolving the incident
refresh it by themselves.

Examples:
  firebreak postmortem draft INC-7
  firebreak postmortem draft INC-7 --refresh")]
    Draft {
        /// Incident id, e.g. INC-7
        id: String,
        /// Refresh the sections Firebreak wrote and nobody changed, from the record as it is now
        #[arg(long)]
        refresh: bool,
    },
    /// Print the postmortem: its status, version, open findings, prompts to fill in, and the text
    #[command(after_help = "\
Examples:
  firebreak postmortem show INC-7
  firebreak postmortem show INC-7 --json | jq -r '.sections[] | .title'")]
    Show {
        /// Incident id, e.g. INC-7
        id: String,
    },
    /// Edit the postmortem's Markdown in $VISUAL or $EDITOR (vi when neither is set), then save it
    #[command(after_help = "\
The file opened has a `## <Section title>` heading per section; change the
text below the headings and save. Only the sections you changed are sent, with
the version you started from: if someone else saved meanwhile, nothing is
overwritten and your text is kept in a file to apply again with --file. A
heading Firebreak does not know is shown with its line, and your text is kept.

--status moves the postmortem with the save: in_review sends it for review,
draft reopens a published one for editing. Quit the editor without changing
anything to change only the status. Publish with `firebreak postmortem publish`.

Examples:
  firebreak postmortem edit INC-7
  EDITOR=nano firebreak postmortem edit INC-7
  firebreak postmortem edit INC-7 --status in_review
  firebreak postmortem edit INC-7 --file /tmp/firebreak-INC-7-postmortem-v3.md")]
    Edit {
        /// Incident id, e.g. INC-7
        id: String,
        /// Start from this file (an edit kept after a refusal) instead of the saved text
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Also move it: in_review sends it for review, draft reopens a published one
        #[arg(long, value_name = "STATUS", value_parser = ["draft", "in_review"])]
        status: Option<String>,
    },
    /// List blameless-language findings; exits 1 when there are any, so CI can gate on it
    #[command(after_help = "\
Each finding is printed as

  section:start-end  \"text\"  reason  → suggestion
      key: KEY

where start-end is where the text is in the section's Markdown, counted in
characters from 0. Reword the text (firebreak postmortem edit), or dismiss a
finding that is fine as written with --dismiss KEY --reason TEXT; the reason
is recorded, and the dismissal holds through later edits that keep the phrase.
Exit codes: 0 no open findings; 1 findings (or an error); 2 a usage error.

Examples:
  firebreak postmortem check INC-7
  firebreak postmortem check INC-7 --file draft.md     # text not saved yet
  firebreak postmortem check INC-7 --dismiss 'human-error:human error' \\
      --reason \"a quote from the customer's report\"")]
    Check {
        /// Incident id, e.g. INC-7
        id: String,
        /// Check this Markdown file (as `postmortem export` writes it) instead of the saved text
        #[arg(long, value_name = "FILE", conflicts_with = "dismiss")]
        file: Option<PathBuf>,
        /// Dismiss the finding with this key (from the `key:` line), instead of listing
        #[arg(long, value_name = "KEY", requires = "reason")]
        dismiss: Option<String>,
        /// Why the wording is fine; recorded with the dismissal
        #[arg(long, value_name = "TEXT", requires = "dismiss")]
        reason: Option<String>,
    },
    /// Publish the postmortem; with open findings it needs --confirm
    #[command(after_help = "\
Publishing checks the blameless-language findings first: while any is open it
is refused unless you give --confirm. A published postmortem counts in
`firebreak report incidents`. To change it again, reopen it as a draft:
`firebreak postmortem edit INC-7 --status draft`.

Examples:
  firebreak postmortem publish INC-7
  firebreak postmortem publish INC-7 --confirm")]
    Publish {
        /// Incident id, e.g. INC-7
        id: String,
        /// Publish even with open blameless-language findings
        #[arg(long)]
        confirm: bool,
    },
    /// Write the postmortem as one Markdown document, to standard output or --output
    #[command(after_help = "\
Examples:
  firebreak postmortem export INC-7 > INC-7-postmortem.md
  firebreak postmortem export INC-7 -o INC-7-postmortem.md")]
    Export {
        /// Incident id, e.g. INC-7
        id: String,
        /// Write to this file instead of standard output
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// The states of an action item, as the server names them.
const ITEM_STATUSES: [&str; 3] = ["open", "done", "wont_do"];

/// `firebreak action-item ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ActionItemCommand {
    /// List action items, soonest due first
    #[command(after_help = "\
Examples:
  firebreak action-item list --owner alice --status open
  firebreak action-item list --overdue
  firebreak action-item list --incident INC-7 --json | jq -r '.items[].title'")]
    List {
        /// Only items this person owns (a user's handle)
        #[arg(long, value_name = "HANDLE")]
        owner: Option<String>,
        /// Only items in this state
        #[arg(long, value_name = "STATUS", value_parser = ITEM_STATUSES)]
        status: Option<String>,
        /// Only open items whose due date has passed
        #[arg(long)]
        overdue: bool,
        /// Only items of this incident, e.g. INC-7
        #[arg(long, value_name = "INC-n")]
        incident: Option<String>,
    },
    /// Add an action item: a piece of follow-up work with an owner and a due date
    #[command(after_help = "\
Examples:
  firebreak action-item add --incident INC-7 --title \"Alert on connection pool saturation\" \\
      --owner alice --due 2026-12-15 --ticket https://tracker.example.com/OPS-412
  firebreak action-item add --title \"Run a failover game day\" --owner bob --due 2027-01-31")]
    Add {
        /// What is to be done
        #[arg(long)]
        title: String,
        /// Who does it (a user's handle)
        #[arg(long, value_name = "HANDLE")]
        owner: String,
        /// When it is due, YYYY-MM-DD
        #[arg(long, value_name = "YYYY-MM-DD")]
        due: String,
        /// A link to the ticket that tracks it
        #[arg(long, value_name = "URL")]
        ticket: Option<String>,
        /// The incident it came from, e.g. INC-7
        #[arg(long, value_name = "INC-n")]
        incident: Option<String>,
    },
    /// Mark an action item done
    #[command(after_help = "\
Example:
  firebreak action-item done 12")]
    Done {
        /// Action item id, from `firebreak action-item list`
        id: String,
    },
    /// Close an action item that will not be done, saying why
    #[command(after_help = "\
Example:
  firebreak action-item wont-do 12 --reason \"the service is retired in January\"")]
    WontDo {
        /// Action item id, from `firebreak action-item list`
        id: String,
        /// Why it will not be done; kept with the item
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Change an action item's title, owner, due date or ticket
    #[command(
        group(clap::ArgGroup::new("change").required(true).multiple(true)
            .args(["title", "owner", "due", "ticket"])),
        after_help = "\
Give at least one of --title, --owner, --due and --ticket; the rest stay.
--ticket \"\" removes the ticket link.

Examples:
  firebreak action-item edit 12 --owner bob --due 2026-12-20
  firebreak action-item edit 12 --ticket https://tracker.example.com/OPS-415"
    )]
    Edit {
        /// Action item id, from `firebreak action-item list`
        id: String,
        /// What is to be done
        #[arg(long)]
        title: Option<String>,
        /// Who does it (a user's handle)
        #[arg(long, value_name = "HANDLE")]
        owner: Option<String>,
        /// When it is due, YYYY-MM-DD
        #[arg(long, value_name = "YYYY-MM-DD")]
        due: Option<String>,
        /// A link to the ticket that tracks it; \"\" removes it
        #[arg(long, value_name = "URL")]
        ticket: Option<String>,
    },
}

/// How `firebreak report incidents` splits the incidents. (The variants have no doc
/// comments: clap would show them as a list and switch the whole help to its long form.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportGroupBy {
    Service,
    Severity,
}

/// The period and output options every report takes.
#[derive(Debug, Clone, Default, Args)]
pub struct ReportPeriod {
    /// Start of the period (included): YYYY-MM-DD (00:00 UTC that day) or RFC 3339
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the period (excluded): YYYY-MM-DD (00:00 UTC that day) or RFC 3339; now if left out
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Count drills too (left out unless asked for)
    #[arg(long)]
    pub drills: bool,
    /// Print CSV: a header row, then one row per line of the table, durations in seconds
    #[arg(long)]
    pub csv: bool,
}

/// `firebreak report ...`
#[derive(Debug, Clone, Subcommand)]
pub enum ReportCommand {
    /// How fast incidents were acknowledged, mitigated and resolved, and how reviews followed up
    #[command(after_help = "\
Counts the incidents detected in the period (by default the last 30 days).
Every duration runs from the detection (the first alert, or the declare).
MTTA and MTTR are means; p50 and p90 are nearest-rank percentiles, each one of
the incidents' own figures. POSTMORTEMS counts the resolved incidents whose
postmortem is published.

--json prints the server's JSON unchanged; --csv a header row and one row per
group, durations in whole seconds (empty when there is none).

Examples:
  firebreak report incidents
  firebreak report incidents --from 2026-10-01 --to 2027-01-01 --group-by severity
  firebreak report incidents --group-by service --csv > incidents.csv")]
    Incidents {
        #[command(flatten)]
        period: ReportPeriod,
        /// One group per service (an incident of two counts in both) or per severity; one group if left out
        #[arg(long, value_name = "BY")]
        group_by: Option<ReportGroupBy>,
    },
    /// DORA: change failure rate and failed deployment recovery time, from deploys and incidents
    #[command(after_help = "\
Counts the deploys recorded in the period (by default the last 30 days),
rollbacks left out. A deploy failed when it is an incident's suspect deploy or
a rollback during an incident undid it; it recovered when the first of its
incidents was mitigated.

--json prints the server's JSON unchanged; --csv a header row and one row per
failed deploy, its recovery in whole seconds (empty while it has not recovered).

Examples:
  firebreak report dora
  firebreak report dora --service checkout --from 2026-11-01
  firebreak report dora --csv > failed-deploys.csv")]
    Dora {
        #[command(flatten)]
        period: ReportPeriod,
        /// Only the deploys of this service
        #[arg(long, value_name = "SERVICE")]
        service: Option<String>,
    },
}
