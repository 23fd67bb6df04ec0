//! End to end with the real Prometheus Alertmanager (Debian's `prometheus-alertmanager`, 0.25):
//! Firebreak and Alertmanager run as child processes; alerts are posted to Alertmanager's own
//! API, and Alertmanager delivers them to Firebreak through two receivers at once, its webhook
//! (`/api/v1/ingest/alertmanager/<key>`) and its PagerDuty Events v2 notifier (`/v2/enqueue`).
//!
//! Checked through Firebreak's API: the alerts arrive from both receivers, Alertmanager's
//! repeated notifications dedupe into the same open alerts, the first critical alert declares
//! an incident (grouping rule) and a second alert joins it, and resolving the alerts in
//! Alertmanager resolves them in Firebreak and marks the incident's alerts as all resolved.
//!
//! The Alertmanager binary is required, not optional: CI installs it (`.ci/run`).

mod support_proc;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support_proc::{Proc, all_alerts, drain, free_port, get_json, http, random_key, serve};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
const POLL: Duration = Duration::from_millis(200);
const WAIT: Duration = Duration::from_secs(30);

/// Everything the test started; dropping it kills both processes by PID.
struct World {
    http: reqwest::Client,
    fb: support_proc::Firebreak,
    token: String,
    am: Proc,
    am_url: String,
    _dir: tempfile::TempDir,
}

impl World {
    fn logs(&self) -> String {
        format!("{}\n{}", self.fb.proc.tail(), self.am.tail())
    }

    async fn alerts(&self, query: &str) -> Vec<Value> {
        all_alerts(&self.http, &self.fb.url, &self.token, query).await
    }

    async fn get(&self, path: &str) -> Value {
        get_json(&self.http, &format!("{}{path}", self.fb.url), &self.token).await
    }

    /// Posts alerts to Alertmanager's API, as Prometheus does.
    async fn post_to_alertmanager(&self, alerts: &[Value]) {
        let url = format!("{}/api/v2/alerts", self.am_url);
        let r = self
            .http
            .post(&url)
            .json(&alerts)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}\n{}", self.am.tail()));
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "POST {url} answered {status}: {text}\n{}",
            self.am.tail()
        );
    }

    /// Polls `check` every 200ms until it gives `Ok`, failing after 30s with its last `Err`
    /// and both processes' logs.
    async fn wait_for<T>(
        &mut self,
        what: &str,
        mut check: impl AsyncFnMut(&World) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            self.fb.proc.assert_running();
            self.am.assert_running();
            let last = match check(self).await {
                Ok(v) => return v,
                Err(state) => state,
            };
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {WAIT:?} waiting until {what}; last seen: {last}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// One alert as Prometheus posts it to Alertmanager.
fn am_alert(alertname: &str, instance: &str, starts_at: &str, ends_at: &str) -> Value {
    json!({
        "labels": {
            "alertname": alertname,
            "severity": "critical",
            "service": "checkout",
            "instance": instance,
        },
        "annotations": {"summary": format!("{alertname} on {instance}")},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": format!("http://prometheus.example/graph?g0.expr={alertname}"),
    })
}

fn ts(offset_secs: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(offset_secs)).to_string()
}

/// Which Alertmanager alert a Firebreak alert stands for: the webhook keeps the labels; the
/// PagerDuty notifier carries the alertname in `class` (see the receiver's config below).
fn alertname_of(a: &Value) -> Option<&str> {
    match a["format"].as_str() {
        Some("alertmanager") => a["labels"]["alertname"].as_str(),
        Some("pagerduty") => a["labels"]["class"].as_str(),
        _ => None,
    }
}

/// The alerts of `alertname` by format, failing on a second alert of the same kind that is
/// not resolved (dedup must keep one per integration and Alertmanager alert).
fn by_format<'a>(
    alerts: &'a [Value],
    alertname: &str,
) -> Result<BTreeMap<String, &'a Value>, String> {
    let mut out: BTreeMap<String, &Value> = BTreeMap::new();
    for a in alerts.iter().filter(|a| alertname_of(a) == Some(alertname)) {
        let format = a["format"].as_str().unwrap_or("?").to_string();
        if let Some(prev) = out.get(&format) {
            panic!("two {format} alerts for {alertname} (dedup failed):\n{prev:#}\n{a:#}");
        }
        out.insert(format, a);
    }
    Ok(out)
}

fn summary(alerts: &[Value]) -> String {
    alerts
        .iter()
        .map(|a| {
            format!(
                "#{} {} {:?} {} count={} incident={}",
                a["id"],
                a["format"],
                alertname_of(a),
                a["status"],
                a["count"],
                a["incident"]
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn firebreak_config(dir: &Path, am_key: &str, pd_key: &str) -> std::path::PathBuf {
    let path = dir.join("firebreak.yaml");
    std::fs::write(
        &path,
        format!(
            r#"services:
  - name: checkout
    description: Checkout
    integrations:
      - name: alertmanager
        key: {am_key}
      - name: alertmanager-pagerduty
        key: {pd_key}
    grouping:
      window: 30m
      declare:
        - match: ['severity="critical"']
          severity: SEV2
          title: "{{summary}}"
alerting:
  rate_limit: {{ per_second: 10000, burst: 10000 }}
"#
        ),
    )
    .unwrap();
    path
}

/// Both receivers get every alert (`continue: true`). `group_by: ['...']` makes every alert its
/// own group, so the PagerDuty notifier (one event per group) sends one event per alert.
/// Timings are short so the test is quick; `repeat_interval` makes Alertmanager re-notify
/// firing alerts every few seconds, which is what the dedup check watches.
fn alertmanager_config(dir: &Path, fb_url: &str, am_key: &str, pd_key: &str) -> std::path::PathBuf {
    let path = dir.join("alertmanager.yml");
    std::fs::write(
        &path,
        format!(
            r#"global:
  resolve_timeout: 30s
route:
  receiver: firebreak-webhook
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
  routes:
    - receiver: firebreak-webhook
      continue: true
    - receiver: firebreak-pagerduty
receivers:
  - name: firebreak-webhook
    webhook_configs:
      - url: {fb_url}/api/v1/ingest/alertmanager/{am_key}
        send_resolved: true
  - name: firebreak-pagerduty
    pagerduty_configs:
      - routing_key: {pd_key}
        url: {fb_url}/v2/enqueue
        send_resolved: true
        severity: '{{{{ .CommonLabels.severity }}}}'
        class: '{{{{ .CommonLabels.alertname }}}}'
        component: '{{{{ .CommonLabels.instance }}}}'
        group: '{{{{ .CommonLabels.service }}}}'
"#
        ),
    )
    .unwrap();
    path
}

/// Starts Alertmanager on a free port and waits until `/-/ready` answers 200. Retries on
/// another port if the chosen one was taken in the meantime.
async fn start_alertmanager(http: &reqwest::Client, dir: &Path, config: &Path) -> (Proc, String) {
    let mut last_tail = String::new();
    for attempt in 0..3 {
        let port = free_port();
        let storage = dir.join(format!("am-data-{attempt}"));
        std::fs::create_dir_all(&storage).unwrap();
        let mut child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {ALERTMANAGER}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        drain(child.stdout.take().unwrap(), log.clone());
        drain(child.stderr.take().unwrap(), log.clone());
        let mut am = Proc {
            name: "prometheus-alertmanager",
            child,
            log,
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        loop {
            if am.child.try_wait().ok().flatten().is_some() {
                last_tail = am.tail();
                break;
            }
            if let Ok(r) = http.get(format!("{url}/-/ready")).send().await
                && r.status() == 200
            {
                return (am, url);
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager was not ready within {WAIT:?}\n{}",
                am.tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("Alertmanager did not start (3 attempts)\n{last_tail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_delivers_dedupes_groups_and_resolves() {
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} is missing: this test needs the real Prometheus Alertmanager. \
         Install it with `apt-get install prometheus-alertmanager` (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (am_key, pd_key) = (random_key(), random_key());
    let fb_config = firebreak_config(dir.path(), &am_key, &pd_key);
    let data = dir.path().join("firebreak-data");
    let fb = serve(&data, &fb_config, "127.0.0.1:0");
    let token = fb
        .first_token
        .clone()
        .expect("a first start prints an admin token");
    let http = http();
    let am_config = alertmanager_config(dir.path(), &fb.url, &am_key, &pd_key);
    let (am, am_url) = start_alertmanager(&http, dir.path(), &am_config).await;
    let mut w = World {
        http,
        fb,
        token,
        am,
        am_url,
        _dir: dir,
    };

    // (a) They arrive, through both receivers.
    let started_a = ts(-5);
    let firing_until = ts(600);
    let alert_a = am_alert("CheckoutErrors", "web-1", &started_a, &firing_until);
    w.post_to_alertmanager(std::slice::from_ref(&alert_a)).await;
    let first = w
        .wait_for(
            "CheckoutErrors arrives from the webhook and from PagerDuty",
            async |w| {
                let open = w.alerts("status=open").await;
                let got = by_format(&open, "CheckoutErrors")?;
                match (got.get("alertmanager"), got.get("pagerduty")) {
                    (Some(am), Some(pd)) => Ok(((*am).clone(), (*pd).clone())),
                    _ => Err(summary(&open)),
                }
            },
        )
        .await;
    let (a_am, a_pd) = first;
    assert_eq!(a_am["service"], "checkout", "{a_am:#}");
    assert_eq!(a_am["severity"], "critical", "{a_am:#}");
    assert_eq!(a_am["summary"], "CheckoutErrors on web-1", "{a_am:#}");
    assert_eq!(a_am["labels"]["instance"], "web-1", "{a_am:#}");
    assert_eq!(a_pd["service"], "checkout", "{a_pd:#}");
    assert_eq!(a_pd["severity"], "critical", "{a_pd:#}");
    assert_eq!(a_pd["labels"]["component"], "web-1", "{a_pd:#}");
    assert_ne!(a_am["integration"], a_pd["integration"]);

    // (c, first half) The first critical alert declared an incident; both copies are in it.
    let incident = a_am["incident"]
        .as_str()
        .unwrap_or_else(|| panic!("the critical alert declared no incident: {a_am:#}"))
        .to_string();
    assert_eq!(a_pd["incident"], a_am["incident"], "{a_pd:#}");
    let listed = w.get("/api/v1/incidents").await;
    let incidents = listed["items"].as_array().unwrap();
    assert_eq!(
        incidents.len(),
        1,
        "one incident for the service: {listed:#}"
    );
    assert_eq!(incidents[0]["id"], incident.as_str());
    assert_eq!(incidents[0]["services"], json!(["checkout"]));
    assert_eq!(incidents[0]["severity"], "SEV2");

    // (b) They dedupe: post the same alert again; Alertmanager keeps re-notifying (every
    // repeat_interval) and Firebreak counts the repeats on the same open alerts.
    w.post_to_alertmanager(std::slice::from_ref(&alert_a)).await;
    let mut last_count: BTreeMap<i64, i64> = BTreeMap::new();
    for a in [&a_am, &a_pd] {
        last_count.insert(a["id"].as_i64().unwrap(), a["count"].as_i64().unwrap());
    }
    let ids = (a_am["id"].clone(), a_pd["id"].clone());
    w.wait_for(
        "both CheckoutErrors alerts have counted a repeat",
        async |w| {
            w.post_to_alertmanager(std::slice::from_ref(&alert_a)).await;
            let all = w.alerts("").await;
            let got = by_format(&all, "CheckoutErrors")?;
            let mut repeated = 0;
            for (format, a) in &got {
                assert_eq!(
                    a["status"], "open",
                    "{format} alert is no longer open: {a:#}"
                );
                let id = a["id"].as_i64().unwrap();
                assert!(
                    id == ids.0 || id == ids.1,
                    "a second {format} alert was opened for the same Alertmanager alert: {}",
                    summary(&all)
                );
                let count = a["count"].as_i64().unwrap();
                let before = last_count.insert(id, count).unwrap_or(0);
                assert!(
                    count >= before,
                    "count went down from {before} to {count}: {a:#}"
                );
                if count >= 2 {
                    repeated += 1;
                }
            }
            if repeated == 2 {
                Ok(())
            } else {
                Err(summary(&all))
            }
        },
    )
    .await;

    // (c) A second, different alert on the same service joins the same incident.
    let started_b = ts(-3);
    let alert_b = am_alert("CheckoutLatency", "web-2", &started_b, &firing_until);
    w.post_to_alertmanager(&[alert_a.clone(), alert_b.clone()])
        .await;
    let (b_am, b_pd) = w
        .wait_for("CheckoutLatency arrives from both receivers", async |w| {
            let open = w.alerts("status=open").await;
            let got = by_format(&open, "CheckoutLatency")?;
            match (got.get("alertmanager"), got.get("pagerduty")) {
                (Some(am), Some(pd)) => Ok(((*am).clone(), (*pd).clone())),
                _ => Err(summary(&open)),
            }
        })
        .await;
    for b in [&b_am, &b_pd] {
        assert_eq!(
            b["incident"],
            incident.as_str(),
            "the second alert attaches to the open incident: {b:#}"
        );
    }
    let shown = w.get(&format!("/api/v1/incidents/{incident}")).await;
    let attached: Vec<i64> = shown["alerts"]
        .as_array()
        .unwrap_or_else(|| panic!("no alerts on {shown:#}"))
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    for a in [&a_am, &a_pd, &b_am, &b_pd] {
        let id = a["id"].as_i64().unwrap();
        assert!(
            attached.contains(&id),
            "incident alerts {attached:?} lack {id}"
        );
    }
    assert_eq!(attached.len(), 4, "{shown:#}");
    assert_eq!(shown["alerts_resolved"], false, "{shown:#}");
    let listed = w.get("/api/v1/incidents").await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "still one incident: {listed:#}"
    );

    // (d) They resolve: end both alerts in Alertmanager; it sends the resolutions.
    let ended = ts(-1);
    w.post_to_alertmanager(&[
        am_alert("CheckoutErrors", "web-1", &started_a, &ended),
        am_alert("CheckoutLatency", "web-2", &started_b, &ended),
    ])
    .await;
    let ids: Vec<i64> = [&a_am, &a_pd, &b_am, &b_pd]
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    w.wait_for("all four alerts are resolved", async |w| {
        let all = w.alerts("").await;
        for name in ["CheckoutErrors", "CheckoutLatency"] {
            by_format(&all, name)?;
        }
        let resolved = all
            .iter()
            .filter(|a| ids.contains(&a["id"].as_i64().unwrap_or(-1)))
            .filter(|a| a["status"] == "resolved")
            .count();
        if resolved == 4 && all.len() == 4 {
            Ok(())
        } else {
            Err(summary(&all))
        }
    })
    .await;
    let shown = w.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(
        shown["alerts_resolved"], true,
        "every attached alert resolved: {shown:#}"
    );
    let open = w.alerts("status=open").await;
    assert!(open.is_empty(), "no open alerts left: {}", summary(&open));
    eprintln!("final alerts: {}", summary(&w.alerts("").await));

    // The keys rode in URL paths and bodies; the server's log (at debug level for requests)
    // must not contain them.
    let log = w.fb.proc.log.lock().unwrap().join("\n");
    assert!(
        log.contains("route=\"/api/v1/ingest/{format}/{key}\""),
        "requests are logged by route template"
    );
    for key in [&am_key, &pd_key] {
        assert!(
            !log.contains(key.as_str()),
            "an integration key reached the server log"
        );
    }

    // Both children are killed by PID when `w` drops.
    drop(w);
}
