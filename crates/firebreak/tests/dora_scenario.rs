//! The DORA recovery metrics and the incident report of one scripted day, through the real
//! server on SQLite and on PostgreSQL, with the clock moved by hand. Every expected figure
//! below was worked out by hand from the script, before running it; none is computed by
//! Firebreak's own code.
//!
//! The day is Tuesday 2026-11-24 (UTC); the report period is [11-24 00:00, 11-25 00:00).
//! The suspect window is the default, 2 h: an incident's suspect deploy is the newest deploy
//! that is not a rollback, of one of its services, with detected - 2h <= at <= detected. A
//! rollback that names the deploy it undid and its incident fails that deploy too. Rollbacks
//! count as neither deploys nor failures. Drills and real work never mix: a drill incident's
//! suspect is a drill deploy (one a game day recorded), never a real one, and a real
//! incident's never a drill deploy; drill deploys count only with drills. Times are HH:MM on
//! 11-24 unless a date is given.
//!
//! Deploys (D-number = order recorded; "in" = counted in the period's deploys):
//!
//! | D  | at          | service  | version | in  | failed? why                                     |
//! |----|-------------|----------|---------|-----|-------------------------------------------------|
//! | 1  | 11-23 23:00 | checkout | v100    | no  | INC-1's suspect, but before the period: no      |
//! | 2  | 00:30       | checkout | v101    | yes | no (after INC-1's detection)                    |
//! | 3  | 01:00       | payments | p200    | yes | no                                              |
//! | 4  | 01:30       | search   | s300    | yes | no                                              |
//! | 5  | 02:00       | auth     | a400    | yes | no                                              |
//! | 6  | 03:00       | checkout | v102    | yes | no (D7 is newer)                                |
//! | 7  | 03:20       | checkout | v103    | yes | YES: INC-2's suspect, and D9 rolled it back     |
//! | 8  | 03:30       | payments | p201    | yes | no (2h50 before INC-3: outside the window)      |
//! | 9  | 04:10       | checkout | v102    | no  | rollback of D7 for INC-2                        |
//! | 10 | 05:00       | search   | s301    | yes | no (INC-4's window holds it; D11 is newer)      |
//! | 11 | 05:30       | auth     | a401    | yes | YES: INC-4's suspect                            |
//! | 12 | 06:00       | checkout | v104    | dr. | a DRILL deploy: only with drills, the drill     |
//! |    |             |          |         |     | INC-5's suspect (exactly 2h before: it holds)   |
//! | 13 | 08:50       | payments | p202    | yes | YES: D15 rolled it back for INC-6               |
//! | 14 | 09:00       | payments | p203    | yes | YES: INC-6's suspect                            |
//! | 15 | 09:40       | payments | p201    | no  | rollback of D13 for INC-6                       |
//! | 16 | 10:30       | search   | s302    | yes | no                                              |
//! | 17 | 11:00       | checkout | v105    | yes | YES: INC-7's suspect (D18 is newer, a rollback) |
//! | 18 | 11:30       | checkout | v104    | no  | rollback naming nothing: no failure             |
//! | 19 | 12:30       | auth     | a402    | yes | no                                              |
//! | 20 | 13:00       | search   | s303    | yes | YES: suspect of both INC-8 and INC-9            |
//! | 21 | 15:00       | checkout | v106    | yes | no                                              |
//! | 22 | 16:00       | payments | p204    | yes | no                                              |
//! | 23 | 17:00       | auth     | a403    | yes | no                                              |
//! | 24 | 18:00       | search   | s304    | yes | no                                              |
//! | 25 | 19:00       | checkout | v107    | yes | no                                              |
//! | 26 | 20:00       | payments | p205    | yes | no                                              |
//! | 27 | 21:00       | auth     | a404    | yes | no                                              |
//! | 28 | 22:00       | search   | s305    | yes | no                                              |
//! | 29 | 23:30       | checkout | v108    | yes | YES: INC-10's suspect (INC-10 is detected after |
//! |    |             |          |         |     | the period; its deploy is in it)                |
//! | 30 | 11-25 00:30 | checkout | v109    | no  | after the period                                |
//!
//! Counted: D2-D29 less the rollbacks D9, D15, D18 and the drill D12 = 24 (auth 5: D5 11 19 23
//! 27; checkout 7: D2 6 7 17 21 25 29; payments 6: D3 8 13 14 22 26; search 6: D4 10 16 20 24
//! 28); with drills 25 (checkout 8, D12 too).
//!
//! Incidents (declared by the responder, a user, unless alerted; a SEV1 or SEV2 declared by a
//! user makes them commander, which acknowledges it at the declaration):
//!
//! | INC | how                 | sev  | services     | detected | acked | mitigated | resolved |
//! |-----|---------------------|------|--------------|----------|-------|-----------|----------|
//! | 1   | declared 00:20      | SEV2 | checkout     | 00:20    | 00:20 | 00:40     | 01:00    |
//! | 2   | declared 04:00      | SEV1 | checkout     | 03:45    | 04:00 | 04:20     | 05:00    |
//! | 3   | alert 06:30         | SEV3 | payments     | 06:30    | -     | 07:00     | 07:30    |
//! | 4   | declared 07:00      | SEV2 | search, auth | 07:00    | 07:00 | 08:00     | 09:00    |
//! | 5   | declared 08:00 DRILL| SEV3 | checkout     | 08:00    | -     | 08:45     | 09:00    |
//! | 6   | declared 09:30      | SEV3 | payments     | 09:20    | -     | 10:05     | -        |
//! | 7   | alert 12:00         | SEV3 | checkout     | 12:00    | -     | -         | -        |
//! | 8   | declared 14:00      | SEV2 | search       | 14:00    | 14:00 | 14:30     | 15:00    |
//! | 9   | declared 14:10      | SEV3 | search       | 14:05    | -     | 14:20     | -        |
//! | 10  | declared 11-25 00:15| SEV3 | checkout     | 00:15    | -     | 00:40     | -        |
//!
//! Suspects: INC-1 D1 (window 11-23 22:20..00:20); INC-2 D7; INC-3 none (window 04:30..06:30
//! holds no payments deploy); INC-4 D11 (auth 05:30 is newer than search 05:00); INC-5 D12
//! (both drills);
//! INC-6 D14; INC-7 D17; INC-8 and INC-9 D20; INC-10 D29.
//!
//! Failed deploys and recovery (deploy to the earliest mitigation of its incidents):
//!
//! | D  | incidents   | rolled back | mitigated    | recovery s          |
//! |----|-------------|-------------|--------------|---------------------|
//! | 7  | INC-2       | yes         | 04:20        | 3600 (1h)           |
//! | 11 | INC-4       | no          | 08:00        | 9000 (2h30)         |
//! | 12 | INC-5 drill | no          | 08:45        | 9900 (2h45), drills |
//! | 13 | INC-6       | yes         | 10:05        | 4500 (1h15)         |
//! | 14 | INC-6       | no          | 10:05        | 3900 (1h05)         |
//! | 17 | INC-7       | no          | -            | none yet            |
//! | 20 | INC-8, 9    | no          | 14:20 (INC-9)| 4800 (1h20)         |
//! | 29 | INC-10      | no          | 11-25 00:40  | 4200 (1h10)         |
//!
//! Nearest rank: the p-th percentile of n sorted values is the value at rank ceil(p/100 × n);
//! the mean is rounded half up.
//!
//! | report                  | deploys | failed | CFR          | recovery values (sorted)             | mean | p50  | p90  |
//! |-------------------------|---------|--------|--------------|--------------------------------------|------|------|------|
//! | all                     | 24      | 7      | 7/24         | 3600 3900 4200 4500 4800 9000        | 5000 | 4200 | 9000 |
//! | all, drills             | 25      | 8      | 8/25 = 0.32  | 3600 3900 4200 4500 4800 9000 9900   | 5700 | 4500 | 9900 |
//! | checkout                | 7       | 3      | 3/7          | 3600 4200                            | 3900 | 3600 | 4200 |
//! | checkout, drills        | 8       | 4      | 4/8 = 0.5    | 3600 4200 9900                       | 5900 | 4200 | 9900 |
//!
//! (all: sum 30000 / 6; p50 rank 3, p90 rank 6. drills: 39900 / 7; ranks 4 and 7. checkout:
//! 7800 / 2; ranks 1 and 2. checkout with drills: 17700 / 3; ranks 2 and 3.) Recovery counts
//! 6, 7, 2, 3: the failure of D17 has no recovery yet.
//!
//! The incident report of the period (INC-10 is detected after it; INC-5 is a drill), in
//! seconds from detection:
//!
//! | INC | ack | mitigate | resolve |
//! |-----|-----|----------|---------|
//! | 1   | 0   | 1200     | 2400    |
//! | 2   | 900 | 2100     | 4500    |
//! | 3   | -   | 1800     | 3600    |
//! | 4   | 0   | 3600     | 7200    |
//! | 5   | -   | 2700     | 3600    | (drill)
//! | 6   | -   | 2700     | -       |
//! | 7   | -   | -        | -       |
//! | 8   | 0   | 1800     | 3600    |
//! | 9   | -   | 900      | -       |
//!
//! | drills | incidents | resolved | MTTA n/mean/p50/p90 | mitigate n/mean/p50/p90 | MTTR n/mean/p50/p90 |
//! |--------|-----------|----------|---------------------|-------------------------|---------------------|
//! | no     | 8         | 5        | 4 / 225 / 0 / 900   | 7 / 2014 / 1800 / 3600  | 5 / 4260 / 3600 / 7200 |
//! | yes    | 9         | 6        | 4 / 225 / 0 / 900   | 8 / 2100 / 1800 / 3600  | 6 / 4150 / 3600 / 7200 |
//!
//! (mitigate: 900 1200 1800 1800 2100 2700 3600, sum 14100 / 7 = 2014.3; ranks 4 and 7. With
//! the drill 2700 more: sum 16800 / 8; ranks 4 and 8. MTTR: 2400 3600 3600 4500 7200, sum
//! 21300 / 5; ranks 3 and 5. With the drill 3600 more: 24900 / 6 = 4150; ranks 3 and 6.)
//! The period is one day of one week: the trend has one week, with the period's 24 deploys and
//! 7 failed (7/24; with drills 25 and 8, 0.32), and 8 incidents: SEV1 1, SEV2 3, SEV3 4.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::TestServer;
use firebreak_domain::rules::{DeclareRule, Grouping};
use firebreak_domain::{Config, Matcher};
use jiff::Timestamp;
use serde_json::{Value, json};

/// Four services; a critical alert on checkout or payments declares a SEV3.
fn config() -> Config {
    let mut config = Config::default();
    for name in ["checkout", "payments", "search", "auth"] {
        let mut service = common::service(name);
        if ["checkout", "payments"].contains(&name) {
            service.grouping = Grouping {
                window: None,
                declare: vec![DeclareRule {
                    matchers: vec![Matcher::parse(r#"severity="critical""#).unwrap()],
                    severity: "SEV3".into(),
                    title: Some("{summary}".into()),
                }],
            };
        }
        config.services.push(service);
    }
    config
}

/// An instant of the script: `HH:MM` on 2026-11-24, or `MM-DD HH:MM` on another day.
fn t(when: &str) -> String {
    match when.split_once(' ') {
        Some((day, hm)) => format!("2026-{day}T{hm}:00Z"),
        None => format!("2026-11-24T{when}:00Z"),
    }
}

/// The scripted day, played on `s` with its clock.
struct Day<'a> {
    s: &'a TestServer,
    /// Deploy ids by D-number.
    deploys: BTreeMap<u32, i64>,
    /// Integration keys by service.
    keys: BTreeMap<&'static str, String>,
}

impl Day<'_> {
    /// Asks for both reports, so the server's report facts are built early and then follow
    /// every later write: the figures checked at the end are those of facts kept current
    /// step by step, not read once after the day.
    async fn look(&self) {
        for path in [
            format!("/api/v1/reports/incidents?{PERIOD}&drills=true"),
            format!("/api/v1/reports/dora?{PERIOD}"),
        ] {
            self.s.get(&path).await.expect(200);
        }
    }

    /// Moves the clock forward to `when`.
    fn at(&self, when: &str) {
        let to: Timestamp = t(when).parse().unwrap();
        let now = self.s.running.app.clock.now();
        assert!(to >= now, "the script runs forward: {when} after {now}");
        self.s.clock.advance(to.duration_since(now));
    }

    async fn record(&mut self, d: u32, when: &str, body: Value) -> Value {
        self.look().await;
        self.at(when);
        let mut body = body;
        body["at"] = json!(t(when));
        let a = self.s.post("/api/v1/deployments", body.clone()).await;
        let recorded = a.expect(201).clone();
        assert_eq!(recorded["at"], t(when), "{body}: {recorded}");
        self.deploys.insert(d, recorded["id"].as_i64().unwrap());
        recorded
    }

    /// Records deploy `d`.
    async fn deploy(&mut self, d: u32, when: &str, service: &str, version: &str) {
        let body = json!({"service": service, "version": version, "source": "ci"});
        let recorded = self.record(d, when, body).await;
        assert_eq!(recorded["rollback"], false);
        assert_eq!(recorded["drill"], false);
    }

    /// Records deploy `d` as a game day's (a drill deploy).
    async fn drill_deploy(&mut self, d: u32, when: &str, service: &str, version: &str) {
        let body =
            json!({"service": service, "version": version, "source": "gameday", "drill": true});
        let recorded = self.record(d, when, body).await;
        assert_eq!(recorded["drill"], true);
    }

    /// Records deploy `d`, a rollback of deploy `undoes` for `incident` when given.
    async fn rollback(
        &mut self,
        d: u32,
        when: &str,
        service: &str,
        version: &str,
        undid: Option<(u32, &str)>,
    ) {
        let mut body = json!({"service": service, "version": version, "rollback": true});
        if let Some((undone, incident)) = undid {
            body["rolls_back"] = json!(self.deploys[&undone]);
            body["incident"] = json!(incident);
        }
        let recorded = self.record(d, when, body).await;
        assert_eq!(recorded["rollback"], true);
        let undone = undid.map(|(u, _)| self.deploys[&u]);
        assert_eq!(recorded["rolls_back"], json!(undone), "{recorded}");
    }

    /// Declares an incident at `when`, detected at `detected` when given.
    async fn declare(
        &self,
        when: &str,
        severity: &str,
        services: &[&str],
        detected: Option<&str>,
        drill: bool,
    ) -> String {
        self.look().await;
        self.at(when);
        let mut body = json!({"title": format!("Trouble at {when}"), "severity": severity,
                              "services": services, "drill": drill});
        if let Some(d) = detected {
            body["detected_at"] = json!(t(d));
        }
        let a = self.s.post("/api/v1/incidents", body).await;
        let incident = a.expect(201);
        assert_eq!(incident["detected_at"], t(detected.unwrap_or(when)));
        incident["id"].as_str().unwrap().to_string()
    }

    /// A critical alert on `service` at `when`, which declares an incident detected then.
    async fn alert(&self, when: &str, service: &'static str) -> String {
        self.look().await;
        self.at(when);
        let body = json!({
            "routing_key": self.keys[service],
            "event_action": "trigger",
            "dedup_key": format!("{service}-{when}"),
            "payload": {"summary": format!("{service} is failing"), "source": "probe",
                        "severity": "critical"},
        });
        assert_eq!(self.s.send_json("/v2/enqueue", &body).await.status, 202);
        let alert = self
            .s
            .alerts("")
            .await
            .into_iter()
            .find(|a| a["dedup_key"] == body["dedup_key"])
            .expect("the alert is stored");
        alert["incident"]
            .as_str()
            .expect("it declared one")
            .to_string()
    }

    async fn status(&self, when: &str, id: &str, status: &str) {
        self.look().await;
        self.at(when);
        self.s
            .patch(
                &format!("/api/v1/incidents/{id}"),
                json!({"status": status}),
            )
            .await
            .expect(200);
    }

    async fn play(&mut self) {
        for service in ["checkout", "payments"] {
            let key = self.s.integration(service, "probe").await;
            self.keys.insert(service, key);
        }
        self.deploy(1, "11-23 23:00", "checkout", "v100").await;
        let inc1 = self
            .declare("00:20", "SEV2", &["checkout"], None, false)
            .await;
        assert_eq!(inc1, "INC-1");
        self.deploy(2, "00:30", "checkout", "v101").await;
        self.status("00:40", &inc1, "mitigated").await;
        self.deploy(3, "01:00", "payments", "p200").await;
        self.status("01:00", &inc1, "resolved").await;
        self.deploy(4, "01:30", "search", "s300").await;
        self.deploy(5, "02:00", "auth", "a400").await;
        self.deploy(6, "03:00", "checkout", "v102").await;
        self.deploy(7, "03:20", "checkout", "v103").await;
        self.deploy(8, "03:30", "payments", "p201").await;
        let inc2 = self
            .declare("04:00", "SEV1", &["checkout"], Some("03:45"), false)
            .await;
        assert_eq!(inc2, "INC-2");
        self.rollback(9, "04:10", "checkout", "v102", Some((7, "INC-2")))
            .await;
        self.status("04:20", &inc2, "mitigated").await;
        self.deploy(10, "05:00", "search", "s301").await;
        self.status("05:00", &inc2, "resolved").await;
        self.deploy(11, "05:30", "auth", "a401").await;
        self.drill_deploy(12, "06:00", "checkout", "v104").await;
        let inc3 = self.alert("06:30", "payments").await;
        assert_eq!(inc3, "INC-3");
        self.status("07:00", &inc3, "mitigated").await;
        let inc4 = self
            .declare("07:00", "SEV2", &["search", "auth"], None, false)
            .await;
        assert_eq!(inc4, "INC-4");
        self.status("07:30", &inc3, "resolved").await;
        let inc5 = self
            .declare("08:00", "SEV3", &["checkout"], None, true)
            .await;
        assert_eq!(inc5, "INC-5");
        self.status("08:00", &inc4, "mitigated").await;
        self.status("08:45", &inc5, "mitigated").await;
        self.deploy(13, "08:50", "payments", "p202").await;
        self.deploy(14, "09:00", "payments", "p203").await;
        self.status("09:00", &inc4, "resolved").await;
        self.status("09:00", &inc5, "resolved").await;
        let inc6 = self
            .declare("09:30", "SEV3", &["payments"], Some("09:20"), false)
            .await;
        assert_eq!(inc6, "INC-6");
        self.rollback(15, "09:40", "payments", "p201", Some((13, "INC-6")))
            .await;
        self.status("10:05", &inc6, "mitigated").await;
        self.deploy(16, "10:30", "search", "s302").await;
        self.deploy(17, "11:00", "checkout", "v105").await;
        self.rollback(18, "11:30", "checkout", "v104", None).await;
        let inc7 = self.alert("12:00", "checkout").await;
        assert_eq!(inc7, "INC-7");
        self.deploy(19, "12:30", "auth", "a402").await;
        self.deploy(20, "13:00", "search", "s303").await;
        let inc8 = self
            .declare("14:00", "SEV2", &["search"], None, false)
            .await;
        assert_eq!(inc8, "INC-8");
        let inc9 = self
            .declare("14:10", "SEV3", &["search"], Some("14:05"), false)
            .await;
        assert_eq!(inc9, "INC-9");
        self.status("14:20", &inc9, "mitigated").await;
        self.status("14:30", &inc8, "mitigated").await;
        self.status("15:00", &inc8, "resolved").await;
        self.deploy(21, "15:00", "checkout", "v106").await;
        self.deploy(22, "16:00", "payments", "p204").await;
        self.deploy(23, "17:00", "auth", "a403").await;
        self.deploy(24, "18:00", "search", "s304").await;
        self.deploy(25, "19:00", "checkout", "v107").await;
        self.deploy(26, "20:00", "payments", "p205").await;
        self.deploy(27, "21:00", "auth", "a404").await;
        self.deploy(28, "22:00", "search", "s305").await;
        self.deploy(29, "23:30", "checkout", "v108").await;
        let inc10 = self
            .declare("11-25 00:15", "SEV3", &["checkout"], None, false)
            .await;
        assert_eq!(inc10, "INC-10");
        self.deploy(30, "11-25 00:30", "checkout", "v109").await;
        self.status("11-25 00:40", &inc10, "mitigated").await;
        // Read the reports a little later.
        self.at("11-25 02:00");
        assert_eq!(self.deploys.len(), 30);
    }

    /// The failed deploys among D-numbers `ds` as the report lists them, from [`FAILED`].
    fn failures(&self, ds: &[u32]) -> Value {
        let rows = FAILED.iter().filter(|f| ds.contains(&f.0));
        let rows = rows.map(
            |&(d, [service, version, at], incidents, rolled_back, recovered)| {
                json!({
                    "deploy": self.deploys[&d],
                    "service": service,
                    "version": version,
                    "at": t(at),
                    "incidents": incidents,
                    "rolled_back": rolled_back,
                    "mitigated_at": recovered.map(|(m, _)| t(m)),
                    "recovery_seconds": recovered.map(|(_, s)| s),
                })
            },
        );
        Value::Array(rows.collect())
    }
}

/// A failed deploy of the hand table: D-number, its service, version and time, its incidents,
/// whether a rollback undid it, and the mitigation that ended it with the seconds to it.
type Failed = (
    u32,
    [&'static str; 3],
    &'static [&'static str],
    bool,
    Option<(&'static str, i64)>,
);

#[rustfmt::skip]
const FAILED: [Failed; 8] = [
    (7, ["checkout", "v103", "03:20"], &["INC-2"], true, Some(("04:20", 3600))),
    (11, ["auth", "a401", "05:30"], &["INC-4"], false, Some(("08:00", 9000))),
    (12, ["checkout", "v104", "06:00"], &["INC-5"], false, Some(("08:45", 9900))),
    (13, ["payments", "p202", "08:50"], &["INC-6"], true, Some(("10:05", 4500))),
    (14, ["payments", "p203", "09:00"], &["INC-6"], false, Some(("10:05", 3900))),
    (17, ["checkout", "v105", "11:00"], &["INC-7"], false, None),
    (20, ["search", "s303", "13:00"], &["INC-8", "INC-9"], false, Some(("14:20", 4800))),
    (29, ["checkout", "v108", "23:30"], &["INC-10"], false, Some(("11-25 00:40", 4200))),
];

const PERIOD: &str = "from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z";

/// count, mean, p50, p90, min, max.
fn stat(count: u64, mean: i64, p50: i64, p90: i64, min: i64, max: i64) -> Value {
    json!({"count": count, "mean": mean, "p50": p50, "p90": p90, "min": min, "max": max})
}

#[track_caller]
fn rate(report: &Value, want: f64) {
    let got = report["change_failure_rate"].as_f64().expect("a rate");
    assert!((got - want).abs() < 1e-12, "rate {got}, want {want}");
}

async fn get(s: &TestServer, path: &str) -> Value {
    s.get(path).await.expect(200).clone()
}

async fn scenario(s: TestServer) {
    let mut day = Day {
        s: &s,
        deploys: BTreeMap::new(),
        keys: BTreeMap::new(),
    };
    day.play().await;
    let by_service = |checkout: u64| {
        json!([
            {"service": "auth", "deploys": 5},
            {"service": "checkout", "deploys": checkout},
            {"service": "payments", "deploys": 6},
            {"service": "search", "deploys": 6},
        ])
    };
    let only_checkout = |checkout: u64| json!([{"service": "checkout", "deploys": checkout}]);

    // The DORA table: query, deploys, failed, rate, recovery, the failed deploys listed.
    #[rustfmt::skip]
    let dora = [
        ("", 24, 7, 7.0 / 24.0, stat(6, 5000, 4200, 9000, 3600, 9000), &[7, 11, 13, 14, 17, 20, 29][..]),
        ("&drills=true", 25, 8, 0.32, stat(7, 5700, 4500, 9900, 3600, 9900), &[7, 11, 12, 13, 14, 17, 20, 29]),
        ("&service=checkout", 7, 3, 3.0 / 7.0, stat(2, 3900, 3600, 4200, 3600, 4200), &[7, 17, 29]),
        ("&service=checkout&drills=true", 8, 4, 0.5, stat(3, 5900, 4200, 9900, 3600, 9900), &[7, 12, 17, 29]),
    ];
    for (query, deploys, failed, cfr, recovery, listed) in dora {
        let r = get(&s, &format!("/api/v1/reports/dora?{PERIOD}{query}")).await;
        let checkout = query.contains("checkout");
        assert_eq!(r["drills"], query.contains("drills"), "{query}: {r}");
        assert_eq!(r["service"], json!(checkout.then_some("checkout")), "{r}");
        assert_eq!(r["deploys"], deploys, "{query}: {r}");
        assert_eq!(r["failed_deploys"], failed, "{query}: {r}");
        rate(&r, cfr);
        assert_eq!(r["recovery"], recovery, "{query}: {r}");
        assert_eq!(r["failures"], day.failures(listed), "{query}: {r}");
        let checkout_deploys = if query.contains("drills") { 8 } else { 7 };
        let services = if checkout {
            only_checkout(checkout_deploys)
        } else {
            by_service(checkout_deploys)
        };
        assert_eq!(r["deploys_by_service"], services, "{query}: {r}");
    }

    // The incident report: query, incidents, resolved, MTTA, time to mitigate, MTTR, the
    // incidents counted, and the week's failed deploys and rate.
    let numbers = |drill: &[&str]| {
        let mut all = vec![
            "INC-1", "INC-2", "INC-3", "INC-4", "INC-6", "INC-7", "INC-8", "INC-9",
        ];
        all.extend(drill);
        all.sort_by_key(|n| n[4..].parse::<u32>().unwrap());
        json!(all)
    };
    #[rustfmt::skip]
    let incidents = [
        ("", 8, 5, stat(7, 2014, 1800, 3600, 900, 3600), stat(5, 4260, 3600, 7200, 2400, 7200), numbers(&[]), 24, 7, 7.0 / 24.0),
        ("&drills=true", 9, 6, stat(8, 2100, 1800, 3600, 900, 3600), stat(6, 4150, 3600, 7200, 2400, 7200), numbers(&["INC-5"]), 25, 8, 0.32),
    ];
    for (query, count, resolved, mitigate, mttr, numbers, deploys, failed, cfr) in incidents {
        let report = get(&s, &format!("/api/v1/reports/incidents?{PERIOD}{query}")).await;
        let groups = report["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 1, "{report}");
        let g = &groups[0];
        assert_eq!(g["key"], "all");
        assert_eq!(g["incidents"], count, "{query}: {g}");
        assert_eq!(g["resolved"], resolved, "{query}: {g}");
        assert_eq!(g["numbers"], numbers, "{query}: {g}");
        assert_eq!(g["mtta"], stat(4, 225, 0, 900, 0, 900), "{query}: {g}");
        assert_eq!(g["time_to_mitigate"], mitigate, "{query}: {g}");
        assert_eq!(g["mttr"], mttr, "{query}: {g}");
        let weeks = report["weeks"].as_array().unwrap();
        assert_eq!(weeks.len(), 1, "{report}");
        let week = &weeks[0];
        assert_eq!(week["week"], "2026-11-23");
        assert_eq!(week["start"], t("00:00"));
        assert_eq!(week["end"], t("11-25 00:00"));
        assert_eq!(week["incidents"], count, "{query}: {week}");
        assert_eq!(week["deploys"], deploys, "{query}: {week}");
        assert_eq!(week["failed_deploys"], failed, "{query}: {week}");
        rate(week, cfr);
    }
    let report = get(&s, &format!("/api/v1/reports/incidents?{PERIOD}")).await;
    let by_severity = json!([
        {"severity": "SEV1", "incidents": 1},
        {"severity": "SEV2", "incidents": 3},
        {"severity": "SEV3", "incidents": 4},
    ]);
    assert_eq!(report["weeks"][0]["by_severity"], by_severity, "{report}");
}

/// Reports already asked for see what changed after: a deploy recorded late that becomes an
/// incident's suspect, a rollback run for it, and the incident's own changes.
async fn late_changes(s: TestServer) {
    let day = Day {
        s: &s,
        deploys: BTreeMap::new(),
        keys: BTreeMap::new(),
    };
    let inc = day
        .declare("12:00", "SEV2", &["checkout"], None, false)
        .await;
    let dora_path = format!("/api/v1/reports/dora?{PERIOD}");
    let incidents_path = format!("/api/v1/reports/incidents?{PERIOD}");
    let before = get(&s, &dora_path).await;
    assert_eq!(before["failed_deploys"], 0, "{before}");
    let report = get(&s, &incidents_path).await;
    assert_eq!(report["groups"][0]["numbers"], json!([inc]), "{report}");
    assert_eq!(report["groups"][0]["resolved"], 0, "{report}");

    // Recorded at 12:05, stamped 11:50: it is the incident's suspect.
    day.at("12:05");
    let late = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "v1", "at": t("11:50")}),
        )
        .await
        .expect(201)
        .clone();
    let after = get(&s, &dora_path).await;
    assert_eq!(after["deploys"], 1, "{after}");
    assert_eq!(after["failed_deploys"], 1, "{after}");
    assert_eq!(after["failures"][0]["deploy"], late["id"], "{after}");
    assert_eq!(after["failures"][0]["incidents"], json!([inc]), "{after}");
    assert_eq!(after["failures"][0]["rolled_back"], false, "{after}");

    // Rolled back for the incident, then mitigated and resolved.
    day.at("12:10");
    s.post(
        "/api/v1/deployments",
        json!({"service": "checkout", "version": "v0", "rollback": true,
               "rolls_back": late["id"], "incident": inc}),
    )
    .await
    .expect(201);
    day.status("12:20", &inc, "mitigated").await;
    day.status("12:30", &inc, "resolved").await;
    let after = get(&s, &dora_path).await;
    assert_eq!(after["failures"][0]["rolled_back"], true, "{after}");
    assert_eq!(after["failures"][0]["recovery_seconds"], 1800, "{after}");
    let report = get(&s, &incidents_path).await;
    assert_eq!(report["groups"][0]["resolved"], 1, "{report}");
    assert_eq!(report["groups"][0]["mttr"]["max"], 1800, "{report}");

    // A deploy made after the incident did not lead to it: a rollback of it run "for" the
    // incident is refused, and the figures stay as they were.
    day.at("12:40");
    let later = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "v2"}),
        )
        .await
        .expect(201)
        .clone();
    day.at("12:45");
    let refused = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "v1", "rollback": true,
                   "rolls_back": later["id"], "incident": inc}),
        )
        .await;
    let problem = refused.expect_problem(422);
    assert_eq!(problem["errors"][0]["field"], "rolls_back", "{problem}");
    let says = problem["errors"][0]["message"].as_str().unwrap();
    assert!(
        says.contains(&format!("after {inc} began")) && says.contains("without `incident`"),
        "{problem}"
    );
    // Recorded without the incident it is a rollback, counted nowhere.
    s.post(
        "/api/v1/deployments",
        json!({"service": "checkout", "version": "v1", "rollback": true,
               "rolls_back": later["id"]}),
    )
    .await
    .expect(201);
    let after = get(&s, &dora_path).await;
    assert_eq!(after["deploys"], 2, "{after}");
    assert_eq!(after["failed_deploys"], 1, "{after}");
    assert_eq!(after["failures"].as_array().unwrap().len(), 1, "{after}");
    assert_eq!(after["failures"][0]["deploy"], late["id"], "{after}");
    assert_eq!(after["failures"][0]["recovery_seconds"], 1800, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_follow_late_changes_on_sqlite() {
    late_changes(common::spawn_with(config()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_follow_late_changes_on_postgres() {
    let store = common::postgres_store("dora_late").await;
    let dir = tempfile::tempdir().unwrap();
    late_changes(common::spawn_on(Arc::new(store), config(), dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripted_day_on_sqlite() {
    scenario(common::spawn_with(config()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripted_day_on_postgres() {
    let store = common::postgres_store("dora_day").await;
    let dir = tempfile::tempdir().unwrap();
    scenario(common::spawn_on(Arc::new(store), config(), dir).await).await;
}
