//! `examples/webhook-receiver.py`, the receiver the README shows, against the real Firebreak:
//! subscribed with `firebreak webhook add`, it verifies and prints the events an incident and an
//! alert cause, treats a redelivery as the duplicate it is, and refuses deliveries signed with
//! another secret. It also verifies the Standard Webhooks fixture and rejects each of the
//! fixture's negative cases.
//!
//! The example runs under `python3`; without it this test fails rather than skips.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firebreak_domain::Config;
use firebreak_engine::Clock;
use firebreak_outbound::signing;
use reqwest::Method;
use serde_json::{Value, json};

const RECEIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/webhook-receiver.py"
);
const BIN: &str = env!("CARGO_BIN_EXE_firebreak");
const WAIT: Duration = Duration::from_secs(20);

fn require_python() {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "python3 is needed to run examples/webhook-receiver.py (apt-get install python3); \
         this test does not skip without it"
    );
}

/// A running `webhook-receiver.py`, killed by its PID when dropped. Its output is collected
/// line by line as it arrives.
struct Receiver {
    child: Child,
    port: u16,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    /// Starts the example with `secret`, on `port` (0 for any), with its clock at `now`.
    async fn start(secret: &str, port: u16, now: i64) -> Receiver {
        let mut child = Command::new("python3")
            .arg(RECEIVER)
            .arg(port.to_string())
            .env("FIREBREAK_WEBHOOK_SECRET", secret)
            .env("FIREBREAK_WEBHOOK_NOW", now.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let collect = |pipe: Box<dyn std::io::Read + Send>| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push(line);
                }
            });
            lines
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        let mut receiver = Receiver {
            child,
            port,
            stdout,
            stderr,
        };
        let listening = receiver
            .wait_for("the receiver to listen", |l| l.starts_with("listening on "))
            .await;
        receiver.port = listening
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {listening:?}"));
        receiver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/firebreak", self.port)
    }

    fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The first stdout line `matches` accepts, waiting for it to be printed.
    async fn wait_for(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let lines = self.stdout.clone();
        self.wait_in(&lines, what, matches).await
    }

    /// The first stderr line `matches` accepts, waiting for it to be printed.
    async fn wait_for_stderr(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let lines = self.stderr.clone();
        self.wait_in(&lines, what, matches).await
    }

    async fn wait_in(
        &mut self,
        lines: &Mutex<Vec<String>>,
        what: &str,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = lines.lock().unwrap().iter().find(|l| matches(l)) {
                return line.clone();
            }
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || started.elapsed() > WAIT {
                // Let the readers take in the last output before showing it.
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "waited for {what}; the receiver {}.\nstdout:\n{}\nstderr:\n{}",
                    exited.map_or("is still running".into(), |s| format!("exited ({s})")),
                    self.stdout().join("\n"),
                    self.stderr().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// POSTs `body` with `headers` to the receiver and returns its status.
    async fn post<K: AsRef<str>, V: AsRef<str>>(&self, headers: &[(K, V)], body: &str) -> u16 {
        let mut req = common::client().post(self.url()).body(body.to_string());
        for (k, v) in headers {
            req = req.header(k.as_ref(), v.as_ref());
        }
        req.send()
            .await
            .expect("the receiver answers")
            .status()
            .as_u16()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on at the moment.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Runs the built `firebreak` binary as a client of `s`.
async fn firebreak(s: &common::TestServer, token: &str, args: &[&str]) -> (String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .env("FIREBREAK_CONFIG_DIR", home.path())
        .env("FIREBREAK_SERVER", &s.base)
        .env("FIREBREAK_TOKEN", token)
        .output()
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "firebreak {args:?} failed: {}",
        text(&out.stderr)
    );
    (text(&out.stdout), text(&out.stderr))
}

/// A line the receiver prints for an event: `webhook-id type data`.
fn event_line(line: &str) -> (String, String, Value) {
    let mut parts = line.splitn(3, ' ');
    let (id, kind, data) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    (id.into(), kind.into(), serde_json::from_str(data).unwrap())
}

/// The subscription's deliveries once every one has reached `status`.
async fn deliveries_once(
    s: &common::TestServer,
    id: &str,
    count: usize,
    status: &str,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let a = s
            .call(
                Method::GET,
                &format!("/api/v1/webhooks/{id}/deliveries"),
                Some(&s.admin),
                None,
            )
            .await;
        let items = a.expect(200)["items"].as_array().unwrap().clone();
        if items.len() == count && items.iter().all(|d| d["status"] == status) {
            return items;
        }
        assert!(
            started.elapsed() < WAIT,
            "deliveries did not all become {status}: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_receiver_verifies_real_deliveries() {
    require_python();
    let mut config = Config::default();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    let s = common::spawn_with(config).await;

    // Subscribe as the README does: the secret is captured from stdout.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hooks/firebreak");
    let (secret, notes) = firebreak(
        &s,
        &s.admin,
        &[
            "webhook",
            "add",
            &url,
            "--event",
            "incident.declared",
            "--events",
            "alert.opened",
            "--description",
            "the README's receiver",
        ],
    )
    .await;
    let secret = secret.trim().to_string();
    assert!(secret.starts_with("whsec_"), "{secret:?}");
    assert!(notes.contains("shown only this once"), "{notes}");
    let listed = s
        .call(Method::GET, "/api/v1/webhooks", Some(&s.admin), None)
        .await;
    let subscription = listed.expect(200)["items"][0].clone();
    let id = subscription["id"].as_str().unwrap().to_string();
    assert_eq!(
        subscription["events"],
        json!(["incident.declared", "alert.opened"])
    );

    // Deliveries are stamped with the server's (manual) clock; the receiver's clock agrees.
    let now = s.clock.now().as_second();
    let mut receiver = Receiver::start(&secret, port, now).await;

    let incident = s.declare("Checkout returns 500s", "SEV2").await;
    let key = s.integration("checkout", "prometheus").await;
    let sent = s
        .send_json(
            &format!("/api/v1/ingest/generic/{key}"),
            &json!({"summary": "Disk full on db-1", "severity": "critical", "dedup_key": "disk-db-1"}),
        )
        .await;
    assert_eq!(sent.status, 202, "{}", sent.body);

    let (declared_id, _, data) = event_line(
        &receiver
            .wait_for("incident.declared", |l| l.contains(" incident.declared "))
            .await,
    );
    assert_eq!(data["incident"]["id"], incident["id"]);
    assert_eq!(data["incident"]["title"], "Checkout returns 500s");
    let (opened_id, _, data) = event_line(
        &receiver
            .wait_for("alert.opened", |l| l.contains(" alert.opened "))
            .await,
    );
    assert_eq!(data["alert"]["summary"], "Disk full on db-1");
    assert_eq!(data["alert"]["service"], "checkout");

    // Firebreak recorded both as delivered, with the receiver's 204, under the printed ids.
    let deliveries = deliveries_once(&s, &id, 2, "delivered").await;
    let mut ids: Vec<&str> = deliveries
        .iter()
        .map(|d| d["event_id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut printed = vec![declared_id.as_str(), opened_id.as_str()];
    printed.sort();
    assert_eq!(ids, printed);
    for d in &deliveries {
        assert_eq!(d["attempts"][0]["status_code"], 204, "{d}");
    }
    let (table, _) = firebreak(&s, &s.admin, &["webhook", "deliveries", &id]).await;
    assert!(
        table.contains(&declared_id) && table.contains("HTTP 204"),
        "{table}"
    );

    // A redelivery carries the same webhook-id, so the receiver skips it as a duplicate.
    let declared = deliveries
        .iter()
        .find(|d| d["event_id"] == declared_id.as_str())
        .unwrap();
    let (queued, _) = firebreak(
        &s,
        &s.admin,
        &["webhook", "redeliver", &id, &declared["id"].to_string()],
    )
    .await;
    assert!(queued.contains("with the same webhook-id"), "{queued}");
    receiver
        .wait_for("the duplicate", |l| {
            l == format!("{declared_id} duplicate, already processed")
        })
        .await;
    let after = deliveries_once(&s, &id, 2, "delivered").await;
    let again = after.iter().find(|d| d["id"] == declared["id"]).unwrap();
    assert_eq!(again["attempts"].as_array().unwrap().len(), 2, "{again}");
    let events = |r: &Receiver| {
        r.stdout()
            .iter()
            .filter(|l| l.contains(" incident.declared ") || l.contains(" alert.opened "))
            .count()
    };
    assert_eq!(events(&receiver), 2, "{:#?}", receiver.stdout());

    // A delivery signed with another secret is refused and not printed; so is an unsigned one.
    let body = json!({"type": "incident.resolved", "timestamp": "2026-11-23T03:00:00.000Z",
                      "data": {"incident": {"id": "INC-1"}}})
    .to_string();
    let forged_id = "msg_01JDFORGEDFORGEDFORGEDFOR";
    let other = signing::new_secret().unwrap();
    let wrong = signing::sign(&other, forged_id, now, body.as_bytes()).unwrap();
    let signed = |signature: String| {
        vec![
            ("content-type", "application/json".to_string()),
            ("webhook-id", forged_id.to_string()),
            ("webhook-timestamp", now.to_string()),
            ("webhook-signature", signature),
        ]
    };
    let forged = signed(wrong);
    assert_eq!(receiver.post(&forged, &body).await, 401);
    assert_eq!(
        receiver.post(&forged[..3], &body).await,
        400,
        "no signature"
    );
    receiver
        .wait_for_stderr("the refusal", |l| {
            l == format!("rejected {forged_id}: no signature matches")
        })
        .await;
    // The right secret makes the same request acceptable: the refusal was the signature's.
    let right = signing::sign(&secret, forged_id, now, body.as_bytes()).unwrap();
    assert_eq!(receiver.post(&signed(right), &body).await, 204);
    receiver
        .wait_for("the correctly signed event", |l| l.starts_with(forged_id))
        .await;
    let forged_lines = receiver
        .stdout()
        .iter()
        .filter(|l| l.starts_with(forged_id))
        .count();
    assert_eq!(forged_lines, 1, "{:#?}", receiver.stdout());
}

/// Sections of the Standard Webhooks fixture: `[name]` starts one; '#' lines are comments.
fn fixture() -> HashMap<String, Vec<String>> {
    let text =
        include_str!("../../firebreak-outbound/tests/fixtures/standard-webhooks-example.txt");
    let mut sections: HashMap<String, Vec<String>> = HashMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('[') {
            current = rest.split(']').next().unwrap().to_string();
            sections.entry(current.clone()).or_default();
        } else if !line.starts_with('#') && !current.is_empty() && !line.is_empty() {
            sections.get_mut(&current).unwrap().push(line.to_string());
        }
    }
    sections
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_receiver_verifies_the_standard_webhooks_fixture() {
    require_python();
    let f = fixture();
    let secret = &f["secret"][0];
    let previous = &f["previous_secret"][0];
    let body = &f["body"][0];
    assert_eq!(body.len(), 465);
    // The exact request: every header line of [http_request] after the request line.
    let request: Vec<(String, String)> = f["http_request"]
        .iter()
        .skip(1)
        .take_while(|l| !l.starts_with('{'))
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| !matches!(*k, "Host" | "Content-Length"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let header = |name: &str| {
        request
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the fixture's request has no {name}"))
    };
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let sent_at: i64 = timestamp.parse().unwrap();
    assert_eq!(sent_at, 1_795_184_405, "2026-11-20T14:20:05Z");
    let with = |signature: Option<&str>, skip: Option<&str>| -> Vec<(String, String)> {
        request
            .iter()
            .filter(|(k, _)| Some(k.as_str()) != skip)
            .map(|(k, v)| match (k.as_str(), signature) {
                ("webhook-signature", Some(s)) => (k.clone(), s.to_string()),
                _ => (k.clone(), v.clone()),
            })
            .collect()
    };
    let mut receiver = Receiver::start(secret, 0, sent_at).await;
    // The negative cases first, while the receiver has not seen the id: each answer is the
    // verifier's own.
    let tampered = body.replace("SEV2", "SEV1");
    assert_eq!(
        receiver.post(&with(None, None), &tampered).await,
        401,
        "tampered body"
    );
    let expected = header("webhook-signature");
    let v1a = expected.replacen("v1,", "v1a,", 1);
    assert_eq!(
        receiver.post(&with(Some(&v1a), None), body).await,
        401,
        "v1a"
    );
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert_eq!(
            receiver.post(&with(None, Some(missing)), body).await,
            400,
            "without {missing}"
        );
    }
    assert!(
        receiver
            .stdout()
            .iter()
            .all(|l| l.starts_with("listening on"))
    );

    assert_eq!(receiver.post(&with(None, None), body).await, 204);
    let line = receiver
        .wait_for("the fixture's event", |l| l.starts_with(&id))
        .await;
    let (printed_id, kind, data) = event_line(&line);
    assert_eq!(
        (printed_id.as_str(), kind.as_str()),
        (id.as_str(), "incident.updated")
    );
    assert_eq!(data["incident"]["id"], "INC-1042");
    // Sent again, it is a duplicate: answered, not processed.
    assert_eq!(receiver.post(&with(None, None), body).await, 204);
    receiver
        .wait_for("the duplicate", |l| {
            l == format!("{id} duplicate, already processed")
        })
        .await;
    drop(receiver);

    // Rotation: a receiver that knows only the previous secret accepts the header with both
    // signatures, and not the one with the current signature alone.
    let rotation = &f["rotation_example"][0];
    let both = rotation.strip_prefix("webhook-signature: ").unwrap();
    let receiver = Receiver::start(previous, 0, sent_at).await;
    assert_eq!(receiver.post(&with(None, None), body).await, 401);
    assert_eq!(receiver.post(&with(Some(both), None), body).await, 204);
    drop(receiver);

    // Five minutes either way is fresh; 301 seconds is too old.
    for (now, status) in [
        (sent_at + 300, 204),
        (sent_at - 300, 204),
        (sent_at + 301, 400),
    ] {
        let mut receiver = Receiver::start(secret, 0, now).await;
        assert_eq!(
            receiver.post(&with(None, None), body).await,
            status,
            "receiver clock {now}"
        );
        if status == 400 {
            receiver
                .wait_for_stderr("the refusal", |l| l.contains("more than 5 minutes away"))
                .await;
        }
    }
}
