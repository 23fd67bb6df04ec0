//! The field types of request bodies and query strings. Each one both documents its rule in the
//! OpenAPI document and enforces it while the body is read, from the same constants and the same
//! regular expression, so the document cannot promise what the server refuses or the reverse.
//! A value that breaks the rule is a 422 naming the field.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use firebreak_domain::Name;
use firebreak_domain::incident::{TEXT_MAX, TITLE_MAX};
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// A character that is not white space, as a character class (see [`NOT_BLANK`]).
macro_rules! not_blank_char {
    () => {
        "[^\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    };
}

/// A day of the calendar that exists, in the years 2000 to 2199: `2026-02-28`, `2028-02-29`.
macro_rules! calendar_day {
    () => {
        "(((20|21)[0-9]{2})-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)|(20([02468][048]|[13579][26])|21(0[48]|[2468][048]|[13579][26]))-02-29)"
    };
}

/// Matches text with at least one character that is not white space, where white space is
/// exactly what Rust's `str::trim` removes (the Unicode `White_Space` property).
pub const NOT_BLANK: &str = not_blank_char!();
/// A character that is neither white space nor a control character, anywhere in the text.
pub const VISIBLE: &str =
    "[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
/// One line (no line feed or carriage return) with at least one character that is not white
/// space.
pub const ONE_LINE: &str = concat!("^[^\\n\\r]*", not_blank_char!(), "[^\\n\\r]*$");
/// A service name or user handle, as `firebreak_domain::Name::parse` accepts it.
pub const NAME: &str = "^[a-z0-9][a-z0-9._-]{0,63}$";
/// An http or https link.
pub const HTTP_LINK: &str = "^https?://";
/// A URL Firebreak sends webhooks to: http(s) in any case, a host name (an international one
/// too) or IPv4 address or bracketed IPv6 address, an optional port, then an optional path,
/// query and fragment without spaces. A user name or password (`user:pass@`) and an IPv6 zone
/// id (`%25eth0`) fit the pattern so that the server can say what is wrong with them: both are
/// refused, with a 422 that names the problem.
pub const WEBHOOK_URL: &str = r"^[Hh][Tt][Tt][Pp][Ss]?://([^\x00-\x20\x7f/?#@\[\]\\]+@)?([^\x00-\x20\x7f/?#@:\[\]%\\]+|\[[0-9A-Fa-f:.]+(%25[0-9A-Za-z._~-]+)?\])(:[0-9]{1,5})?([/?#][!-~]*)?$";
/// An incident id in a path: `INC-7`, `inc-7` or `7`.
pub const INCIDENT_ID: &str = "^(INC-|inc-)?0*[1-9][0-9]{0,17}$";
/// An instant's year must be 2000 to 2200; `bounded_time` checks the rest.
pub const TIME_YEARS: &str = "^(20[0-9]{2}|21[0-9]{2}|2200)-";
/// Something with `@` and a dot in the part after it.
pub const EMAIL: &str = "^[^@]+@[^.]*[.]";
/// A deploy source: a short lowercase word.
pub const SOURCE: &str = "^[a-z0-9-]{1,32}$";
/// A rotation length: an exact span in seconds, minutes or hours (`8h`), or calendar days or
/// weeks (`1d`, `1w`).
/// A step delay from 1s to 24h in one unit: up to 9999s, 999m or 24h.
/// A heartbeat's period or grace: a number and one unit.
pub const HEARTBEAT_SPAN: &str = "^[0-9]{1,6}[smhdw]$";
pub const STEP_DELAY: &str = "^([1-9][0-9]{0,3}s|[1-9][0-9]{0,2}m|[1-9]h|1[0-9]h|2[0-4]h)$";
pub const ROTATION_EVERY: &str = "^([1-9][0-9]{0,5}[smh]|[1-9][0-9]{0,2}[dw])$";
/// A local date, with an optional time of day, that exists on the calendar, in the years 2000
/// to 2199: `2026-03-23T09:00`.
pub const LOCAL_DATE_TIME: &str = concat!(
    "^",
    calendar_day!(),
    "(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?)?$"
);
/// A calendar date, `YYYY-MM-DD`, that exists, in the years 2000 to 2199.
pub const DATE: &str = concat!("^", calendar_day!(), "$");
/// A ticket's link: http or https (any case), then a host, and printable ASCII with no spaces.
pub const TICKET_URL: &str = "^[Hh][Tt][Tt][Pp][Ss]?://[!-.0-~][!-~]*$";
/// A local time of day, `HH:MM`; `24:00` is the end of the day.
pub const TIME_OF_DAY: &str = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$";

/// The `cursor` of a list that pages by id: the digits of a previous `next_cursor`.
pub const ID_CURSOR: &str = "^[0-9]{0,18}$";

/// Whether `text` matches `pattern` as the document's readers (JSON Schema) match it: a search,
/// not a full match, unless the pattern is anchored.
pub fn matches(pattern: &'static str, text: &str) -> bool {
    static COMPILED: LazyLock<Mutex<HashMap<&'static str, regex::Regex>>> =
        LazyLock::new(Default::default);
    let mut cache = COMPILED.lock().unwrap_or_else(|p| p.into_inner());
    let re = cache.entry(pattern).or_insert_with(|| {
        regex::Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {pattern} is invalid: {e}"))
    });
    re.is_match(text)
}

/// The rule of a text field: at least `min` and at most `max` characters (Unicode code points,
/// as JSON Schema counts them), matching `pattern` if any.
#[derive(Debug, Clone, Copy)]
pub struct TextRule {
    pub min: usize,
    pub max: Option<usize>,
    pub pattern: Option<&'static str>,
    /// What the pattern asks for, in words, for the error message.
    pub explain: &'static str,
    /// A value that fits the rest of the rule but is kept for another use.
    pub reserved: Option<&'static str>,
}

impl TextRule {
    pub fn check(&self, text: &str) -> Result<(), String> {
        let count = text.chars().count();
        if count < self.min {
            return Err(if self.min == 1 {
                "must not be empty".to_string()
            } else {
                format!("must be at least {} characters", self.min)
            });
        }
        if let Some(max) = self.max
            && count > max
        {
            return Err(format!("must be at most {max} characters"));
        }
        if let Some(p) = self.pattern
            && !matches(p, text)
        {
            return Err(self.explain.to_string());
        }
        if self.reserved == Some(text) {
            return Err(format!("`{text}` is reserved; {}", self.explain));
        }
        Ok(())
    }

    pub fn schema(&self) -> RefOr<Schema> {
        let mut schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length((self.min > 0).then_some(self.min))
            .max_length(self.max)
            .pattern(self.pattern)
            .build();
        if let Some(reserved) = self.reserved {
            // utoipa has no `not`; the extension map is written into the schema as it is.
            let mut extensions = utoipa::openapi::extensions::Extensions::default();
            extensions.insert("not".into(), serde_json::json!({"const": reserved}));
            schema.extensions = Some(extensions);
        }
        Schema::Object(schema).into()
    }
}

macro_rules! text_field {
    ($(#[$doc:meta])* $name:ident = $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub String);

        impl $name {
            pub const RULE: TextRule = $rule;

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::RULE.check(&text).map_err(D::Error::custom)?;
                Ok($name(text))
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                Self::RULE.schema()
            }
        }

        impl ToSchema for $name {}
    };
}

const fn not_blank(max: usize) -> TextRule {
    TextRule {
        min: 1,
        max: Some(max),
        pattern: Some(NOT_BLANK),
        explain: "must not be blank",
        reserved: None,
    }
}

const fn at_most(max: usize) -> TextRule {
    TextRule {
        min: 0,
        max: Some(max),
        pattern: None,
        explain: "",
        reserved: None,
    }
}

text_field!(
    /// An incident's title: not blank, at most 200 characters.
    Title = not_blank(TITLE_MAX)
);
text_field!(
    /// Free text such as a summary or customer impact: at most 20,000 characters.
    LongText = at_most(TEXT_MAX)
);
text_field!(
    /// A timeline note in Markdown: not blank, at most 20,000 characters.
    NoteText = not_blank(TEXT_MAX)
);
text_field!(
    /// A status page component's or group's name: 1 to 100 characters, no control characters,
    /// not starting or ending with white space.
    ComponentName = TextRule {
        min: 1,
        max: Some(100),
        pattern: Some(r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"),
        explain: "must not start or end with white space, or hold control characters",
        reserved: None,
    }
);
text_field!(
    /// Text of at most 1,000 characters.
    Text1000 = at_most(1000)
);
text_field!(
    /// A name for a token or an integration: not blank, at most 100 characters.
    Label = not_blank(100)
);
text_field!(
    /// Why a silence or maintenance window exists: not blank, at most 1,000 characters.
    Comment = not_blank(1000)
);
text_field!(
    /// A person's name: not blank, at most 200 characters.
    PersonName = not_blank(200)
);
text_field!(
    /// A deploy's version: not blank, at most 200 characters.
    Version = not_blank(200)
);
text_field!(
    /// Text of at most 100 characters.
    Text100 = at_most(100)
);
text_field!(
    /// Text of at most 200 characters.
    Text200 = at_most(200)
);
text_field!(
    /// Text of at most 500 characters.
    Text500 = at_most(500)
);
text_field!(
    /// Text of at most 1,024 characters.
    Text1024 = at_most(1024)
);
text_field!(
    /// An http:// or https:// link of at most 2,000 characters.
    HttpLink = TextRule {
        min: 1,
        max: Some(2000),
        pattern: Some(HTTP_LINK),
        explain: "must be an http:// or https:// link",
        reserved: None,
    }
);
text_field!(
    /// Where webhooks are sent: an http(s) URL with a host name, an IPv4 address or a bracketed
    /// IPv6 address, an optional port, and a path, query and fragment of printable ASCII; at
    /// most 2,000 characters.
    WebhookUrl = TextRule {
        min: 1,
        max: Some(2000),
        pattern: Some(WEBHOOK_URL),
        explain: "must be an http:// or https:// URL with a host name, like https://hooks.example.com/firebreak",
        reserved: None,
    }
);
text_field!(
    /// An email address.
    Email = TextRule {
        min: 1,
        max: Some(320),
        pattern: Some(EMAIL),
        explain: "is not an email address",
        reserved: None,
    }
);
text_field!(
    /// Who reports a deploy: a short lowercase word (letters, digits, `-`).
    DeploySource = TextRule {
        min: 1,
        max: Some(32),
        pattern: Some(SOURCE),
        explain: "must be a short lowercase word like api, cli or ci (pagerduty is for change events)",
        reserved: Some("pagerduty"),
    }
);

text_field!(
    /// A schedule layer's name: not blank, at most 100 characters; `override` is kept for
    /// shifts that come from overrides.
    LayerName = TextRule {
        min: 1,
        max: Some(100),
        pattern: Some(NOT_BLANK),
        explain: "must not be blank, and `override` names shifts from overrides",
        reserved: Some("override"),
    }
);
text_field!(
    /// How often a layer hands off: `8h`, `12h`, `30m` or `3s` are exact spans; `1d` or `1w`
    /// are calendar days that keep the local handoff time across daylight saving.
    RotationEvery = TextRule {
        min: 2,
        max: Some(7),
        pattern: Some(ROTATION_EVERY),
        explain: "must be a number and a unit, like 8h, 12h, 1d or 1w (s, m, h up to 999999; d, w up to 999)",
        reserved: None,
    }
);
text_field!(
    /// How long an escalation step waits before the next: `30s`, `5m`, `2h` (1s to 24h, in one
    /// unit).
    StepDelay = TextRule {
        min: 2,
        max: Some(5),
        pattern: Some(STEP_DELAY),
        explain: "must be a number and one unit from 1s to 24h, like 30s, 5m or 2h",
        reserved: None,
    }
);
text_field!(
    /// A heartbeat's period or grace: a number and one unit, `30s`, `5m`, `1h`, `1d` or `1w`.
    HeartbeatSpan = TextRule {
        min: 2,
        max: Some(7),
        pattern: Some(HEARTBEAT_SPAN),
        explain: "must be a number and one unit, like 5m, 1h, 1d or 1w (s, m, h, d or w)",
        reserved: None,
    }
);
text_field!(
    /// The local date and time of a layer's first handoff, in the schedule's time zone, with no
    /// zone or offset: `2026-03-23T09:00`, or a date for midnight.
    /// Longer than the pattern allows, so a time with a zone or offset
    /// (`2026-03-23T09:00:00+01:00`) is told it needs no zone rather than only its length.
    LocalDateTime = TextRule {
        min: 10,
        max: Some(40),
        pattern: Some(LOCAL_DATE_TIME),
        explain: "must be the local date and time of the first handoff, like 2026-03-23T09:00, in the years 2000 to 2199, with no zone: the schedule's time_zone applies",
        reserved: None,
    }
);
text_field!(
    /// A local time of day, `HH:MM` (`24:00` is the end of the day).
    TimeOfDay = TextRule {
        min: 5,
        max: Some(5),
        pattern: Some(TIME_OF_DAY),
        explain: "must be a time of day like 09:00 or 17:30",
        reserved: None,
    }
);

text_field!(
    /// An action item's title: one line, not blank, at most 200 characters.
    ItemTitle = TextRule {
        min: 1,
        max: Some(firebreak_domain::action_item::TITLE_MAX),
        pattern: Some(ONE_LINE),
        explain: "must be one line that is not blank",
        reserved: None,
    }
);
text_field!(
    /// The link to an action item's ticket: `http://` or `https://`, a host, and printable
    /// ASCII with no spaces (percent-encode the rest); at most 2,000 characters.
    TicketUrl = TextRule {
        min: 1,
        max: Some(firebreak_domain::action_item::URL_MAX),
        pattern: Some(TICKET_URL),
        explain: "must be an http:// or https:// link to the ticket with no spaces, such as https://tracker.example.com/OPS-42",
        reserved: None,
    }
);
text_field!(
    /// Why an action item won't be done, or a note on closing it: not blank, at most 2,000
    /// characters.
    ItemReason = not_blank(firebreak_domain::action_item::REASON_MAX)
);
text_field!(
    /// What a customer reported: at most 2,000 characters, with at least one that is neither
    /// white space nor a control character (control characters other than line breaks and
    /// tabs are removed).
    ReportSummary = TextRule {
        min: 1,
        max: Some(firebreak_domain::customer_report::SUMMARY_MAX),
        pattern: Some(VISIBLE),
        explain: "must hold something other than white space and control characters",
        reserved: None,
    }
);
text_field!(
    /// A reporter's address (an email address or a customer id): one line of at most 254
    /// characters, no control characters, not starting or ending with white space.
    ReporterAddress = TextRule {
        min: 1,
        max: Some(firebreak_domain::customer_report::REPORTER_MAX),
        pattern: Some(r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"),
        explain: "must be one line with no control characters, not starting or ending with white space",
        reserved: None,
    }
);
text_field!(
    /// A postmortem section's Markdown: at most 50,000 characters.
    SectionMarkdown = at_most(firebreak_domain::postmortem::MARKDOWN_MAX)
);

/// A service name or user handle: 1 to 64 lowercase letters, digits, `-`, `_` or `.`, starting
/// with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameText(pub Name);

impl NameText {
    pub const RULE: TextRule = TextRule {
        min: 1,
        max: Some(64),
        pattern: Some(NAME),
        explain: "is not a valid name: use 1 to 64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit",
        reserved: None,
    };
}

impl<'de> Deserialize<'de> for NameText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        NameText::RULE.check(&text).map_err(D::Error::custom)?;
        Name::parse(&text)
            .map(NameText)
            .map_err(|e| D::Error::custom(e.to_string()))
    }
}

impl PartialSchema for NameText {
    fn schema() -> RefOr<Schema> {
        NameText::RULE.schema()
    }
}

impl ToSchema for NameText {
    fn name() -> Cow<'static, str> {
        "Name".into()
    }
}

/// An incident id in a path or query: `INC-7` or `7`.
pub struct IncidentId;

impl PartialSchema for IncidentId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(INCIDENT_ID))
            .examples(["INC-1"])
            .into()
    }
}

impl ToSchema for IncidentId {}

/// An incident in a body or a query: `INC-7`, `inc-7` or `7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentRef(pub firebreak_domain::IncidentNumber);

impl<'de> Deserialize<'de> for IncidentRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let number = matches(INCIDENT_ID, &text)
            .then(|| text.parse().ok())
            .flatten()
            .ok_or_else(|| {
                D::Error::custom(format!("`{text}` is not an incident id like INC-7"))
            })?;
        Ok(IncidentRef(number))
    }
}

impl PartialSchema for IncidentRef {
    fn schema() -> RefOr<Schema> {
        IncidentId::schema()
    }
}

impl ToSchema for IncidentRef {
    fn name() -> Cow<'static, str> {
        "IncidentId".into()
    }
}

/// A severity configured on this server (`severities:` in firebreak.yaml). The document lists
/// the running configuration's names; see [`crate::openapi`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityName(pub String);

impl<'de> Deserialize<'de> for SeverityName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Whether it is configured is checked by the domain, which knows the config.
        String::deserialize(d).map(SeverityName)
    }
}

impl PartialSchema for SeverityName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).into()
    }
}

impl ToSchema for SeverityName {
    fn name() -> Cow<'static, str> {
        "Severity".into()
    }
}

/// An IANA time zone this server knows, such as `Europe/Berlin`. The document lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneName(pub String);

impl<'de> Deserialize<'de> for TimeZoneName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if known_time_zones().contains(&text) {
            Ok(TimeZoneName(text))
        } else {
            Err(D::Error::custom(format!(
                "`{text}` is not a known time zone"
            )))
        }
    }
}

/// The time zone names the API accepts: those of the time zone database this server reads.
pub fn known_time_zones() -> &'static [String] {
    static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
        // Each name is proven by loading its zone from a database of our own, dropped when
        // the list is made: the process-wide one keeps every zone it loads, and holding all
        // of them (several MiB) for a list of names would be waste.
        let db = jiff::tz::TimeZoneDatabase::from_env();
        let mut names: Vec<String> = db
            .available()
            .map(|n| n.to_string())
            .filter(|n| db.get(n).is_ok())
            .collect();
        if db.get("UTC").is_ok() {
            names.push("UTC".to_string());
        }
        names.sort();
        names.dedup();
        names
    });
    &NAMES
}

impl PartialSchema for TimeZoneName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(known_time_zones().iter().cloned()))
            .into()
    }
}

impl ToSchema for TimeZoneName {}

/// An instant: RFC 3339 with a zone, between 2000-01-01T00:00:00Z and 2200-12-31T23:59:59Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time(pub jiff::Timestamp);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::extract::bounded_time(d).map(Time)
    }
}

impl PartialSchema for Time {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .pattern(Some(TIME_YEARS))
            .description(Some(
                "RFC 3339 with a zone, between 2000-01-01T00:00:00Z and 2200-12-31T23:59:59Z",
            ))
            .into()
    }
}

impl ToSchema for Time {}

/// A calendar date, `YYYY-MM-DD`, in the years 2000 to 2199.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarDate(pub jiff::civil::Date);

impl<'de> Deserialize<'de> for CalendarDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let date = matches(DATE, &text)
            .then(|| text.parse().ok())
            .flatten()
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "`{text}` is not a date like 2026-12-24 (a day that exists, in the years 2000 to 2199)"
                ))
            })?;
        Ok(CalendarDate(date))
    }
}

impl PartialSchema for CalendarDate {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some(DATE))
            .examples(["2026-12-24"])
            .into()
    }
}

impl ToSchema for CalendarDate {}

/// The version a change starts from, as the object's `version` said: a whole number, 1 or
/// more (`3` or `3.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionNumber(pub i64);

impl<'de> Deserialize<'de> for VersionNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = serde_json::Number::deserialize(d)?;
        let whole = n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (1.0..=9_007_199_254_740_992.0).contains(f))
                .map(|f| f as i64)
        });
        match whole {
            Some(v) if v >= 1 => Ok(VersionNumber(v)),
            _ => Err(D::Error::custom(
                "must be a whole number, 1 or more: the `version` you read",
            )),
        }
    }
}

impl PartialSchema for VersionNumber {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .into()
    }
}

impl ToSchema for VersionNumber {}

/// A page size: 1 to 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub u32);

impl Limit {
    pub const MAX: u32 = 500;
    pub const DEFAULT: u32 = 50;

    pub fn or_default(given: Option<Limit>) -> u32 {
        given.map_or(Limit::DEFAULT, |l| l.0)
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        if (1..=u64::from(Limit::MAX)).contains(&n) {
            Ok(Limit(n as u32))
        } else {
            Err(D::Error::custom(format!(
                "must be between 1 and {}",
                Limit::MAX
            )))
        }
    }
}

impl PartialSchema for Limit {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(Limit::MAX))
            .description(Some("How many items a page holds: 1 to 500, default 50."))
            .into()
    }
}

impl ToSchema for Limit {}

/// The `cursor` of a list that pages by id: the previous page's `next_cursor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdCursor(pub Option<i64>);

impl<'de> Deserialize<'de> for IdCursor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if !matches(ID_CURSOR, &text) {
            return Err(D::Error::custom(
                "is not a cursor from a previous page's next_cursor",
            ));
        }
        Ok(IdCursor(if text.is_empty() {
            None
        } else {
            text.parse().ok()
        }))
    }
}

impl IdCursor {
    pub fn of(given: Option<IdCursor>) -> Option<i64> {
        given.and_then(|c| c.0)
    }
}

impl PartialSchema for IdCursor {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(ID_CURSOR))
            .description(Some("The `next_cursor` of the previous page."))
            .into()
    }
}

impl ToSchema for IdCursor {}

/// An access role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccessRoleName {
    Viewer,
    Responder,
    Admin,
}

impl From<AccessRoleName> for firebreak_domain::AccessRole {
    fn from(r: AccessRoleName) -> Self {
        match r {
            AccessRoleName::Viewer => firebreak_domain::AccessRole::Viewer,
            AccessRoleName::Responder => firebreak_domain::AccessRole::Responder,
            AccessRoleName::Admin => firebreak_domain::AccessRole::Admin,
        }
    }
}

/// Where an incident is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Mitigated,
    Resolved,
}

impl From<IncidentStatus> for firebreak_domain::Status {
    fn from(s: IncidentStatus) -> Self {
        use firebreak_domain::Status;
        match s {
            IncidentStatus::Investigating => Status::Investigating,
            IncidentStatus::Identified => Status::Identified,
            IncidentStatus::Mitigated => Status::Mitigated,
            IncidentStatus::Resolved => Status::Resolved,
        }
    }
}

impl From<firebreak_domain::Status> for IncidentStatus {
    fn from(s: firebreak_domain::Status) -> Self {
        use firebreak_domain::Status;
        match s {
            Status::Investigating => IncidentStatus::Investigating,
            Status::Identified => IncidentStatus::Identified,
            Status::Mitigated => IncidentStatus::Mitigated,
            Status::Resolved => IncidentStatus::Resolved,
        }
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Open,
    Acknowledged,
    Resolved,
    Suppressed,
}

impl From<AlertState> for firebreak_domain::AlertStatus {
    fn from(s: AlertState) -> Self {
        use firebreak_domain::AlertStatus;
        match s {
            AlertState::Open => AlertStatus::Open,
            AlertState::Acknowledged => AlertStatus::Acknowledged,
            AlertState::Resolved => AlertStatus::Resolved,
            AlertState::Suppressed => AlertStatus::Suppressed,
        }
    }
}

/// An alert's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    Critical,
    Error,
    Warning,
    Info,
}

impl From<AlertLevel> for firebreak_domain::AlertSeverity {
    fn from(s: AlertLevel) -> Self {
        use firebreak_domain::AlertSeverity;
        match s {
            AlertLevel::Critical => AlertSeverity::Critical,
            AlertLevel::Error => AlertSeverity::Error,
            AlertLevel::Warning => AlertSeverity::Warning,
            AlertLevel::Info => AlertSeverity::Info,
        }
    }
}

/// An alert's urgency: high pages, low does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UrgencyLevel {
    High,
    Low,
}

impl From<UrgencyLevel> for firebreak_domain::Urgency {
    fn from(u: UrgencyLevel) -> Self {
        match u {
            UrgencyLevel::High => firebreak_domain::Urgency::High,
            UrgencyLevel::Low => firebreak_domain::Urgency::Low,
        }
    }
}

/// Where an action item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatusName {
    Open,
    Done,
    /// Decided against, with a reason.
    WontDo,
}

impl From<ItemStatusName> for firebreak_domain::action_item::ItemStatus {
    fn from(s: ItemStatusName) -> Self {
        use firebreak_domain::action_item::ItemStatus;
        match s {
            ItemStatusName::Open => ItemStatus::Open,
            ItemStatusName::Done => ItemStatus::Done,
            ItemStatusName::WontDo => ItemStatus::WontDo,
        }
    }
}

impl From<firebreak_domain::action_item::ItemStatus> for ItemStatusName {
    fn from(s: firebreak_domain::action_item::ItemStatus) -> Self {
        use firebreak_domain::action_item::ItemStatus;
        match s {
            ItemStatus::Open => ItemStatusName::Open,
            ItemStatus::Done => ItemStatusName::Done,
            ItemStatus::WontDo => ItemStatusName::WontDo,
        }
    }
}

/// Where a postmortem stands: `draft` while it is written, `in_review` while the team reads
/// it, `published` once it is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostmortemStatusName {
    Draft,
    InReview,
    Published,
}

impl From<PostmortemStatusName> for firebreak_domain::postmortem::PostmortemStatus {
    fn from(s: PostmortemStatusName) -> Self {
        use firebreak_domain::postmortem::PostmortemStatus;
        match s {
            PostmortemStatusName::Draft => PostmortemStatus::Draft,
            PostmortemStatusName::InReview => PostmortemStatus::InReview,
            PostmortemStatusName::Published => PostmortemStatus::Published,
        }
    }
}

impl From<firebreak_domain::postmortem::PostmortemStatus> for PostmortemStatusName {
    fn from(s: firebreak_domain::postmortem::PostmortemStatus) -> Self {
        use firebreak_domain::postmortem::PostmortemStatus;
        match s {
            PostmortemStatus::Draft => PostmortemStatusName::Draft,
            PostmortemStatus::InReview => PostmortemStatusName::InReview,
            PostmortemStatus::Published => PostmortemStatusName::Published,
        }
    }
}

/// A webhook event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventName(pub String);

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use firebreak_engine::events::EventType;
        let text = String::deserialize(d)?;
        match EventType::parse(&text) {
            Some(_) => Ok(EventName(text)),
            None => Err(D::Error::custom(format!(
                "`{text}` is not an event type; use one of {}",
                EventType::ALL.map(|e| e.as_str()).join(", ")
            ))),
        }
    }
}

impl PartialSchema for EventName {
    fn schema() -> RefOr<Schema> {
        use firebreak_engine::events::EventType;
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(EventType::ALL.map(|e| e.as_str())))
            .into()
    }
}

impl ToSchema for EventName {}

/// The key of a postmortem section, one of `firebreak_domain::postmortem::SECTIONS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionKeyName(pub String);

impl<'de> Deserialize<'de> for SectionKeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use firebreak_domain::postmortem::SECTIONS;
        let text = String::deserialize(d)?;
        if SECTIONS.iter().any(|(key, _)| *key == text) {
            Ok(SectionKeyName(text))
        } else {
            Err(D::Error::custom(format!(
                "`{text}` is not a section of a postmortem; use one of {}",
                SECTIONS.map(|(key, _)| key).join(", ")
            )))
        }
    }
}

impl PartialSchema for SectionKeyName {
    fn schema() -> RefOr<Schema> {
        use firebreak_domain::postmortem::SECTIONS;
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(SECTIONS.map(|(key, _)| key)))
            .into()
    }
}

impl ToSchema for SectionKeyName {
    fn name() -> Cow<'static, str> {
        "SectionKey".into()
    }
}

/// A body for a request that takes none: leave it out, or send `{}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

/// A whole number as JSON Schema means one: `13` and `13.0` alike (`13.5` and `-1` are
/// refused). Use with `#[serde(deserialize_with = "fields::whole_u32")]`.
pub fn whole_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(u) = n.as_u64() {
        return u32::try_from(u).map_err(|_| D::Error::custom("is too large"));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => Ok(f as u32),
        _ => Err(D::Error::custom("must be a whole number, 0 or more")),
    }
}

/// A whole number in `i32`'s range, written with or without a zero fraction (`3`, `3.0`).
/// Use with `#[serde(deserialize_with = "fields::whole_i32")]`.
pub fn whole_i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return i32::try_from(i).map_err(|_| D::Error::custom("is out of range"));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&f) => {
            Ok(f as i32)
        }
        _ => Err(D::Error::custom("must be a whole number")),
    }
}

/// An optional whole number in `i64`'s range, written with or without a zero fraction (`3`,
/// `3.0`), as JSON Schema's `integer` allows; absent or `null` is `None`. Use with
/// `#[serde(default, deserialize_with = "fields::optional_whole_i64")]`.
pub fn optional_whole_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    // 2^63 as a float: every whole float below it (and at or above -2^63) fits in an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) => Ok(Some(f as i64)),
        _ => Err(D::Error::custom("must be a whole number")),
    }
}

/// Like [`whole_i32`], 0 or more.
pub fn whole_nonnegative_i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let n = whole_i32(d)?;
    if n < 0 {
        return Err(D::Error::custom("must be 0 or more"));
    }
    Ok(n)
}

/// For PATCH fields that `null` clears: absent is `None`, `null` is `Some(None)`, a value is
/// `Some(Some(value))`. Use with `#[serde(default, deserialize_with = "fields::nullable")]`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        #[derive(Deserialize)]
        struct R {
            #[serde(deserialize_with = "super::whole_u32")]
            n: u32,
        }
        let n = |text: &str| serde_json::from_str::<R>(text).map(|r| r.n).ok();
        assert_eq!(n(r#"{"n": 13}"#), Some(13));
        assert_eq!(n(r#"{"n": 13.0}"#), Some(13));
        assert_eq!(n(r#"{"n": 13.5}"#), None);
        assert_eq!(n(r#"{"n": -1}"#), None);
        assert_eq!(n(r#"{"n": "13"}"#), None);

        #[derive(Deserialize)]
        struct O {
            #[serde(default, deserialize_with = "super::optional_whole_i64")]
            n: Option<i64>,
        }
        let o = |text: &str| serde_json::from_str::<O>(text).map(|r| r.n).map_err(|_| ());
        assert_eq!(o(r#"{"n": 11.0}"#), Ok(Some(11)));
        assert_eq!(o(r#"{"n": -3}"#), Ok(Some(-3)));
        assert_eq!(o(r#"{"n": null}"#), Ok(None));
        assert_eq!(o(r#"{}"#), Ok(None));
        assert_eq!(o(r#"{"n": 1.5}"#), Err(()));
        assert_eq!(o(r#"{"n": 1e300}"#), Err(()));
    }

    use super::*;

    #[test]
    fn component_names_refuse_every_control_character_the_domain_refuses() {
        for bad in [
            "",
            " Checkout",
            "Checkout ",
            "Check\u{1}out",
            "Check\u{7f}out",
            "Check\u{9e}out",
        ] {
            assert!(ComponentName::RULE.check(bad).is_err(), "{bad:?}");
        }
        for good in ["Checkout API", "Åsa's shop", "A"] {
            assert!(ComponentName::RULE.check(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn webhook_urls_take_any_port_and_ipv6_literals() {
        for ok in [
            "https://hooks.example.com/firebreak",
            "http://10.0.0.7:30080/events?token=x",
            "https://hooks.example.com:44300/",
            "http://[2001:db8::1]:8443/x",
            "http://127.0.0.1:65535",
            "HTTPS://hooks.example.com/x",
            "Https://hooks.example.com/x",
            "https://bücher.de/x",
            // These two fit, so that the answer can name what is wrong with them.
            "https://user:pass@example.com/a",
            "http://[fe80::1%25eth0]/",
        ] {
            assert!(matches(WEBHOOK_URL, ok), "{ok}");
        }
        for bad in [
            "ftp://x/",
            "https://",
            "https://a b/",
            "https://x:123456/",
            "http://[zz]/",
        ] {
            assert!(!matches(WEBHOOK_URL, bad), "{bad}");
        }
    }

    #[test]
    fn not_blank_agrees_with_trim_for_every_character() {
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let s = c.to_string();
            assert_eq!(
                matches(NOT_BLANK, &s),
                !s.trim().is_empty(),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn name_pattern_agrees_with_the_domain() {
        for s in [
            "a",
            "0",
            "checkout-api",
            "a.b_c",
            "A",
            "",
            "-a",
            "a/b",
            "a b",
            "é",
            "a\n",
        ] {
            assert_eq!(
                NameText::RULE.check(s).is_ok(),
                Name::parse(s).is_ok(),
                "{s:?}"
            );
        }
        let long = "a".repeat(65);
        assert!(NameText::RULE.check(&long).is_err() && Name::parse(&long).is_err());
        assert!(NameText::RULE.check(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn incident_ids_that_fit_the_pattern_parse() {
        for s in ["INC-1", "inc-7", "7", "0007", "INC-999999999999999999"] {
            assert!(matches(INCIDENT_ID, s), "{s}");
            assert!(s.parse::<firebreak_domain::IncidentNumber>().is_ok(), "{s}");
        }
        for s in ["INC-0", "0", "+7", "-7", "INC-", "inc7", "7a"] {
            assert!(!matches(INCIDENT_ID, s), "{s}");
        }
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(Title::RULE.check(&"é".repeat(200)).is_ok());
        assert!(Title::RULE.check(&"é".repeat(201)).is_err());
        assert!(Title::RULE.check(" \t").is_err());
    }

    #[test]
    fn dates_that_fit_the_pattern_are_the_days_that_exist() {
        for year in 1999..=2200 {
            for month in 0..=13 {
                for day in 0..=32 {
                    let text = format!("{year:04}-{month:02}-{day:02}");
                    let exists = text.parse::<jiff::civil::Date>().is_ok();
                    let fits = matches(DATE, &text);
                    assert_eq!(fits, exists && (2000..2200).contains(&year), "{text}");
                    let read = serde_json::from_value::<CalendarDate>(text.clone().into());
                    assert_eq!(read.is_ok(), fits, "{text}");
                }
            }
        }
        for bad in ["2026-1-05", "2026-01-05T00:00", " 2026-01-05", "20260105"] {
            assert!(!matches(DATE, bad), "{bad}");
        }
    }

    #[test]
    fn item_fields_the_schema_takes_the_domain_takes() {
        use firebreak_domain::action_item::{check_ticket_url, check_title};
        for title in ["Add a canary", "  padded  ", "Åsa's fix", "x"] {
            assert!(ItemTitle::RULE.check(title).is_ok(), "{title:?}");
            assert!(check_title(title).is_ok(), "{title:?}");
        }
        for title in ["", " ", "two\nlines", "\r", "a\u{2028}", "\u{3000}"] {
            let fits = ItemTitle::RULE.check(title).is_ok();
            assert!(!fits || check_title(title).is_ok(), "{title:?}");
        }
        assert!(ItemTitle::RULE.check("two\nlines").is_err());
        for url in [
            "https://tracker.example.com/OPS-42",
            "HTTP://x",
            "http://a.b/c?d=e#f",
            "https://[2001:db8::1]:8443/x",
        ] {
            assert!(TicketUrl::RULE.check(url).is_ok(), "{url}");
            assert_eq!(
                check_ticket_url(Some(url)),
                Ok(Some(url.to_string())),
                "{url}"
            );
        }
        for url in [
            "ftp://x",
            "https://",
            "https:///x",
            "https://a b",
            "https://é.example",
        ] {
            assert!(TicketUrl::RULE.check(url).is_err(), "{url}");
        }
    }

    #[test]
    fn versions_are_whole_numbers_from_one() {
        let read =
            |v: serde_json::Value| serde_json::from_value::<VersionNumber>(v).map(|v| v.0).ok();
        assert_eq!(read(serde_json::json!(1)), Some(1));
        assert_eq!(read(serde_json::json!(7.0)), Some(7));
        assert_eq!(read(serde_json::json!(i64::MAX)), Some(i64::MAX));
        for bad in [
            serde_json::json!(0),
            serde_json::json!(-3),
            serde_json::json!(1.5),
            serde_json::json!("2"),
            serde_json::json!(u64::MAX),
        ] {
            assert_eq!(read(bad.clone()), None, "{bad}");
        }
    }

    #[test]
    fn section_keys_are_the_domains() {
        use firebreak_domain::postmortem::SECTIONS;
        for (key, _) in SECTIONS {
            assert!(serde_json::from_value::<SectionKeyName>(key.into()).is_ok());
        }
        assert!(serde_json::from_value::<SectionKeyName>("lessons".into()).is_err());
    }

    #[test]
    fn limits_are_one_to_five_hundred() {
        let parse = |s: &str| serde_json::from_str::<Limit>(s).map(|l| l.0).ok();
        assert_eq!(parse("1"), Some(1));
        assert_eq!(parse("500"), Some(500));
        assert_eq!(parse("0"), None);
        assert_eq!(parse("501"), None);
        assert_eq!(parse("-1"), None);
    }
}
text_field!(
    /// A game day's name: one line of at most 200 characters.
    GameDayName = TextRule {
        min: 1,
        max: Some(firebreak_domain::gameday::NAME_MAX),
        pattern: Some(ONE_LINE),
        explain: "must be one line with something other than white space",
        reserved: None,
    }
);
