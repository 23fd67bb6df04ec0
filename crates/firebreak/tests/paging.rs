//! Paging, end to end, in GoAlert's style: the real server in-process on a manual clock, a
//! real HTTP receiver on loopback that checks every page's Standard Webhooks signature, and
//! each test reading like the incident it describes ("alice is paged by webhook; 5 minutes
//! pass; bob is paged; bob acks; nothing more is sent").

mod common;
mod support_receiver;
mod support_smtp;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{TestServer, spawn_with};
use firebreak_domain::Config;
use firebreak_outbound::signing;
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::{Value, json};
use support_receiver::{Received, Receiver, Reply};
use support_smtp::SmtpSink;

/// How long a test waits (real time) for something that should happen at once.
const PROMPTLY: Duration = Duration::from_secs(5);
/// How long a test listens (real time) to be sure nothing more is sent.
const QUIET: Duration = Duration::from_millis(400);

fn config() -> Config {
    let mut config = Config::default();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.outbound.retry.first_delay = SignedDuration::from_secs(2);
    config
}

/// The people on call, their webhook secrets, and where their pages arrive.
struct World {
    s: TestServer,
    rx: Receiver,
    secrets: BTreeMap<String, String>,
    key: String,
}

impl World {
    /// alice and bob have webhook contacts at the receiver; `ops` pages alice, then bob after
    /// 5 minutes; `checkout` uses `ops`.
    async fn new(repeat: u32) -> World {
        World::on(spawn_with(config()).await, repeat).await
    }

    /// The same world on a fresh PostgreSQL schema.
    async fn on_postgres(prefix: &str, repeat: u32) -> World {
        let store = common::postgres_store(prefix).await;
        let s = common::spawn_on(
            std::sync::Arc::new(store),
            config(),
            tempfile::tempdir().unwrap(),
        )
        .await;
        World::on(s, repeat).await
    }

    async fn on(s: TestServer, repeat: u32) -> World {
        let rx = Receiver::start(Reply::OK).await;
        let mut w = World {
            s,
            rx,
            secrets: BTreeMap::new(),
            key: String::new(),
        };
        for user in ["alice", "bob"] {
            w.user(user).await;
            w.webhook(user).await;
        }
        w.policy(
            "ops",
            repeat,
            json!([
                {"delay": "5m", "targets": [{"user": "alice"}]},
                {"delay": "5m", "targets": [{"user": "bob"}]}
            ]),
        )
        .await;
        w.key = w.s.integration("checkout", "pagerduty").await;
        w.admin(
            Method::PATCH,
            "/api/v1/services/checkout",
            json!({"escalation_policy": "ops"}),
        )
        .await
        .expect(200);
        w
    }

    /// A call with the admin's token.
    async fn admin(&self, method: Method, path: &str, body: Value) -> common::Answer {
        self.s
            .call(method, path, Some(&self.s.admin), Some(body))
            .await
    }

    async fn user(&self, handle: &str) {
        self.admin(
            Method::POST,
            "/api/v1/users",
            json!({"handle": handle, "name": handle}),
        )
        .await
        .expect(201);
    }

    async fn webhook(&mut self, user: &str) -> Value {
        let body = self
            .admin(
                Method::POST,
                &format!("/api/v1/users/{user}/contact-methods"),
                json!({"type": "webhook", "target": format!("{}/{user}", self.rx.url)}),
            )
            .await
            .expect(201)
            .clone();
        let secret = body["secret"]
            .as_str()
            .expect("a webhook's secret is shown once");
        self.secrets.insert(user.to_string(), secret.to_string());
        body
    }

    async fn policy(&self, name: &str, repeat: u32, steps: Value) {
        self.admin(
            Method::POST,
            "/api/v1/escalation-policies",
            json!({"name": name, "repeat": repeat, "steps": steps}),
        )
        .await
        .expect(201);
    }

    /// A critical PagerDuty alert on checkout; returns its alert id.
    async fn alert(&self, dedup: &str) -> i64 {
        let sent = self
            .s
            .send_json(
                "/v2/enqueue",
                &json!({"routing_key": self.key, "event_action": "trigger", "dedup_key": dedup,
                        "payload": {"summary": format!("{dedup} is failing"), "source": "web-1",
                                    "severity": "critical"}}),
            )
            .await;
        assert_eq!(sent.status, 202, "{}", sent.body);
        let alerts = self.s.alerts("status=open").await;
        alerts
            .iter()
            .find(|a| a["dedup_key"] == dedup)
            .and_then(|a| a["id"].as_i64())
            .expect("the alert is listed")
    }

    /// Waits for page number `n` (1-based, all users) and checks its signature.
    async fn page(&self, n: usize) -> Received {
        let got = self.rx.wait_for(n, PROMPTLY).await;
        let page = got[n - 1].clone();
        let body = page.json();
        let user = body["user"].as_str().expect("a page names its user");
        let secret = &self.secrets[user];
        let sent_at: i64 = page.headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        signing::verify(&[secret.as_str()], &page.headers, &page.body, sent_at)
            .unwrap_or_else(|e| panic!("page {n} to {user} is not signed with their secret: {e}"));
        // The receiver has the page; wait until Firebreak has recorded that, so a test that
        // moves the clock on next does not find the page still held under a lease that the
        // jump ended (which would send it again, as it should after a crash).
        let query = match (
            body["alert"]["id"].as_i64(),
            body["incident"]["id"].as_str(),
        ) {
            (Some(alert), _) => format!("alert={alert}"),
            (None, Some(incident)) if body["escalation"].is_null() => {
                // A reminder belongs to no escalation: its outcome shows on the timeline.
                let sent = got[..n]
                    .iter()
                    .filter(|p| {
                        let b = p.json();
                        b["incident"]["id"] == incident && b["escalation"].is_null()
                    })
                    .count();
                self.reminders_recorded(incident, sent).await;
                return page;
            }
            (None, Some(incident)) => format!("incident={incident}"),
            (None, None) => return page,
        };
        self.escalations_until(&query, |list| {
            list.iter().all(|e| {
                e["notifications"]
                    .as_array()
                    .is_some_and(|n| n.iter().all(|n| n["status"] != "sending"))
            })
        })
        .await;
        page
    }

    /// Waits until the incident's timeline records the outcome of `sent` reminders.
    async fn reminders_recorded(&self, incident: &str, sent: usize) {
        let deadline = std::time::Instant::now() + PROMPTLY;
        loop {
            let recorded = self
                .timeline_kinds(incident)
                .await
                .iter()
                .filter(|e| {
                    (e["kind"] == "page_delivered" || e["kind"] == "page_failed")
                        && e["data"]["escalation"]
                            .as_str()
                            .unwrap_or_default()
                            .is_empty()
                })
                .count();
            if recorded >= sent {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{incident}'s timeline never recorded {sent} reminders ({recorded} so far)"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn minutes_pass(&self, m: i64) {
        self.s.clock.advance(SignedDuration::from_mins(m));
    }

    async fn escalations(&self, query: &str) -> Vec<Value> {
        self.s
            .get(&format!("/api/v1/escalations?{query}"))
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The escalations once `done` holds (outcomes are recorded just after the receiver
    /// answers).
    async fn escalations_until(&self, query: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = std::time::Instant::now() + PROMPTLY;
        loop {
            let list = self.escalations(query).await;
            if done(&list) {
                return list;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the escalations never reached the expected state: {list:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn timeline_kinds(&self, incident: &str) -> Vec<Value> {
        self.s
            .get(&format!("/api/v1/incidents/{incident}/timeline?limit=500"))
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn user_of(page: &Received) -> String {
    page.json()["user"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_two_pages_bob_after_its_delay_and_his_ack_stops_it() {
    let w = World::new(0).await;
    // An alert opens: alice is paged by webhook at once.
    let alert = w.alert("checkout-5xx").await;
    let first = w.page(1).await;
    assert_eq!(user_of(&first), "alice");
    let body = first.json();
    assert_eq!(body["type"], "page");
    assert_eq!(body["step"], 0);
    assert_eq!(body["alert"]["id"], alert);
    assert_eq!(body["alert"]["service"], "checkout");
    // Its link is a web page a phone can open: the alerts list, as it has no incident.
    assert_eq!(
        body["alert"]["url"],
        format!("{}/alerts", w.s.base),
        "{body}"
    );
    let ack_url = body["ack_url"]
        .as_str()
        .expect("a page carries its ack link");
    assert!(ack_url.starts_with(&w.s.base), "{ack_url}");
    let escalation = body["escalation"].as_str().unwrap().to_string();
    // 4 minutes pass: nobody else is paged.
    w.minutes_pass(4);
    w.rx.expect_no_more(1, QUIET).await;
    // The 5th minute: bob is paged.
    w.minutes_pass(1);
    let second = w.page(2).await;
    assert_eq!(user_of(&second), "bob");
    assert_eq!(second.json()["step"], 1);
    // bob acks through the API.
    w.s.post(&format!("/api/v1/alerts/{alert}/ack"), json!({}))
        .await
        .expect(200);
    let list = w
        .escalations_until(&format!("alert={alert}"), |l| {
            l[0]["notifications"]
                .as_array()
                .is_some_and(|n| n.iter().all(|n| n["status"] == "delivered"))
        })
        .await;
    assert_eq!(list.len(), 1);
    let e = &list[0];
    assert_eq!(e["id"], escalation.as_str());
    assert_eq!(e["status"], "acknowledged");
    assert_eq!(e["policy"], "ops");
    assert_eq!(e["step"], 1);
    assert_eq!(e["round"], 0);
    assert!(e["acknowledged_at"].is_string());
    assert_eq!(e["notifications"].as_array().unwrap().len(), 2);
    for n in e["notifications"].as_array().unwrap() {
        for key in [
            "id",
            "user",
            "type",
            "status",
            "attempts",
            "last_error",
            "delivered_at",
        ] {
            assert!(n.get(key).is_some(), "a notification has `{key}`: {n}");
        }
        assert_eq!(n["type"], "webhook");
    }
    // An hour passes: nothing more is sent.
    w.minutes_pass(60);
    w.rx.expect_no_more(2, QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_alert_has_its_first_page_queued_when_the_sender_gets_its_answer() {
    let w = World::new(0).await;
    let alert = w.alert("queue-depth").await;
    // No waiting: the alert's own unit of work queued step 0's page with the escalation.
    let list = w.escalations(&format!("alert={alert}")).await;
    assert_eq!(list.len(), 1, "{list:#?}");
    let notifications = list[0]["notifications"].as_array().unwrap();
    assert_eq!(notifications.len(), 1, "{list:#?}");
    assert_eq!(notifications[0]["user"], "alice");
    assert_eq!(notifications[0]["step"], 0);
    let page = w.page(1).await;
    assert_eq!(user_of(&page), "alice");
    // The next step's timer waits for its delay: nobody else is paged meanwhile.
    w.rx.expect_no_more(1, QUIET).await;
}

/// A receiver of event webhooks hangs while hundreds of events wait for it: every place the
/// worker has for bulk work is taken. A page still goes out at once, in a lane of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_goes_out_at_once_while_a_hanging_webhook_receiver_holds_a_backlog() {
    let w = World::new(0).await;
    let hanging = Receiver::start(Reply::Hold).await;
    w.admin(
        Method::POST,
        "/api/v1/webhooks",
        json!({"url": hanging.url, "events": ["incident.declared"]}),
    )
    .await
    .expect(201);
    let in_flight = firebreak_engine::events::PER_SUBSCRIPTION;
    let held = firebreak_engine::delivery::HELD;
    let started = std::time::Instant::now();
    w.s.declare_many(held + 20).await;
    hanging.wait_for(in_flight, PROMPTLY).await;
    let alert = w.alert("checkout-down").await;
    let page = w.page(1).await;
    assert_eq!(user_of(&page), "alice");
    assert_eq!(page.json()["alert"]["id"], alert);
    // The outbound client gives up on the hanging receiver after 10 s: the page came before
    // any bulk place freed.
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "the page waited behind the webhooks: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_stops_the_escalation() {
    let w = World::new(0).await;
    let alert = w.alert("disk-full").await;
    w.page(1).await;
    w.s.post(&format!("/api/v1/alerts/{alert}/resolve"), json!({}))
        .await
        .expect(200);
    w.minutes_pass(30);
    w.rx.expect_no_more(1, QUIET).await;
    let list = w.escalations(&format!("alert={alert}")).await;
    assert_eq!(list[0]["status"], "resolved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_repeats_then_is_exhausted_on_the_incident_timeline() {
    let w = World::new(1).await;
    // A declared SEV2 pages on-call: ops, twice round, then exhausted.
    let incident =
        w.s.post(
            "/api/v1/incidents",
            json!({"title": "Checkout down", "severity": "SEV2", "services": ["checkout"]}),
        )
        .await
        .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string();
    let mut order = vec![user_of(&w.page(1).await)];
    for n in 2..=4 {
        w.minutes_pass(5);
        order.push(user_of(&w.page(n).await));
    }
    assert_eq!(order, ["alice", "bob", "alice", "bob"]);
    w.minutes_pass(5);
    let list = w
        .escalations_until(&format!("incident={incident}"), |l| {
            l.first().is_some_and(|e| e["status"] == "exhausted")
        })
        .await;
    assert_eq!(list[0]["round"], 1);
    w.minutes_pass(60);
    w.rx.expect_no_more(4, QUIET).await;
    let kinds: Vec<String> = w
        .timeline_kinds(&incident)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    for kind in [
        "escalation_started",
        "paged",
        "page_delivered",
        "escalation_exhausted",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "the timeline records {kind}: {kinds:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_no_contact_methods_still_counts_and_the_timeline_says_why() {
    let w = World::new(0).await;
    w.user("carol").await;
    w.policy(
        "carol-first",
        0,
        json!([
            {"delay": "3s", "targets": [{"user": "carol"}]},
            {"delay": "5m", "targets": [{"user": "bob"}]}
        ]),
    )
    .await;
    w.admin(
        Method::PATCH,
        "/api/v1/services/checkout",
        json!({"escalation_policy": "carol-first"}),
    )
    .await
    .expect(200);
    let incident =
        w.s.post(
            "/api/v1/incidents",
            json!({"title": "Queue stuck", "severity": "SEV2", "services": ["checkout"]}),
        )
        .await
        .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string();
    // Step 0 reaches nobody; 3 seconds later bob is paged.
    w.rx.expect_no_more(0, QUIET).await;
    w.s.clock.advance(SignedDuration::from_secs(3));
    assert_eq!(user_of(&w.page(1).await), "bob");
    let timeline = w.timeline_kinds(&incident).await;
    let nobody = timeline
        .iter()
        .find(|e| e["kind"] == "nobody_paged")
        .unwrap_or_else(|| panic!("the timeline says nobody was reached: {timeline:#?}"));
    let text = nobody.to_string();
    assert!(text.contains("carol has no contact methods"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_receiver_is_not_retried_and_the_next_step_still_comes() {
    let w = World::new(0).await;
    w.rx.then([Reply::Status(404)]);
    let alert = w.alert("api-latency").await;
    w.page(1).await;
    let list = w
        .escalations_until(&format!("alert={alert}"), |l| {
            l[0]["notifications"][0]["status"] == "failed"
        })
        .await;
    let n = &list[0]["notifications"][0];
    assert_eq!(n["attempts"], 1);
    assert!(n["last_error"].as_str().unwrap().contains("404"), "{n}");
    // No retry, even much later than the retry delay...
    w.s.clock.advance(SignedDuration::from_secs(30));
    w.rx.expect_no_more(1, QUIET).await;
    // ...and bob is still paged on time.
    w.s.clock.advance(SignedDuration::from_secs(270));
    assert_eq!(user_of(&w.page(2).await), "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_with_the_same_id_until_it_takes_the_page() {
    let w = World::new(0).await;
    w.rx.then([Reply::Status(503)]);
    let alert = w.alert("db-conn").await;
    let first = w.page(1).await;
    // Not before the retry delay...
    w.rx.expect_no_more(1, QUIET).await;
    w.s.clock.advance(SignedDuration::from_secs(3));
    let second = w.page(2).await;
    assert_eq!(second.id, first.id, "a retry keeps its webhook-id");
    assert_eq!(second.body, first.body, "a retry sends the same bytes");
    let list = w
        .escalations_until(&format!("alert={alert}"), |l| {
            l[0]["notifications"][0]["status"] == "delivered"
        })
        .await;
    assert_eq!(list[0]["notifications"][0]["attempts"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_policy_mid_escalation_changes_nothing_in_the_running_one() {
    let w = World::new(0).await;
    w.user("dave").await;
    let alert = w.alert("mem-leak").await;
    assert_eq!(user_of(&w.page(1).await), "alice");
    // Someone edits ops: step 1 would now page dave after an hour.
    w.admin(
        Method::PUT,
        "/api/v1/escalation-policies/ops",
        json!({"steps": [{"delay": "60m", "targets": [{"user": "alice"}]},
                         {"delay": "5m", "targets": [{"user": "dave"}]}]}),
    )
    .await
    .expect(200);
    // The running escalation keeps its copy: bob after 5 minutes.
    w.minutes_pass(5);
    assert_eq!(user_of(&w.page(2).await), "bob");
    let list = w.escalations(&format!("alert={alert}")).await;
    assert_eq!(list[0]["policy"], "ops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ack_link_shows_a_button_and_only_the_post_acknowledges() {
    let w = World::new(0).await;
    let alert = w.alert("cpu-hot").await;
    let page = w.page(1).await;
    let link = page.json()["ack_url"].as_str().unwrap().to_string();
    let http = common::client();
    // A mail scanner fetches the link: nothing is acknowledged.
    let shown = http.get(&link).send().await.unwrap();
    assert_eq!(shown.status(), 200);
    let csp = shown.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = shown.text().await.unwrap();
    assert!(html.contains("<form method=\"post\">"), "{html}");
    assert!(html.contains("Acknowledge as alice"), "{html}");
    assert_eq!(
        w.escalations(&format!("alert={alert}")).await[0]["status"],
        "active"
    );
    // alice presses the button.
    let done = http.post(&link).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let e = &w.escalations(&format!("alert={alert}")).await[0];
    assert_eq!(e["status"], "acknowledged");
    assert_eq!(e["acknowledged_by"], "alice");
    let a = w.s.get(&format!("/api/v1/alerts/{alert}")).await;
    assert_eq!(a.expect(200)["status"], "acknowledged");
    w.minutes_pass(10);
    w.rx.expect_no_more(1, QUIET).await;
    // Opened again, the link says who acknowledged, with no button.
    let again = http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("already acknowledged by alice"), "{again}");
    assert!(!again.contains("<form"), "{again}");
    // A forged link is refused with a page that says what to do.
    let forged = http
        .post(format!("{}x", &link[..link.len() - 1]))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("firebreak incident ack")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_link_for_a_resolved_alert_says_so_and_changes_nothing() {
    let w = World::new(0).await;
    let http = common::client();
    let other = w.alert("disk-full").await;
    let link2 = w.page(1).await.json()["ack_url"]
        .as_str()
        .unwrap()
        .to_string();
    w.s.post(&format!("/api/v1/alerts/{other}/resolve"), json!({}))
        .await
        .expect(200);
    let shown = http.get(&link2).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("already resolved"), "{shown}");
    assert!(!shown.contains("<form"), "{shown}");
    let late = http
        .post(&link2)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        late.contains("was resolved before this acknowledgement"),
        "{late}"
    );
    let e = &w.escalations(&format!("alert={other}")).await[0];
    assert_eq!(e["status"], "resolved");
    assert!(e["acknowledged_by"].is_null(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_target_or_query_says_what_to_send() {
    let w = World::new(0).await;
    for (target, says) in [
        (json!({"user": "bob", "schedule": "primary"}), "exactly one"),
        (json!({"team": "db"}), "exactly one"),
        (json!("bob"), "exactly one"),
        (json!({"user": "Not A Handle"}), "`user`"),
    ] {
        let refused = w
            .admin(
                Method::POST,
                "/api/v1/escalation-policies",
                json!({"name": "wrong", "steps": [{"delay": "5m", "targets": [{"user": "alice"}, target]}]}),
            )
            .await;
        let problem = refused.expect_problem(422).to_string();
        assert!(
            problem.contains("targets") && problem.contains("target 1") && problem.contains(says),
            "{problem}"
        );
        assert!(!problem.contains("untagged"), "{problem}");
    }
    let refused = w.s.get("/api/v1/escalations?alert=abc").await;
    let problem = refused.expect_problem(422).to_string();
    assert!(
        problem.contains("alert") && problem.contains("whole number"),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_methods_keep_secrets_and_answer_test_pages() {
    let mut w = World::new(0).await;
    // A chat webhook URL is shown masked after creation.
    let slack = w
        .admin(
            Method::POST,
            "/api/v1/users/alice/contact-methods",
            json!({"type": "mattermost", "target": format!("{}/hooks/XXXXXXXXXXXXsecret", w.rx.url)}),
        )
        .await
        .expect(201)
        .clone();
    assert!(!slack.to_string().contains("XXXXXXXXXXXX"), "{slack}");
    assert!(slack.get("secret").is_none());
    let listed =
        w.s.call(
            Method::GET,
            "/api/v1/users/alice/contact-methods",
            Some(&w.s.admin),
            None,
        )
        .await;
    let listed = listed.expect(200).to_string();
    assert!(
        !listed.contains("XXXXXXXXXXXX") && !listed.contains("whsec_"),
        "{listed}"
    );
    // The test page reports what the receiver answered.
    let id = slack["id"].as_str().unwrap();
    w.rx.then([Reply::Status(404)]);
    let test = format!("/api/v1/users/alice/contact-methods/{id}/test");
    let t = w.admin(Method::POST, &test, json!({})).await;
    let t = t.expect(200);
    assert_eq!(t["delivered"], false);
    assert_eq!(t["status"], 404);
    let ok = w.admin(Method::POST, &test, json!({})).await;
    assert_eq!(ok.expect(200)["delivered"], true);
    let sent = w.rx.wait_for(2, PROMPTLY).await;
    assert!(
        sent[1].json()["text"].as_str().unwrap().contains("Test"),
        "{:?}",
        sent[1].json()
    );
    // Slack means `200 ok`: a 200 with any other body is Slack refusing, in its words.
    let slack = w
        .admin(
            Method::POST,
            "/api/v1/users/alice/contact-methods",
            json!({"type": "slack", "target": format!("{}/services/T0/B0/XXXXXXXXXXXXslack", w.rx.url)}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = w
        .admin(
            Method::POST,
            &format!("/api/v1/users/alice/contact-methods/{slack}/test"),
            json!({}),
        )
        .await;
    let t = t.expect(200);
    assert_eq!(t["delivered"], false, "{t}");
    assert!(
        t["detail"].as_str().unwrap().contains("Slack answered 200"),
        "{t}"
    );
    // A private address that outbound.allow does not list is refused when added.
    let refused = w
        .admin(
            Method::POST,
            "/api/v1/users/alice/contact-methods",
            json!({"type": "webhook", "target": "http://10.1.2.3/hook"}),
        )
        .await;
    refused.expect_problem(422);
    // Another user's token may not manage alice's contact methods.
    let other =
        w.s.call(
            Method::GET,
            "/api/v1/users/alice/contact-methods",
            Some(&w.s.responder),
            None,
        )
        .await;
    other.expect_problem(403);
    // Removing one.
    let hook = w.webhook("alice").await;
    let gone =
        w.s.call(
            Method::DELETE,
            &format!(
                "/api/v1/users/alice/contact-methods/{}",
                hook["id"].as_str().unwrap()
            ),
            Some(&w.s.admin),
            None,
        )
        .await;
    assert_eq!(gone.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declaring_pages_as_the_severity_says_unless_told_otherwise() {
    let w = World::new(0).await;
    // SEV3 does not page, and needs no Incident Commander: nobody is named, so it waits for
    // someone to take it on (as the README says)...
    let sev3 =
        w.s.post(
            "/api/v1/incidents",
            json!({"title": "Slow admin page", "severity": "SEV3", "services": ["checkout"]}),
        )
        .await
        .expect(201)
        .clone();
    w.rx.expect_no_more(0, QUIET).await;
    assert!(sev3["acknowledged_at"].is_null(), "{sev3}");
    assert!(sev3["roles"].as_object().unwrap().is_empty(), "{sev3}");
    let sev3_id = sev3["id"].as_str().unwrap().to_string();
    w.s.clock.advance(SignedDuration::from_secs(60));
    let taken =
        w.s.post(&format!("/api/v1/incidents/{sev3_id}/ack"), json!({}))
            .await;
    assert_eq!(
        taken.expect(200)["acknowledged_at"],
        "2026-11-23T03:01:00Z",
        "{}",
        taken.body
    );
    // ...and `"page": false` keeps a SEV1 quiet: its declarer is its IC, which takes it on.
    let quiet =
        w.s.post(
            "/api/v1/incidents",
            json!({"title": "Known outage", "severity": "SEV1", "services": ["checkout"], "page": false}),
        )
        .await
        .expect(201)
        .clone();
    w.rx.expect_no_more(0, QUIET).await;
    assert_eq!(quiet["acknowledged_at"], "2026-11-23T03:01:00Z", "{quiet}");
    assert_eq!(
        quiet["roles"]["Incident Commander"],
        common::RESPONDER,
        "{quiet}"
    );
    // ...while `"page": true` pages a SEV3, and a drill says so.
    let drill =
        w.s.post(
            "/api/v1/incidents",
            json!({"title": "Game day", "severity": "SEV3", "services": ["checkout"],
                   "page": true, "drill": true}),
        )
        .await
        .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string();
    let page = w.page(1).await.json();
    assert_eq!(page["incident"]["id"], drill.as_str());
    assert_eq!(page["drill"], true);
    // Its link is the incident's page, where a person lands, not the JSON API.
    assert_eq!(
        page["incident"]["url"],
        format!("{}/incidents/{drill}", w.s.base),
        "{page}"
    );
    // Acknowledging the incident stops it and sets acknowledged_at.
    let acked =
        w.s.post(&format!("/api/v1/incidents/{drill}/ack"), json!({}))
            .await;
    assert!(acked.expect(200)["acknowledged_at"].is_string());
    w.minutes_pass(10);
    w.rx.expect_no_more(1, QUIET).await;
    // A SEV1 that pages is not acknowledged by being declared, whoever its IC is: the first
    // acknowledgement of its pages sets acknowledged_at, and only then is the checklist's
    // "page acknowledged and IC declared" ticked (when it has an IC).
    let sev1 =
        w.s.post(
            "/api/v1/incidents",
            json!({"title": "Checkout down", "severity": "SEV1", "services": ["checkout"]}),
        )
        .await
        .expect(201)
        .clone();
    assert!(sev1["acknowledged_at"].is_null(), "{sev1}");
    let id = sev1["id"].as_str().unwrap().to_string();
    w.page(2).await;
    let acked =
        w.s.post(&format!("/api/v1/incidents/{id}/ack"), json!({}))
            .await;
    assert!(acked.expect(200)["acknowledged_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_pages_go_through_a_real_smtp_server_with_the_ack_link() {
    let smtp = SmtpSink::start();
    let mut config = config();
    config.email.smtp_url = Some(smtp.url());
    config.email.from = Some("Firebreak <firebreak@example.com>".into());
    let s = spawn_with(config).await;
    let admin = |method: Method, path: String, body: Value| {
        let s = &s;
        async move { s.call(method, &path, Some(&s.admin), Some(body)).await }
    };
    // alice's mailbox is busy at first (451); bob's address does not exist (550).
    for (user, address) in [
        ("alice", "flaky-alice@example.com"),
        ("bob", "bounce-bob@example.com"),
    ] {
        admin(
            Method::POST,
            "/api/v1/users".into(),
            json!({"handle": user, "name": user}),
        )
        .await
        .expect(201);
        admin(
            Method::POST,
            format!("/api/v1/users/{user}/contact-methods"),
            json!({"type": "email", "target": address}),
        )
        .await
        .expect(201);
    }
    admin(
        Method::POST,
        "/api/v1/escalation-policies".into(),
        json!({"name": "ops", "steps": [{"delay": "5m", "targets": [{"user": "alice"}]},
                                        {"delay": "5m", "targets": [{"user": "bob"}]}]}),
    )
    .await
    .expect(201);
    let key = s.integration("checkout", "pagerduty").await;
    admin(
        Method::PATCH,
        "/api/v1/services/checkout".into(),
        json!({"escalation_policy": "ops", "runbook": "https://runbooks.example.com/checkout"}),
    )
    .await
    .expect(200);
    let sent = s
        .send_json(
            "/v2/enqueue",
            &json!({"routing_key": key, "event_action": "trigger", "dedup_key": "co-5xx",
                    "payload": {"summary": "Checkout 5xx above 5%", "source": "web-1",
                                "severity": "critical"}}),
        )
        .await;
    assert_eq!(sent.status, 202);
    let alert = s.alerts("status=open").await[0]["id"].as_i64().unwrap();
    // The first try meets 451 and nothing is accepted; after the retry delay it goes through.
    tokio::time::sleep(QUIET).await;
    assert!(smtp.messages().is_empty());
    s.clock.advance(SignedDuration::from_secs(3));
    let mail = smtp.wait_for(1, PROMPTLY).await.remove(0);
    assert!(mail.starts_with("To: flaky-alice@example.com\n"), "{mail}");
    let subject = mail
        .lines()
        .find(|l| l.starts_with("Subject: "))
        .unwrap_or_else(|| panic!("no subject: {mail}"));
    assert!(
        subject.contains("critical"),
        "the subject names the severity: {subject}"
    );
    assert!(
        subject.contains(&alert.to_string()),
        "the subject names the alert: {subject}"
    );
    assert!(
        subject.contains("Checkout 5xx"),
        "the subject names the title: {subject}"
    );
    let unfolded = mail.replace("=\r\n", "").replace("=\n", "");
    assert!(
        unfolded.contains(&format!("{}/ack/", s.base)),
        "the ack link: {mail}"
    );
    assert!(
        unfolded.contains("https://runbooks.example.com/checkout"),
        "the runbook: {mail}"
    );
    // (Recorded as delivered before the clock moves on, so no lease is left to run out.)
    let deadline = std::time::Instant::now() + PROMPTLY;
    while s
        .get(&format!("/api/v1/escalations?alert={alert}"))
        .await
        .expect(200)["items"][0]["notifications"][0]["status"]
        != "delivered"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "alice's page was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Five minutes later bob's address is refused for good: no retry, and it shows.
    s.clock.advance(SignedDuration::from_mins(5));
    let deadline = std::time::Instant::now() + PROMPTLY;
    let bob = loop {
        let list = s
            .get(&format!("/api/v1/escalations?alert={alert}"))
            .await
            .expect(200)["items"][0]["notifications"]
            .clone();
        if let Some(n) = list
            .as_array()
            .and_then(|n| n.iter().find(|n| n["user"] == "bob"))
            && n["status"] == "failed"
        {
            break n.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bob's page never failed: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(bob["attempts"], 1);
    assert!(bob["last_error"].as_str().unwrap().contains("550"), "{bob}");
    s.clock.advance(SignedDuration::from_mins(1));
    tokio::time::sleep(QUIET).await;
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_comms_lead_is_reminded_once_per_cadence_and_firebreak_ticks_what_it_knows() {
    let w = World::new(0).await;
    // SEV2 expects an update every 2 hours; alice is Comms Lead.
    let incident =
        w.s.post(
            "/api/v1/incidents",
            json!({"title": "Search degraded", "severity": "SEV2", "services": ["checkout"],
                   "page": false}),
        )
        .await
        .expect(201)
        .clone();
    let id = incident["id"].as_str().unwrap().to_string();
    let ticked = incident["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["text"] == "severity assigned")
        .cloned()
        .unwrap_or_else(|| panic!("a SEV2 has the first-15-minutes checklist: {incident}"));
    assert_eq!(ticked["done"], true, "{ticked}");
    assert_eq!(ticked["done_by"], "firebreak", "{ticked}");
    w.s.put(
        &format!("/api/v1/incidents/{id}/roles/comms-lead"),
        json!({"user": "alice"}),
    )
    .await
    .expect(200);
    // 119 minutes of silence: no reminder yet.
    w.minutes_pass(119);
    w.rx.expect_no_more(0, QUIET).await;
    // The 120th minute: alice is reminded, once.
    w.minutes_pass(1);
    let reminder = w.page(1).await.json();
    assert_eq!(reminder["type"], "reminder");
    assert_eq!(reminder["user"], "alice");
    assert_eq!(reminder["incident"]["id"], id.as_str());
    w.minutes_pass(30);
    w.rx.expect_no_more(1, QUIET).await;
    // A note at 150 minutes restarts the cadence: nothing at 240, a reminder at 270.
    w.s.post(
        &format!("/api/v1/incidents/{id}/notes"),
        json!({"body": "Reindexing, 40% done"}),
    )
    .await
    .expect(201);
    w.minutes_pass(90);
    w.rx.expect_no_more(1, QUIET).await;
    w.minutes_pass(30);
    assert_eq!(w.page(2).await.json()["type"], "reminder");
    let reminders = w
        .timeline_kinds(&id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "update_reminder")
        .count();
    assert_eq!(reminders, 2);
    // Resolved incidents are not chased.
    w.s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"status": "resolved"}),
    )
    .await
    .expect(200);
    w.minutes_pass(600);
    w.rx.expect_no_more(2, QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_feeds_show_the_shifts_behind_a_secret_url() {
    let w = World::new(0).await;
    w.admin(
        Method::POST,
        "/api/v1/schedules",
        json!({"name": "primary", "time_zone": "Europe/Berlin",
               "layers": [{"name": "week", "members": ["alice", "bob"],
                           "rotation": {"every": "1w", "start": "2026-11-16T09:00"}}]}),
    )
    .await
    .expect(201);
    let url = w.s.get("/api/v1/schedules/primary/feed").await.expect(200)["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with(&format!("{}/ical/", w.s.base)), "{url}");
    let http = common::client();
    let got = http.get(&url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(
        got.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = got.text().await.unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    // The clock says 2026-11-23T03:00Z: alice's week began 2026-11-16 09:00 Berlin (08:00Z).
    assert!(ics.contains("DTSTART:20261116T080000Z"), "{ics}");
    assert!(ics.contains("SUMMARY:On call: alice (primary)"), "{ics}");
    assert!(ics.contains("SUMMARY:On call: bob (primary)"), "{ics}");
    // bob's own feed holds only his shifts; alice's token may not have it.
    let bobs =
        w.s.call(
            Method::GET,
            "/api/v1/users/bob/feed",
            Some(&w.s.admin),
            None,
        )
        .await;
    let bobs = bobs.expect(200)["url"].as_str().unwrap().to_string();
    let ics = http.get(&bobs).send().await.unwrap().text().await.unwrap();
    assert!(
        ics.contains("On call: bob") && !ics.contains("On call: alice ("),
        "{ics}"
    );
    w.s.get("/api/v1/users/bob/feed").await.expect_problem(403);
    // A drill schedule that hands off every ten minutes has too many shifts for three months:
    // its feed shows a shorter window, and bob's own feed still opens, with both schedules.
    w.user("carol").await;
    w.admin(
        Method::POST,
        "/api/v1/schedules",
        json!({"name": "drill", "time_zone": "UTC",
               "layers": [{"name": "fast", "members": ["carol", "bob"],
                           "rotation": {"every": "10m", "start": "2026-11-01T00:00"}}]}),
    )
    .await
    .expect(201);
    let drill = w.s.get("/api/v1/schedules/drill/feed").await.expect(200)["url"]
        .as_str()
        .unwrap()
        .to_string();
    let got = http.get(&drill).send().await.unwrap();
    assert_eq!(got.status(), 200);
    let ics = got.text().await.unwrap();
    assert!(ics.contains("SUMMARY:On call: carol (drill)"), "{ics}");
    let ics = http.get(&bobs).send().await.unwrap().text().await.unwrap();
    assert!(
        ics.contains("SUMMARY:On call: bob (drill)")
            && ics.contains("SUMMARY:On call: bob (primary)"),
        "{ics}"
    );
    // The first event, cut at the window's start, keeps its UID as time passes.
    let uids = |ics: &str| {
        ics.lines()
            .filter(|l| l.starts_with("UID:"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let before = uids(&http.get(&url).send().await.unwrap().text().await.unwrap());
    w.minutes_pass(5);
    let after = uids(&http.get(&url).send().await.unwrap().text().await.unwrap());
    assert_eq!(before.first(), after.first());
    // A changed token opens nothing.
    let forged = url.replace("/ical/", "/ical/x");
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pagerduty_acknowledge_stops_the_page_and_sev1_pages_the_manager_too() {
    let w = World::new(0).await;
    // The sender acknowledges its own alert: paging stops, and the timeline-less alert says who.
    let alert = w.alert("queue-depth").await;
    w.page(1).await;
    let acked = w
        .s
        .send_json(
            "/v2/enqueue",
            &json!({"routing_key": w.key, "event_action": "acknowledge", "dedup_key": "queue-depth"}),
        )
        .await;
    assert_eq!(acked.status, 202, "{}", acked.body);
    let e = &w.escalations(&format!("alert={alert}")).await[0];
    assert_eq!(e["status"], "acknowledged", "{e}");
    w.minutes_pass(10);
    w.rx.expect_no_more(1, QUIET).await;
    // bob manages checkout: a SEV1 pages on-call (alice) and bob directly.
    w.admin(
        Method::PATCH,
        "/api/v1/services/checkout",
        json!({"manager": "bob"}),
    )
    .await
    .expect(200);
    let incident =
        w.s.post(
            "/api/v1/incidents",
            json!({"title": "Everything is down", "severity": "SEV1", "services": ["checkout"]}),
        )
        .await
        .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string();
    let got = w.rx.wait_for(3, PROMPTLY).await;
    let mut users: Vec<String> = got[1..].iter().map(user_of).collect();
    users.sort();
    assert_eq!(users, ["alice", "bob"]);
    let policies: Vec<String> = w
        .escalations(&format!("incident={incident}"))
        .await
        .iter()
        .map(|e| e["policy"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(policies.len(), 2, "{policies:?}");
    assert!(policies.contains(&"ops".to_string()) && policies.contains(&"manager".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opsgenie_acknowledge_by_alias_stops_the_page() {
    let w = World::new(0).await;
    let genie = format!("GenieKey {}", w.key);
    let opened =
        w.s.send(
            "/v2/alerts",
            json!({"message": "Payments gateway times out", "alias": "payments/gateway",
                   "priority": "P1", "source": "api-1"})
            .to_string(),
            &[
                ("authorization", &genie),
                ("content-type", "application/json"),
            ],
        )
        .await;
    assert_eq!(opened.status, 202, "{}", opened.body);
    let page = w.page(1).await;
    assert_eq!(user_of(&page), "alice");
    let alert = page.json()["alert"]["id"]
        .as_i64()
        .expect("the page names its alert");
    let acked =
        w.s.send(
            "/v2/alerts/payments%2Fgateway/acknowledge?identifierType=alias",
            r#"{"user":"alice","note":"looking"}"#,
            &[
                ("authorization", &genie),
                ("content-type", "application/json"),
            ],
        )
        .await;
    assert_eq!(acked.status, 202, "{}", acked.body);
    let e = &w.escalations(&format!("alert={alert}")).await[0];
    assert_eq!(e["status"], "acknowledged", "{e}");
    // bob's step would have come after 5 minutes: it does not.
    w.minutes_pass(10);
    w.rx.expect_no_more(1, QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_commander_is_told_when_nobody_acknowledged() {
    let mut w = World::new(0).await;
    // riley declares, so riley is the IC, and can be reached by webhook.
    w.webhook(common::RESPONDER).await;
    let incident =
        w.s.post(
            "/api/v1/incidents",
            json!({"title": "Payments failing", "severity": "SEV2", "services": ["checkout"]}),
        )
        .await
        .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string();
    assert_eq!(user_of(&w.page(1).await), "alice");
    w.minutes_pass(5);
    assert_eq!(user_of(&w.page(2).await), "bob");
    w.minutes_pass(5);
    let told = w.page(3).await.json();
    assert_eq!(told["user"], common::RESPONDER);
    assert_eq!(told["type"], "reminder");
    let text = told["reminder"].as_str().unwrap_or_default();
    assert!(
        text.contains("Nobody acknowledged") && text.contains(&incident),
        "{told}"
    );
    let e = &w.escalations(&format!("incident={incident}")).await[0];
    assert_eq!(e["status"], "exhausted");
}

/// Declares a SEV2 on checkout as riley (who becomes its IC); returns its id.
async fn declare_sev2(w: &World, title: &str) -> String {
    w.s.post(
        "/api/v1/incidents",
        json!({"title": title, "severity": "SEV2", "services": ["checkout"]}),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// alice is paged for a declared SEV2 and an alert joins the incident. Acknowledging that
/// alert (through the API, or by its sender) is the incident's first acknowledgement: the
/// incident's escalation stops with it, the timeline says who acknowledged, bob is never
/// paged, and acknowledging the incident later keeps the first time.
async fn acking_an_alert_of_an_escalating_incident_stops_its_paging(w: World, by_sender: bool) {
    let incident = declare_sev2(&w, "Checkout slow").await;
    assert_eq!(user_of(&w.page(1).await), "alice");
    let alert = w.alert("pdj").await;
    let joined = w.s.get(&format!("/api/v1/alerts/{alert}")).await;
    assert_eq!(joined.expect(200)["incident"], incident.as_str());
    // The incident is already escalating: the alert pages nobody more.
    w.rx.expect_no_more(1, QUIET).await;
    w.s.clock.advance(SignedDuration::from_secs(30));
    if by_sender {
        let acked =
            w.s.send_json(
                "/v2/enqueue",
                &json!({"routing_key": w.key, "event_action": "acknowledge", "dedup_key": "pdj"}),
            )
            .await;
        assert_eq!(acked.status, 202, "{}", acked.body);
    } else {
        w.s.post(&format!("/api/v1/alerts/{alert}/ack"), json!({}))
            .await
            .expect(200);
    }
    let inc = w.s.get(&format!("/api/v1/incidents/{incident}")).await;
    let acknowledged_at = inc.expect(200)["acknowledged_at"].clone();
    assert!(acknowledged_at.is_string(), "{}", inc.body);
    let list = w.escalations(&format!("incident={incident}")).await;
    assert_eq!(list.len(), 1, "{list:#?}");
    assert_eq!(list[0]["status"], "acknowledged", "{list:#?}");
    assert!(list[0]["acknowledged_by"].is_string(), "{list:#?}");
    assert_eq!(list[0]["acknowledged_at"], acknowledged_at);
    let timeline = w.timeline_kinds(&incident).await;
    assert!(
        timeline.iter().any(|e| e["kind"] == "acknowledged"),
        "the timeline says who acknowledged: {timeline:#?}"
    );
    // Step 1 would have paged bob 5 minutes in: nobody more is paged.
    w.minutes_pass(10);
    w.rx.expect_no_more(1, QUIET).await;
    // Acknowledging the incident later changes nothing: the first acknowledgement stands.
    w.s.post(&format!("/api/v1/incidents/{incident}/ack"), json!({}))
        .await
        .expect(200);
    let again = w.s.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(again.expect(200)["acknowledged_at"], acknowledged_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acking_an_alert_of_an_escalating_incident_stops_its_paging_on_sqlite() {
    acking_an_alert_of_an_escalating_incident_stops_its_paging(World::new(0).await, false).await;
    acking_an_alert_of_an_escalating_incident_stops_its_paging(World::new(0).await, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acking_an_alert_of_an_escalating_incident_stops_its_paging_on_postgres() {
    let w = World::on_postgres("page_alert_ack_api", 0).await;
    acking_an_alert_of_an_escalating_incident_stops_its_paging(w, false).await;
    let w = World::on_postgres("page_alert_ack_pd", 0).await;
    acking_an_alert_of_an_escalating_incident_stops_its_paging(w, true).await;
}

/// alice is paged, then disabled: her ack link stops at once (opened or pressed, it says she
/// is disabled), acknowledges nothing, and the escalation goes on to bob.
async fn a_disabled_users_ack_link_no_longer_acknowledges(w: World) {
    let alert = w.alert("cpu-hot").await;
    let link = w.page(1).await.json()["ack_url"]
        .as_str()
        .unwrap()
        .to_string();
    w.admin(
        Method::PATCH,
        "/api/v1/users/alice",
        json!({"disabled": true}),
    )
    .await
    .expect(200);
    let http = common::client();
    let shown = http.get(&link).send().await.unwrap();
    assert_eq!(shown.status(), 403);
    let shown = shown.text().await.unwrap();
    assert!(shown.contains("alice, who is disabled"), "{shown}");
    assert!(!shown.contains("<form"), "{shown}");
    let pressed = http.post(&link).send().await.unwrap();
    assert_eq!(pressed.status(), 403);
    let pressed = pressed.text().await.unwrap();
    assert!(
        pressed.contains("alice, who is disabled")
            && pressed.contains(&format!("firebreak alert ack {alert}")),
        "{pressed}"
    );
    let e = &w.escalations(&format!("alert={alert}")).await[0];
    assert_eq!(e["status"], "active", "{e}");
    assert!(e["acknowledged_by"].is_null(), "{e}");
    let a = w.s.get(&format!("/api/v1/alerts/{alert}")).await;
    assert_eq!(a.expect(200)["status"], "open");
    // Nobody acknowledged: 5 minutes on, bob is paged.
    w.minutes_pass(5);
    assert_eq!(user_of(&w.page(2).await), "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_users_ack_link_no_longer_acknowledges_on_sqlite() {
    a_disabled_users_ack_link_no_longer_acknowledges(World::new(0).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_users_ack_link_no_longer_acknowledges_on_postgres() {
    a_disabled_users_ack_link_no_longer_acknowledges(
        World::on_postgres("page_disabled_link", 0).await,
    )
    .await;
}

/// `ops` pages alice (page number `first`), then bob, and runs out: when it ended.
async fn runs_out(w: &World, query: &str, first: usize) -> Value {
    assert_eq!(user_of(&w.page(first).await), "alice");
    w.minutes_pass(5);
    assert_eq!(user_of(&w.page(first + 1).await), "bob");
    w.minutes_pass(5);
    let ended = w
        .escalations_until(query, |l| {
            l.first().is_some_and(|e| e["status"] == "exhausted")
        })
        .await[0]["ended_at"]
        .clone();
    assert!(ended.is_string(), "{ended}");
    ended
}

/// An alert's escalation and an incident's run out of steps; resolving them afterwards
/// leaves both exhausted, with the time they ran out.
async fn a_resolve_leaves_an_exhausted_escalation_exhausted(w: World) {
    let alert = w.alert("disk-full").await;
    let ran_out = runs_out(&w, &format!("alert={alert}"), 1).await;
    w.minutes_pass(30);
    w.s.post(&format!("/api/v1/alerts/{alert}/resolve"), json!({}))
        .await
        .expect(200);
    let e = &w.escalations(&format!("alert={alert}")).await[0];
    assert_eq!(e["status"], "exhausted", "{e}");
    assert_eq!(e["ended_at"], ran_out, "{e}");

    let incident = declare_sev2(&w, "Checkout down").await;
    let query = format!("incident={incident}");
    let ran_out = runs_out(&w, &query, 3).await;
    w.minutes_pass(30);
    w.s.patch(
        &format!("/api/v1/incidents/{incident}"),
        json!({"status": "resolved"}),
    )
    .await
    .expect(200);
    let e = &w.escalations(&query).await[0];
    assert_eq!(e["status"], "exhausted", "{e}");
    assert_eq!(e["ended_at"], ran_out, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_leaves_an_exhausted_escalation_exhausted_on_sqlite() {
    a_resolve_leaves_an_exhausted_escalation_exhausted(World::new(0).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolve_leaves_an_exhausted_escalation_exhausted_on_postgres() {
    a_resolve_leaves_an_exhausted_escalation_exhausted(
        World::on_postgres("page_exhausted_resolve", 0).await,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comms_lead_who_cannot_be_reached_is_named_and_the_ic_is_reminded() {
    let mut w = World::new(0).await;
    // riley declares (so riley is the IC) and has a webhook; dave, the Comms Lead, has no
    // contact methods.
    w.webhook(common::RESPONDER).await;
    w.user("dave").await;
    let id =
        w.s.post(
            "/api/v1/incidents",
            json!({"title": "Search degraded", "severity": "SEV2", "services": ["checkout"],
                   "page": false}),
        )
        .await
        .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_string();
    w.s.put(
        &format!("/api/v1/incidents/{id}/roles/comms-lead"),
        json!({"user": "dave"}),
    )
    .await
    .expect(200);
    // Two hours of silence: dave cannot be reached, so riley is reminded.
    w.minutes_pass(120);
    let reminder = w.page(1).await.json();
    assert_eq!(reminder["type"], "reminder");
    assert_eq!(reminder["user"], common::RESPONDER);
    let timeline = w.timeline_kinds(&id).await;
    let entry = timeline
        .iter()
        .find(|e| e["kind"] == "update_reminder")
        .unwrap_or_else(|| panic!("the timeline shows the reminder: {timeline:#?}"));
    assert_eq!(entry["data"]["to"], json!([common::RESPONDER]), "{entry}");
    let unreached = entry["data"]["unreached"].to_string();
    assert!(
        unreached.contains("dave has no contact methods"),
        "the timeline says why dave was not reminded: {entry}"
    );
    w.minutes_pass(30);
    w.rx.expect_no_more(1, QUIET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_ack_link_for_an_alert_says_how_to_ack_the_alert() {
    let w = World::new(0).await;
    let alert = w.alert("cert-expiry").await;
    let link = w.page(1).await.json()["ack_url"]
        .as_str()
        .unwrap()
        .to_string();
    // A day and a bit later the link has expired (the escalation ran out meanwhile).
    w.minutes_pass(5);
    w.page(2).await;
    w.minutes_pass(25 * 60);
    let late = common::client().post(&link).send().await.unwrap();
    assert_eq!(late.status(), 410);
    let text = late.text().await.unwrap();
    assert!(
        text.contains(&format!("firebreak alert ack {alert}")) && !text.contains("incident ack"),
        "{text}"
    );
}
