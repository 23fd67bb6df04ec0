//! `firebreak report incidents` and `firebreak report dora`: the response and DORA figures of a
//! period as tables with durations people read (`4m 10s`, `1h 02m`, `3d 4h`), the server's JSON
//! unchanged (`--json`), or CSV with durations in whole seconds (`--csv`) for a spreadsheet.

use std::io::Write;

use serde_json::Value;

use crate::cli::{ReportCommand, ReportGroupBy, ReportPeriod};
use crate::error::CliError;
use crate::render::{printable, table};
use crate::{ClientArgs, client_for, write_json};

fn text(v: &Value) -> String {
    crate::render::text(Some(v))
}

/// A duration in seconds as people read it: `45s`, `4m 10s`, `1h 02m`, `3d 4h`. Two units at
/// most, the second zero-padded below an hour so columns line up; `-` for none.
pub fn human_duration(seconds: Option<i64>) -> String {
    let Some(s) = seconds else {
        return "-".into();
    };
    let sign = if s < 0 { "-" } else { "" };
    let s = s.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    match () {
        _ if s < 60 => format!("{sign}{sec}s"),
        _ if s < 3_600 => format!("{sign}{m}m {sec:02}s"),
        _ if s < 86_400 => format!("{sign}{h}h {m:02}m"),
        _ => format!("{sign}{d}d {h}h"),
    }
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, with its
/// quotes doubled.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One CSV row with its line ending: `\n`, which spreadsheets read as well as CRLF and which
/// line-based tools (`cut`, `awk`) do not trip over.
pub fn csv_row<S: AsRef<str>>(fields: &[S]) -> String {
    let mut row = fields
        .iter()
        .map(|f| csv_field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    row.push('\n');
    row
}

/// A JSON value as a CSV cell: numbers and strings as they are, null as empty, lists joined
/// with spaces.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// A share between 0 and 1 as a percentage with one decimal; `-` for none.
fn percent(v: &Value) -> String {
    v.as_f64()
        .map(|f| format!("{:.1}%", f * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// An instant for the API from `--from`/`--to`: RFC 3339 as given, or a date as its start in
/// UTC (the reports' weeks are UTC too).
fn instant(flag: &str, v: &str) -> Result<String, CliError> {
    let v = v.trim();
    if v.parse::<jiff::Timestamp>().is_ok() {
        return Ok(v.to_string());
    }
    // A date alone is a day in UTC. A date with a time but no zone is refused, not cut to
    // its day: which hour was meant depends on a zone only the user knows.
    if v.len() > 10 && v.parse::<jiff::civil::DateTime>().is_ok() {
        return Err(CliError::Usage(format!(
            "{flag} {v:?} has no time zone: add one, like {}Z for UTC or {}+01:00",
            v.replace(' ', "T"),
            v.replace(' ', "T")
        )));
    }
    v.parse::<jiff::civil::Date>()
        .ok()
        .filter(|_| v.len() == 10)
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().to_string())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{flag} {v:?}: expected a date like 2026-11-01, or RFC 3339 like 2026-11-01T00:00:00Z"
            ))
        })
}

fn period_query(p: &ReportPeriod) -> Result<Vec<(&'static str, String)>, CliError> {
    let mut query = Vec::new();
    for (flag, key, value) in [("--from", "from", &p.from), ("--to", "to", &p.to)] {
        if let Some(v) = value {
            query.push((key, instant(flag, v)?));
        }
    }
    if p.drills {
        query.push(("drills", "true".into()));
    }
    Ok(query)
}

/// The three figures of a duration summary the tables show, one per line.
fn stat_cell(stat: &Value) -> String {
    if stat["count"].as_u64().unwrap_or(0) == 0 {
        return "-".into();
    }
    format!(
        "{}\np50 {}\np90 {}",
        human_duration(stat["mean"].as_i64()),
        human_duration(stat["p50"].as_i64()),
        human_duration(stat["p90"].as_i64())
    )
}

const STAT_FIELDS: [&str; 6] = ["count", "mean", "p50", "p90", "min", "max"];

/// The CSV columns of one duration summary, `mtta_count`, `mtta_mean`, ...
fn stat_header(prefix: &str) -> Vec<String> {
    STAT_FIELDS
        .iter()
        .map(|f| format!("{prefix}_{f}"))
        .collect()
}

fn stat_cells(stat: &Value) -> Vec<String> {
    STAT_FIELDS.iter().map(|f| cell(&stat[*f])).collect()
}

/// At most ten incident numbers, then how many more.
fn some_numbers(numbers: &Value) -> String {
    let all: Vec<String> = numbers
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    match all.len() {
        0 => "-".into(),
        n if n <= 10 => all.join(", "),
        n => format!("{}, and {} more", all[..10].join(", "), n - 10),
    }
}

/// The period as the server understood it, and whether drills count.
fn period_line(v: &Value) -> String {
    format!(
        "from {} to {} ({})",
        text(&v["from"]),
        text(&v["to"]),
        if v["drills"] == true {
            "drills included"
        } else {
            "drills left out"
        }
    )
}

fn incidents_csv(v: &Value) -> String {
    let mut header = vec!["group".to_string(), "incidents".into(), "resolved".into()];
    for prefix in ["mtta", "time_to_mitigate", "mttr"] {
        header.extend(stat_header(prefix));
    }
    header.extend(
        [
            "postmortems_published",
            "postmortem_share",
            "action_items_opened",
            "action_items_done",
            "action_items_overdue",
            "numbers",
        ]
        .map(String::from),
    );
    let mut csv = csv_row(&header);
    for g in v["groups"].as_array().into_iter().flatten() {
        let mut row = vec![cell(&g["key"]), cell(&g["incidents"]), cell(&g["resolved"])];
        for key in ["mtta", "time_to_mitigate", "mttr"] {
            row.extend(stat_cells(&g[key]));
        }
        row.extend([
            cell(&g["postmortems_published"]),
            cell(&g["postmortem_share"]),
            cell(&g["action_items"]["opened"]),
            cell(&g["action_items"]["done"]),
            cell(&g["action_items"]["overdue"]),
            cell(&g["numbers"]),
        ]);
        csv.push_str(&csv_row(&row));
    }
    csv
}

fn incidents_text(v: &Value, out: &mut dyn Write) -> Result<(), CliError> {
    let by = match v["group_by"].as_str() {
        Some("service") => ", by service,",
        Some("severity") => ", by severity,",
        _ => "",
    };
    writeln!(out, "Incidents detected{by} {}", period_line(v))?;
    let groups = v["groups"].as_array().cloned().unwrap_or_default();
    let first = match v["group_by"].as_str() {
        Some("service") => "SERVICE",
        Some("severity") => "SEVERITY",
        _ => "GROUP",
    };
    let mut t = table(&[
        first,
        "INCIDENTS",
        "RESOLVED",
        "MTTA",
        "TIME TO MITIGATE",
        "MTTR",
        "POSTMORTEMS",
        "WHICH",
    ]);
    for g in &groups {
        t.add_row(vec![
            text(&g["key"]),
            text(&g["incidents"]),
            text(&g["resolved"]),
            stat_cell(&g["mtta"]),
            stat_cell(&g["time_to_mitigate"]),
            stat_cell(&g["mttr"]),
            match g["resolved"].as_u64() {
                Some(n) if n > 0 => format!(
                    "{} of {n} ({})",
                    text(&g["postmortems_published"]),
                    percent(&g["postmortem_share"])
                ),
                _ => "-".into(),
            },
            some_numbers(&g["numbers"]),
        ]);
    }
    if groups.is_empty() {
        writeln!(out, "No incidents.")?;
    } else {
        writeln!(out, "{t}")?;
        writeln!(
            out,
            "MTTA and MTTR are means, from detection; p50 and p90 are the median and the 90th percentile."
        )?;
    }
    let weeks = v["weeks"].as_array().cloned().unwrap_or_default();
    if weeks.len() > 1 {
        writeln!(out, "\nWeek by week (weeks start on Monday, 00:00 UTC)")?;
        let mut t = table(&[
            "WEEK",
            "INCIDENTS",
            "MTTA",
            "MTTR",
            "DEPLOYS",
            "FAILED",
            "CHANGE FAILURE RATE",
        ]);
        for w in &weeks {
            t.add_row(vec![
                text(&w["week"]),
                text(&w["incidents"]),
                human_duration(w["mtta"]["mean"].as_i64()),
                human_duration(w["mttr"]["mean"].as_i64()),
                text(&w["deploys"]),
                text(&w["failed_deploys"]),
                percent(&w["change_failure_rate"]),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    let items = &v["action_items"];
    if items.is_object() {
        writeln!(
            out,
            "Action items: {} opened and {} done in the period; {} overdue now.",
            text(&items["opened"]),
            text(&items["done"]),
            text(&items["overdue"])
        )?;
    }
    Ok(())
}

fn dora_csv(v: &Value) -> String {
    const COLUMNS: [&str; 8] = [
        "deploy",
        "service",
        "version",
        "at",
        "incidents",
        "rolled_back",
        "mitigated_at",
        "recovery_seconds",
    ];
    let mut csv = csv_row(&COLUMNS);
    for f in v["failures"].as_array().into_iter().flatten() {
        csv.push_str(&csv_row(&COLUMNS.map(|c| cell(&f[c]))));
    }
    csv
}

fn dora_text(v: &Value, out: &mut dyn Write) -> Result<(), CliError> {
    let service = match v["service"].as_str() {
        Some(s) => format!(" of {}", printable(s)),
        None => String::new(),
    };
    writeln!(out, "Deploys{service} {}", period_line(v))?;
    writeln!(
        out,
        "Deploys: {}   failed: {}   change failure rate: {}",
        text(&v["deploys"]),
        text(&v["failed_deploys"]),
        percent(&v["change_failure_rate"])
    )?;
    let r = &v["recovery"];
    let recovered = r["count"].as_u64().unwrap_or(0);
    if recovered == 0 {
        writeln!(out, "Failed deployment recovery time: - (none recovered)")?;
    } else {
        writeln!(
            out,
            "Failed deployment recovery time: mean {}, p50 {}, p90 {}, longest {} ({recovered} recovered)",
            human_duration(r["mean"].as_i64()),
            human_duration(r["p50"].as_i64()),
            human_duration(r["p90"].as_i64()),
            human_duration(r["max"].as_i64()),
        )?;
    }
    let failures = v["failures"].as_array().cloned().unwrap_or_default();
    if !failures.is_empty() {
        writeln!(out, "\nFailed deploys")?;
        let mut t = table(&[
            "DEPLOY",
            "SERVICE",
            "VERSION",
            "AT",
            "INCIDENTS",
            "WHY",
            "RECOVERY",
        ]);
        for f in &failures {
            t.add_row(vec![
                text(&f["deploy"]),
                text(&f["service"]),
                text(&f["version"]),
                text(&f["at"]),
                text(&f["incidents"]),
                if f["rolled_back"] == true {
                    "rolled back".into()
                } else {
                    "suspect deploy".into()
                },
                match f["recovery_seconds"].as_i64() {
                    Some(s) => human_duration(Some(s)),
                    None => "not yet".into(),
                },
            ]);
        }
        writeln!(out, "{t}")?;
    }
    let by_service = v["deploys_by_service"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !by_service.is_empty() {
        writeln!(out, "\nDeploys by service")?;
        let mut t = table(&["SERVICE", "DEPLOYS"]);
        for s in &by_service {
            t.add_row(vec![text(&s["service"]), text(&s["deploys"])]);
        }
        writeln!(out, "{t}")?;
    }
    Ok(())
}

/// Run a `report` subcommand with an explicit output writer.
pub async fn execute_report(
    cmd: ReportCommand,
    args: &ClientArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (period, path, mut query) = match &cmd {
        ReportCommand::Incidents { period, group_by } => {
            let mut q = Vec::new();
            if let Some(g) = group_by {
                q.push((
                    "group_by",
                    match g {
                        ReportGroupBy::Service => "service",
                        ReportGroupBy::Severity => "severity",
                    }
                    .to_string(),
                ));
            }
            (period, "incidents", q)
        }
        ReportCommand::Dora { period, service } => {
            let q = service.iter().map(|s| ("service", s.clone())).collect();
            (period, "dora", q)
        }
    };
    if period.csv && args.json {
        return Err(CliError::Usage("give --json or --csv, not both".into()));
    }
    query.extend(period_query(period)?);
    let api = client_for(args)?;
    let v = api.get(&["reports", path], &query).await?;
    if args.json {
        return write_json(out, &v);
    }
    match (&cmd, period.csv) {
        (ReportCommand::Incidents { .. }, true) => out.write_all(incidents_csv(&v).as_bytes())?,
        (ReportCommand::Incidents { .. }, false) => incidents_text(&v, out)?,
        (ReportCommand::Dora { .. }, true) => out.write_all(dora_csv(&v).as_bytes())?,
        (ReportCommand::Dora { .. }, false) => dora_text(&v, out)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_like_people_write_them() {
        let cases = [
            (None, "-"),
            (Some(0), "0s"),
            (Some(59), "59s"),
            (Some(60), "1m 00s"),
            (Some(250), "4m 10s"),
            (Some(3_599), "59m 59s"),
            (Some(3_600), "1h 00m"),
            (Some(3_720), "1h 02m"),
            (Some(86_399), "23h 59m"),
            (Some(86_400), "1d 0h"),
            (Some(3 * 86_400 + 4 * 3_600 + 59 * 60), "3d 4h"),
            (Some(400 * 86_400), "400d 0h"),
            (Some(-90), "-1m 30s"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs:?}");
        }
    }

    #[test]
    fn a_time_without_a_zone_is_refused_not_cut_to_its_day() {
        assert_eq!(
            instant("--from", "2026-12-05").unwrap(),
            "2026-12-05T00:00:00Z"
        );
        assert_eq!(
            instant("--from", "2026-12-05T19:00:00Z").unwrap(),
            "2026-12-05T19:00:00Z"
        );
        for v in ["2026-12-05T19:00:00", "2026-12-05 19:00"] {
            let e = instant("--from", v).unwrap_err().to_string();
            assert!(e.contains("has no time zone"), "{v}: {e}");
            assert!(e.contains("2026-12-05T19:00"), "{v}: {e}");
        }
    }

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("checkout"), "checkout");
        assert_eq!(csv_field("no service"), "no service");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_row(&["a", "b,c", ""]), "a,\"b,c\",\n");
    }

    fn stat(count: u64, mean: i64) -> Value {
        json!({"count": count, "mean": mean, "p50": mean, "p90": mean, "min": mean, "max": mean})
    }

    fn none() -> Value {
        json!({"count": 0, "mean": null, "p50": null, "p90": null, "min": null, "max": null})
    }

    #[test]
    fn incidents_csv_has_a_row_per_group_and_durations_in_seconds() {
        let v = json!({
            "from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z",
            "group_by": "service", "drills": false,
            "groups": [
                {"key": "checkout", "incidents": 2, "resolved": 1, "mtta": stat(2, 250),
                 "time_to_mitigate": stat(1, 3720), "mttr": stat(1, 7200),
                 "postmortems_published": 1, "postmortem_share": 1.0,
                 "action_items": {"opened": 2, "done": 1, "overdue": 0}, "numbers": ["INC-1", "INC-3"]},
                {"key": "no service", "incidents": 1, "resolved": 0, "mtta": none(),
                 "time_to_mitigate": none(), "mttr": none(),
                 "postmortems_published": 0, "postmortem_share": null, "numbers": ["INC-2"]}
            ],
            "action_items": {"opened": 3, "done": 1, "overdue": 1}
        });
        let csv = incidents_csv(&v);
        let rows: Vec<&str> = csv.lines().filter(|r| !r.is_empty()).collect();
        assert_eq!(rows.len(), 3, "{csv}");
        let header: Vec<&str> = rows[0].split(',').collect();
        assert_eq!(header.len(), 3 + 18 + 6);
        assert_eq!(header[3], "mtta_count");
        let first: Vec<&str> = rows[1].split(',').collect();
        assert_eq!(first.len(), header.len(), "{}", rows[1]);
        assert_eq!(first[0], "checkout");
        assert_eq!(
            first[header.iter().position(|h| *h == "mttr_mean").unwrap()],
            "7200"
        );
        assert_eq!(first[header.len() - 1], "INC-1 INC-3");
        let opened = header
            .iter()
            .position(|h| *h == "action_items_opened")
            .unwrap();
        assert_eq!(first[opened..opened + 3], ["2", "1", "0"]);
        let second: Vec<&str> = rows[2].split(',').collect();
        assert_eq!(second[0], "no service");
        assert_eq!(
            second[header.iter().position(|h| *h == "mtta_p90").unwrap()],
            ""
        );
    }

    #[test]
    fn the_incidents_table_shows_durations_for_people() {
        let v = json!({
            "from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z",
            "group_by": null, "drills": false,
            "groups": [{"key": "all", "incidents": 1, "resolved": 1, "mtta": stat(1, 250),
                "time_to_mitigate": stat(1, 3720), "mttr": stat(1, 3 * 86_400 + 4 * 3_600),
                "postmortems_published": 0, "postmortem_share": 0.0, "numbers": ["INC-1"]}],
            "action_items": {"opened": 0, "done": 0, "overdue": 2}
        });
        let mut out = Vec::new();
        incidents_text(&v, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        for want in [
            "4m 10s",
            "1h 02m",
            "3d 4h",
            "0 of 1 (0.0%)",
            "INC-1",
            "2 overdue now",
        ] {
            assert!(out.contains(want), "{want} in {out}");
        }
    }

    #[test]
    fn dora_csv_has_a_row_per_failed_deploy() {
        let v = json!({
            "deploys": 4, "failed_deploys": 2, "change_failure_rate": 0.5,
            "recovery": stat(1, 600),
            "failures": [
                {"deploy": 3, "service": "checkout", "version": "v1,2", "at": "2026-11-02T10:00:00Z",
                 "incidents": ["INC-3", "INC-4"], "rolled_back": true,
                 "mitigated_at": "2026-11-02T10:10:00Z", "recovery_seconds": 600},
                {"deploy": 5, "service": "search", "version": "", "at": "2026-11-03T10:00:00Z",
                 "incidents": ["INC-5"], "rolled_back": false, "mitigated_at": null,
                 "recovery_seconds": null}
            ],
            "deploys_by_service": [{"service": "checkout", "deploys": 3}]
        });
        let csv = dora_csv(&v);
        assert_eq!(
            csv,
            "deploy,service,version,at,incidents,rolled_back,mitigated_at,recovery_seconds\n\
             3,checkout,\"v1,2\",2026-11-02T10:00:00Z,INC-3 INC-4,true,2026-11-02T10:10:00Z,600\n\
             5,search,,2026-11-03T10:00:00Z,INC-5,false,,\n"
        );
        let mut out = Vec::new();
        dora_text(&v, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        for want in [
            "50.0%",
            "10m 00s",
            "not yet",
            "rolled back",
            "suspect deploy",
        ] {
            assert!(out.contains(want), "{want} in {out}");
        }
    }

    #[test]
    fn a_period_is_a_time_or_a_date() {
        let p = |from: &str| ReportPeriod {
            from: Some(from.into()),
            ..Default::default()
        };
        let from = |given: &str| period_query(&p(given)).unwrap()[0].1.clone();
        assert_eq!(
            from("2026-11-01"),
            "2026-11-01T00:00:00Z",
            "a date starts at 00:00 UTC"
        );
        assert_eq!(
            from("2026-11-01T09:30:00+01:00"),
            "2026-11-01T09:30:00+01:00"
        );
        let e = period_query(&p("last week")).unwrap_err();
        assert!(matches!(e, CliError::Usage(_)));
        assert!(e.to_string().contains("--from"), "{e}");
    }
}
