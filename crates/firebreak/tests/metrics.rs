//! Firebreak's own `/metrics`, read the way Prometheus reads it: the real server on port 0 on a
//! manual clock, alerts ingested, people paged through a real webhook receiver, an escalation
//! step that fires late, incidents declared, then the body parsed by Prometheus's own Python
//! client (`prometheus_client`, in `FIREBREAK_TEST_PYTHON`; `.ci/run` installs it) and its
//! figures checked. On SQLite and PostgreSQL.
//!
//! The counters and histograms belong to the process, which several servers share here, so
//! the tests take turns and compare what changed.

mod common;
mod support_receiver;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use common::TestServer;
use firebreak_domain::Config;
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::{Value, json};
use support_receiver::{Receiver, Reply};

/// One test at a time: they compare the process's counters before and after.
static TURN: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

/// How long a test waits (real time) for something that should happen at once.
const PROMPTLY: Duration = Duration::from_secs(10);

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn python() -> String {
    let candidates = [
        std::env::var("FIREBREAK_TEST_PYTHON").ok(),
        Some("python3".into()),
    ];
    for python in candidates.into_iter().flatten() {
        let ok = Command::new(&python)
            .args(["-c", "import prometheus_client.parser"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return python;
        }
    }
    panic!(
        "this test needs Python with prometheus_client: run .ci/run, or `python3 -m venv v && \
         v/bin/pip install prometheus-client==0.21.1` and set FIREBREAK_TEST_PYTHON=v/bin/python"
    );
}

/// A `/metrics` body as Prometheus's parser read it.
struct Scrape {
    families: BTreeMap<String, Value>,
}

impl Scrape {
    /// Parses `body` with `prometheus_client`; panics with the parser's error if it refuses.
    fn parse(body: &str) -> Scrape {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/prometheus_text.py"
        );
        let mut child = Command::new(python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "prometheus_client could not parse /metrics: {}\n{body}",
            String::from_utf8_lossy(&out.stderr)
        );
        Scrape {
            families: serde_json::from_slice(&out.stdout).unwrap(),
        }
    }

    #[track_caller]
    fn family(&self, name: &str) -> &Value {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("no family {name} in {:?}", self.families.keys()))
    }

    fn samples(&self, family: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
        self.families
            .get(family)
            .and_then(|f| f["samples"].as_array())
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s[0].as_str().unwrap().to_string(),
                    serde_json::from_value(s[1].clone()).unwrap(),
                    s[2].as_f64().unwrap_or(f64::NAN),
                )
            })
            .collect()
    }

    /// The sum of the samples named `sample` in `family` whose labels include `labels`; 0 when
    /// there are none.
    fn value(&self, family: &str, sample: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(family)
            .into_iter()
            .filter(|(name, l, _)| {
                name == sample
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    fn ingested(&self, source: &str, result: &str) -> f64 {
        self.value(
            "firebreak_ingest_events",
            "firebreak_ingest_events_total",
            &[("source", source), ("result", result)],
        )
    }

    fn pages(&self, channel: &str, outcome: &str) -> f64 {
        self.value(
            "firebreak_page_deliveries",
            "firebreak_page_deliveries_total",
            &[("channel", channel), ("outcome", outcome)],
        )
    }

    fn lateness(&self, sample: &str) -> f64 {
        self.value(
            "firebreak_escalation_timer_lateness_seconds",
            &format!("firebreak_escalation_timer_lateness_seconds_{sample}"),
            &[],
        )
    }

    /// A histogram's bucket whose upper bound is `le`, however the bound is spelled.
    fn bucket(&self, family: &str, le: f64) -> f64 {
        self.samples(family)
            .into_iter()
            .filter(|(name, l, _)| {
                name.ends_with("_bucket") && l.get("le").and_then(|b| b.parse().ok()) == Some(le)
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    fn gauge(&self, family: &str, label: &str, value: &str) -> Option<f64> {
        self.samples(family)
            .into_iter()
            .find(|(_, l, _)| l.get(label).map(String::as_str) == Some(value))
            .map(|(_, _, v)| v)
    }
}

/// `GET /metrics` with `token`, checked for its content type and parsed.
async fn scrape(s: &TestServer, token: &str) -> Scrape {
    let res = s
        .http
        .get(format!("{}/metrics", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], CONTENT_TYPE);
    Scrape::parse(&res.text().await.unwrap())
}

fn config() -> Config {
    let mut config = Config::default();
    // The webhook receiver is on loopback.
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config
}

async fn admin(s: &TestServer, method: Method, path: &str, body: Value) -> common::Answer {
    s.call(method, path, Some(&s.admin), Some(body)).await
}

/// Waits until every page of the escalations of `alert` has an outcome recorded.
async fn pages_recorded(s: &TestServer, alert: i64, pages: usize) {
    let deadline = std::time::Instant::now() + PROMPTLY;
    loop {
        let list = s
            .get(&format!("/api/v1/escalations?alert={alert}"))
            .await
            .expect(200)["items"]
            .clone();
        let notes: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["notifications"].as_array().unwrap())
            .collect();
        let done = notes.len() == pages
            && notes
                .iter()
                .all(|n| n["status"] == "delivered" || n["status"] == "failed");
        if done {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pages were never all recorded: {list:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// alice's pages are taken and bob's refused; `ops` pages both, then alice again after
/// 5 minutes. Alerts arrive from PagerDuty on checkout (which pages) and from Alertmanager on
/// search (which does not); incidents are declared and one resolved. Then the workers stop and
/// the next timer is left waiting, as it would be if Firebreak could not deliver.
async fn metrics_tell_what_happened(s: TestServer) {
    let _turn = TURN.lock().await;
    let taken = Receiver::start(Reply::OK).await;
    let refused = Receiver::start(Reply::Status(400)).await;
    for (user, rx) in [("alice", &taken), ("bob", &refused)] {
        admin(
            &s,
            Method::POST,
            "/api/v1/users",
            json!({"handle": user, "name": user}),
        )
        .await
        .expect(201);
        admin(
            &s,
            Method::POST,
            &format!("/api/v1/users/{user}/contact-methods"),
            json!({"type": "webhook", "target": format!("{}/{user}", rx.url)}),
        )
        .await
        .expect(201);
    }
    admin(
        &s,
        Method::POST,
        "/api/v1/escalation-policies",
        json!({"name": "ops", "repeat": 0, "steps": [
            {"delay": "5m", "targets": [{"user": "alice"}, {"user": "bob"}]},
            {"delay": "5m", "targets": [{"user": "alice"}]},
        ]}),
    )
    .await
    .expect(201);
    let pagerduty = s.integration("checkout", "pagerduty").await;
    admin(
        &s,
        Method::PATCH,
        "/api/v1/services/checkout",
        json!({"escalation_policy": "ops"}),
    )
    .await
    .expect(200);
    let alertmanager = s.integration("search", "alertmanager").await;

    // Without a token, the usual refusal; any role's token will do.
    let refusal = s.call(Method::GET, "/metrics", None, None).await;
    refusal.expect_problem(401);
    let before = scrape(&s, &s.viewer).await;

    // Alerts: one trigger and its repeat from PagerDuty, two alerts from Alertmanager.
    let trigger = json!({"routing_key": pagerduty, "event_action": "trigger",
        "dedup_key": "checkout-5xx",
        "payload": {"summary": "checkout 5xx", "source": "web-1", "severity": "critical"}});
    for _ in 0..2 {
        let sent = s.send_json("/v2/enqueue", &trigger).await;
        assert_eq!(sent.status, 202, "{}", sent.body);
    }
    let sent = s
        .send(
            &format!("/api/v1/ingest/alertmanager/{alertmanager}"),
            common::fixture("alertmanager-webhook-v4.json", ""),
            &[],
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    let alert = s
        .alerts("status=open")
        .await
        .iter()
        .find(|a| a["dedup_key"] == "checkout-5xx")
        .and_then(|a| a["id"].as_i64())
        .expect("the PagerDuty alert is open");
    // Step 1 pages alice (taken) and bob (refused) at once.
    pages_recorded(&s, alert, 2).await;
    // Step 2 is due 5 minutes later; the clock jumps 5 m 30 s, so its timer fires 30 s late.
    s.clock.advance(SignedDuration::from_secs(330));
    assert!(
        taken.wait_until(PROMPTLY, |got| got.len() >= 2).await,
        "alice's second page never came"
    );
    pages_recorded(&s, alert, 3).await;

    // Incidents: SEV1 and two SEV2, one of them resolved; a drill does not count.
    s.declare("Checkout is down", "SEV1").await;
    let resolved = s.declare("Search is slow", "SEV2").await;
    s.declare("Search is still slow", "SEV2").await;
    s.patch(
        &format!("/api/v1/incidents/{}", resolved["id"].as_str().unwrap()),
        json!({"status": "resolved"}),
    )
    .await
    .expect(200);
    s.post(
        "/api/v1/incidents",
        json!({"title": "Game day", "severity": "SEV1", "drill": true}),
    )
    .await
    .expect(201);
    // A path no route matches, holding something secret-looking.
    let missing = s
        .call(Method::GET, "/nowhere/fbt_not-a-token", None, None)
        .await;
    assert_eq!(missing.status, 404);

    let after = scrape(&s, &s.responder).await;
    for (family, kind) in [
        ("firebreak_ingest_events", "counter"),
        ("firebreak_page_deliveries", "counter"),
        ("firebreak_escalation_timer_lateness_seconds", "histogram"),
        ("firebreak_outbox_messages", "gauge"),
        ("firebreak_outbox_oldest_age_seconds", "gauge"),
        ("firebreak_open_incidents", "gauge"),
        ("firebreak_http_request_duration_seconds", "histogram"),
    ] {
        let f = after.family(family);
        assert_eq!(f["type"], kind, "{family}");
        assert!(
            f["help"].as_str().is_some_and(|h| h.len() > 20),
            "{family} has help text: {f}"
        );
    }

    // Ingest: what each event did, by sender format.
    let ingested = |source: &str, result: &str| {
        after.ingested(source, result) - before.ingested(source, result)
    };
    assert_eq!(ingested("pagerduty", "opened"), 1.0);
    assert_eq!(ingested("pagerduty", "repeated"), 1.0);
    assert_eq!(ingested("alertmanager", "opened"), 2.0);
    assert_eq!(ingested("pagerduty", "error"), 0.0);

    // Pages: alice's two taken, bob's one refused; every channel has its series from the start.
    let pages = |channel: &str, outcome: &str| {
        after.pages(channel, outcome) - before.pages(channel, outcome)
    };
    assert_eq!(pages("webhook", "delivered"), 2.0);
    assert_eq!(pages("webhook", "failed"), 1.0);
    assert_eq!(pages("webhook", "retry"), 0.0);
    assert_eq!(pages("webhook", "dead"), 0.0);
    for channel in ["email", "webhook", "slack", "mattermost", "teams", "ntfy"] {
        for outcome in ["delivered", "retry", "failed", "dead", "cancelled"] {
            let series = after
                .samples("firebreak_page_deliveries")
                .into_iter()
                .any(|(_, l, _)| l["channel"] == channel && l["outcome"] == outcome);
            assert!(series, "no series for {channel} {outcome}");
        }
    }

    // The second step's timer fired 30 s late, by Firebreak's clock.
    let late = |sample: &str| after.lateness(sample) - before.lateness(sample);
    assert_eq!(late("count"), 1.0);
    assert_eq!(late("sum"), 30.0);
    let lateness = "firebreak_escalation_timer_lateness_seconds";
    let within = |le: f64| after.bucket(lateness, le) - before.bucket(lateness, le);
    assert_eq!(within(10.0), 0.0);
    assert_eq!(within(30.0), 1.0);

    // Open incidents by severity: every configured one, 0 when none; drills left out.
    let open = |severity: &str| after.gauge("firebreak_open_incidents", "severity", severity);
    assert_eq!(open("SEV1"), Some(1.0));
    assert_eq!(open("SEV2"), Some(1.0));
    assert_eq!(open("SEV3"), Some(0.0));

    // Request latency by route template; never a raw path or a key.
    let routes = after.samples("firebreak_http_request_duration_seconds");
    let seen = |method: &str, route: &str, status: &str| {
        routes.iter().any(|(name, l, v)| {
            name == "firebreak_http_request_duration_seconds_count"
                && l["method"] == method
                && l["route"] == route
                && l["status"] == status
                && *v >= 1.0
        })
    };
    assert!(seen("POST", "/v2/enqueue", "202"));
    assert!(seen("POST", "/api/v1/ingest/{format}/{key}", "202"));
    assert!(seen("POST", "/api/v1/incidents", "201"));
    assert!(seen("GET", "/metrics", "401"));
    assert!(seen("GET", "/metrics", "200"));
    assert!(seen("GET", "unmatched", "404"));
    for (_, labels, _) in &routes {
        for value in labels.values() {
            assert!(
                !value.contains(&alertmanager) && !value.contains("fbt_"),
                "a label holds a secret: {labels:?}"
            );
        }
    }

    // The SQLite writer's groups: counted on SQLite, absent on PostgreSQL.
    let groups = after.value(
        "firebreak_sqlite_writer_group_size",
        "firebreak_sqlite_writer_group_size_count",
        &[],
    ) - before.value(
        "firebreak_sqlite_writer_group_size",
        "firebreak_sqlite_writer_group_size_count",
        &[],
    );
    if s.running.app.store.backend() == "sqlite" {
        assert!(groups >= 5.0, "{groups} commits");
        assert_eq!(
            after.family("firebreak_sqlite_writer_group_size")["type"],
            "histogram"
        );
    } else {
        assert_eq!(groups, 0.0);
    }

    // Every outbox kind has a series. The timer that ends the escalation waits, not yet due.
    let outbox = |family: &str, kind: &str| after.gauge(family, "kind", kind);
    for kind in [
        "page",
        "escalation",
        "reminder",
        "webhook",
        "chat",
        "stakeholder_mail",
        "status_subscribe",
        "status_confirm",
        "status_fanout",
        "status_mail",
        "status_hook",
        "grant_expiry",
    ] {
        assert!(
            outbox("firebreak_outbox_messages", kind).is_some(),
            "{kind}"
        );
        assert!(
            outbox("firebreak_outbox_oldest_age_seconds", kind).is_some(),
            "{kind}"
        );
    }
    assert_eq!(outbox("firebreak_outbox_messages", "page"), Some(0.0));
    assert!(outbox("firebreak_outbox_messages", "escalation") >= Some(1.0));
    assert_eq!(
        outbox("firebreak_outbox_oldest_age_seconds", "escalation"),
        Some(0.0)
    );

    // Firebreak stops delivering (its workers stop) and 10 minutes pass: the timer due 5
    // minutes after the last step has waited 5 minutes, which a dead man's switch sees.
    s.running.runtime.shutdown(Duration::from_secs(10)).await;
    s.clock.advance(SignedDuration::from_mins(10));
    let stuck = scrape(&s, &s.admin).await;
    assert_eq!(
        stuck.gauge("firebreak_outbox_oldest_age_seconds", "kind", "escalation"),
        Some(300.0)
    );
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_metrics_tell_what_happened() {
    metrics_tell_what_happened(common::spawn_with(config()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_metrics_tell_what_happened() {
    let store = common::postgres_store("metrics").await;
    let s = common::spawn_on(Arc::new(store), config(), tempfile::tempdir().unwrap()).await;
    metrics_tell_what_happened(s).await;
}

#[tokio::test]
async fn the_metrics_listener_serves_metrics_without_a_token_and_nothing_else() {
    let _turn = TURN.lock().await;
    let mut config = config();
    config.metrics.listen = Some("127.0.0.1:0".into());
    let s = common::spawn_with(config).await;
    let at = s.running.metrics_addr.expect("a metrics listener");
    let res = s
        .http
        .get(format!("http://{at}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], CONTENT_TYPE);
    let scraped = Scrape::parse(&res.text().await.unwrap());
    assert_eq!(
        scraped.gauge("firebreak_open_incidents", "severity", "SEV1"),
        Some(0.0)
    );
    for path in [
        "/",
        "/healthz",
        "/api/v1/incidents",
        "/status",
        "/metrics/x",
    ] {
        let res = s
            .http
            .get(format!("http://{at}{path}"))
            .bearer_auth(&s.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path} is not on the metrics listener");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    let res = s
        .http
        .post(format!("http://{at}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    // The main listener still asks for a token.
    s.call(Method::GET, "/metrics", None, None)
        .await
        .expect_problem(401);
    scrape(&s, &s.viewer).await;
    s.running.stop().await.unwrap();
}
