//! Outgoing webhooks, end to end: the real server in-process with a manual clock, a real
//! receiver on loopback, and the delivery log read back through the API. Each test reads like
//! what a receiver would see: an event arrives signed, a failure is retried with the same
//! `webhook-id` when the clock says so and not before, a refusal is final, a receiver that fails
//! for a day gets its subscription disabled, and private addresses are refused.

mod common;
mod support_receiver;

use std::time::Duration;

use common::{TestServer, spawn_with};
use firebreak_domain::Config;
use firebreak_engine::Clock;
use firebreak_outbound::signing;
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::{Value, json};
use support_receiver::{Receiver, Reply};

/// How long a test waits (real time) for something that should happen at once.
const PROMPTLY: Duration = Duration::from_secs(5);
/// How long a test listens (real time) to be sure nothing more is sent.
const QUIET: Duration = Duration::from_millis(500);

fn config(first_delay: SignedDuration) -> Config {
    let mut config = Config::default();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.outbound.retry.first_delay = first_delay;
    config
}

struct Hook {
    id: String,
    secret: String,
}

async fn subscribe(s: &TestServer, url: &str, events: &[&str]) -> Hook {
    let a = s
        .call(
            Method::POST,
            "/api/v1/webhooks",
            Some(&s.admin),
            Some(json!({"url": url, "events": events})),
        )
        .await;
    let body = a.expect(201);
    let secret = body["secret"].as_str().expect("the secret is shown once");
    assert!(secret.starts_with("whsec_"), "{body}");
    Hook {
        id: body["id"].as_str().unwrap().to_string(),
        secret: secret.to_string(),
    }
}

/// The subscription's delivery log, newest first.
async fn deliveries(s: &TestServer, hook: &Hook) -> Vec<Value> {
    let a = s
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{}/deliveries", hook.id),
            Some(&s.admin),
            None,
        )
        .await;
    a.expect(200)["items"].as_array().unwrap().clone()
}

/// Turns a subscription back on.
async fn enable(s: &TestServer, id: &str) -> common::Answer {
    let path = format!("/api/v1/webhooks/{id}/enable");
    s.call(Method::POST, &path, Some(&s.admin), None).await
}

/// Asks for one of the subscription's deliveries to be sent again.
async fn redeliver(s: &TestServer, hook: &Hook, delivery: &Value) -> common::Answer {
    s.call(
        Method::POST,
        &format!(
            "/api/v1/webhooks/{}/deliveries/{delivery}/redeliver",
            hook.id
        ),
        Some(&s.admin),
        None,
    )
    .await
}

/// Reads the delivery log until `done` holds (attempts are recorded just after the receiver
/// answers), up to [`PROMPTLY`].
async fn log_until(
    s: &TestServer,
    hook: &Hook,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + PROMPTLY;
    loop {
        let log = deliveries(s, hook).await;
        if done(&log) {
            return log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the delivery log never showed {what}: {log:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The subscription as listed, once `done` holds for it (its health is saved just after each
/// attempt), up to [`PROMPTLY`].
async fn subscription_until(
    s: &TestServer,
    hook: &Hook,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + PROMPTLY;
    loop {
        let list = s
            .call(Method::GET, "/api/v1/webhooks", Some(&s.admin), None)
            .await;
        let w = list.expect(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == hook.id.as_str())
            .cloned()
            .expect("the subscription is listed");
        if done(&w) {
            return w;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the subscription never showed {what}: {w}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status_codes(delivery: &Value) -> Vec<Value> {
    delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect()
}

fn at(v: &Value) -> Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
        .parse()
        .unwrap()
}

#[track_caller]
fn assert_signed(hook: &Hook, r: &support_receiver::Received, now: Timestamp) {
    signing::verify(&[&hook.secret], &r.headers, &r.body, now.as_second())
        .unwrap_or_else(|e| panic!("the signature does not verify ({e}): {r:?}"));
    assert_eq!(
        r.headers["webhook-timestamp"].to_str().unwrap(),
        now.as_second().to_string()
    );
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.id.starts_with("msg_"), "{}", r.id);
}

/// Waits for the first event of `kind` the receiver got.
async fn event(receiver: &Receiver, kind: &str) -> support_receiver::Received {
    let came = receiver
        .wait_until(PROMPTLY, |got| got.iter().any(|r| r.kind() == kind))
        .await;
    assert!(came, "no {kind} arrived: {:?}", receiver.by_id());
    receiver
        .received()
        .into_iter()
        .find(|r| r.kind() == kind)
        .unwrap()
}

/// `object` without the fields an event does not look up.
fn without_lookups(mut object: Value) -> Value {
    for key in [
        "alerts",
        "suspect_deploys",
        "alerts_resolved",
        "postmortem_status",
    ] {
        object.as_object_mut().unwrap().remove(key);
    }
    object
}

#[tokio::test]
async fn every_event_arrives_signed_with_the_api_shapes() {
    let s = spawn_with(config(SignedDuration::from_secs(1))).await;
    let receiver = Receiver::start(Reply::OK).await;
    let hook = subscribe(
        &s,
        &receiver.url,
        &[
            "incident.declared",
            "incident.note_added",
            "alert.opened",
            "deployment.recorded",
        ],
    )
    .await;
    let now = s.clock.now();

    // A responder declares an incident.
    s.declare("Checkout is down", "SEV1").await;
    let got = receiver.wait_for(1, PROMPTLY).await;
    let declared = &got[0];
    assert_signed(&hook, declared, now);
    let body = declared.json();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["data", "timestamp", "type"]
    );
    assert_eq!(body["type"], "incident.declared");
    assert_eq!(body["timestamp"], "2026-11-23T03:00:00.000Z");
    assert_eq!(
        body["data"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["incident"]
    );
    let shown = s.get("/api/v1/incidents/INC-1").await.expect(200).clone();
    assert_eq!(
        without_lookups(body["data"]["incident"].clone()),
        without_lookups(shown),
        "the event's incident is the API's incident"
    );
    // The signature covers the body: one changed byte and it no longer verifies.
    let mut tampered = declared.body.to_vec();
    tampered[10] ^= 1;
    assert!(
        signing::verify(
            &[&hook.secret],
            &declared.headers,
            &tampered,
            now.as_second()
        )
        .is_err()
    );

    // A note.
    let note = s
        .post(
            "/api/v1/incidents/INC-1/notes",
            json!({"body": "Rolled back 1.4.2"}),
        )
        .await
        .expect(201)
        .clone();
    let noted = event(&receiver, "incident.note_added").await;
    assert_signed(&hook, &noted, now);
    let body = noted.json();
    assert_eq!(
        body["data"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["incident", "note"]
    );
    assert_eq!(body["data"]["note"], note);
    assert_eq!(body["data"]["note"]["data"]["body"], "Rolled back 1.4.2");
    assert_eq!(body["data"]["incident"]["id"], "INC-1");

    // An alert through a generic integration.
    let key = s.integration("checkout", "monitoring").await;
    let sent = s
        .send_json(
            &format!("/api/v1/ingest/generic/{key}"),
            &json!({"summary": "5xx above 2%", "dedup_key": "checkout-5xx"}),
        )
        .await;
    assert!(sent.status.is_success(), "{}", sent.body);
    let opened = event(&receiver, "alert.opened").await;
    assert_signed(&hook, &opened, now);
    let body = opened.json();
    let alert = &body["data"]["alert"];
    assert_eq!(alert["dedup_key"], "checkout-5xx");
    assert_eq!(alert["summary"], "5xx above 2%");
    assert_eq!(alert["status"], "open");
    let shown = s
        .get(&format!("/api/v1/alerts/{}", alert["id"]))
        .await
        .expect(200)
        .clone();
    assert_eq!(*alert, shown, "the event's alert is the API's alert");

    // A deploy.
    let deploy = s
        .post(
            "/api/v1/deployments",
            json!({"service": "checkout", "version": "1.4.3", "commit": "9f1c2e7"}),
        )
        .await
        .expect(201)
        .clone();
    let recorded = event(&receiver, "deployment.recorded").await;
    assert_signed(&hook, &recorded, now);
    let body = recorded.json();
    assert_eq!(body["data"]["deployment"], deploy);

    // Four events, four ids, each delivered at the first attempt.
    let ids = receiver.by_id();
    assert_eq!(ids.len(), 4, "{ids:?}");
    let log = log_until(&s, &hook, "four deliveries delivered", |log| {
        log.len() == 4 && log.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    for d in &log {
        assert_eq!(status_codes(d), [json!(200)], "{d}");
        assert!(ids.contains_key(d["event_id"].as_str().unwrap()), "{d}");
    }
    receiver.expect_no_more(4, QUIET).await;
}

#[tokio::test]
async fn a_receiver_that_fails_once_gets_the_event_again_with_the_same_id() {
    let s = spawn_with(config(SignedDuration::from_secs(1))).await;
    let receiver = Receiver::start(Reply::OK).await;
    receiver.then([Reply::Status(500)]);
    let hook = subscribe(&s, &receiver.url, &["incident.declared"]).await;

    s.declare("Payments failing", "SEV2").await;
    receiver.wait_for(1, PROMPTLY).await;
    log_until(&s, &hook, "the 500 recorded", |log| {
        log.len() == 1 && log[0]["status"] == "pending" && status_codes(&log[0]) == [json!(500)]
    })
    .await;

    // The retry is due within the first delay (1 s, with jitter); the clock gets there.
    s.clock.advance(SignedDuration::from_secs(1));
    let got = receiver.wait_for(2, PROMPTLY).await;
    assert_eq!(got[0].id, got[1].id, "a retry carries the same webhook-id");
    assert_eq!(got[0].body, got[1].body, "a retry sends the same bytes");
    assert_signed(&hook, &got[1], s.clock.now());

    let log = log_until(&s, &hook, "delivered", |log| {
        log[0]["status"] == "delivered"
    })
    .await;
    assert_eq!(log.len(), 1);
    assert_eq!(status_codes(&log[0]), [json!(500), json!(200)]);
    assert_eq!(log[0]["event_id"], got[0].id.as_str());
    assert!(
        log[0]["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{}",
        log[0]
    );
    receiver.expect_no_more(2, QUIET).await;
}

#[tokio::test]
async fn a_gone_receiver_is_not_retried_until_a_person_redelivers() {
    let s = spawn_with(config(SignedDuration::from_secs(1))).await;
    let receiver = Receiver::start(Reply::Status(410)).await;
    let hook = subscribe(&s, &receiver.url, &["incident.declared"]).await;

    s.declare("Search is slow", "SEV3").await;
    let first = receiver.wait_for(1, PROMPTLY).await[0].clone();
    let log = log_until(&s, &hook, "the 410 recorded as failed", |log| {
        log.len() == 1 && log[0]["status"] == "failed"
    })
    .await;
    assert_eq!(status_codes(&log[0]), [json!(410)]);
    assert!(
        log[0]["last_error"].as_str().unwrap().contains("410"),
        "{}",
        log[0]
    );

    // An hour later nothing more was sent.
    s.clock.advance(SignedDuration::from_hours(1));
    receiver.expect_no_more(1, QUIET).await;
    assert_eq!(status_codes(&deliveries(&s, &hook).await[0]), [json!(410)]);

    // The receiver is fixed; a person sends the delivery again.
    receiver.answer(Reply::OK);
    let queued = redeliver(&s, &hook, &log[0]["id"]).await;
    let queued = queued.expect(202);
    assert_eq!(queued["status"], "pending");
    assert_eq!(queued["event_id"], first.id.as_str());
    assert_eq!(
        queued["attempts"].as_array().map(Vec::len),
        Some(1),
        "the answer keeps the earlier attempt: {queued}"
    );
    let again = receiver.wait_for(2, PROMPTLY).await[1].clone();
    assert_eq!(
        again.id, first.id,
        "a redelivery carries the same webhook-id"
    );
    assert_eq!(again.body, first.body);
    assert_signed(&hook, &again, s.clock.now());
    let log = log_until(&s, &hook, "the redelivery delivered", |log| {
        log[0]["status"] == "delivered"
    })
    .await;
    assert_eq!(status_codes(&log[0]), [json!(410), json!(200)]);
    receiver.expect_no_more(2, QUIET).await;
}

#[tokio::test]
async fn retry_after_on_a_429_is_honoured_to_the_second() {
    let s = spawn_with(config(SignedDuration::from_secs(1))).await;
    let receiver = Receiver::start(Reply::OK).await;
    receiver.then([Reply::TooMany { retry_after: 600 }]);
    let hook = subscribe(&s, &receiver.url, &["incident.declared"]).await;
    let t0 = s.clock.now();

    s.declare("Login errors", "SEV2").await;
    receiver.wait_for(1, PROMPTLY).await;
    let log = log_until(&s, &hook, "the 429 recorded", |log| {
        log.len() == 1 && log[0]["status"] == "pending" && status_codes(&log[0]) == [json!(429)]
    })
    .await;
    assert_eq!(
        at(&log[0]["due_at"]),
        t0 + SignedDuration::from_mins(10),
        "the retry is due exactly when the receiver asked"
    );

    s.clock.advance(SignedDuration::from_mins(9));
    receiver.expect_no_more(1, QUIET).await;
    s.clock.advance(SignedDuration::from_mins(1));
    let got = receiver.wait_for(2, PROMPTLY).await;
    assert_eq!(got[0].id, got[1].id);
    let log = log_until(&s, &hook, "delivered", |log| {
        log[0]["status"] == "delivered"
    })
    .await;
    assert_eq!(status_codes(&log[0]), [json!(429), json!(200)]);
    assert_eq!(
        at(&log[0]["attempts"][1]["at"]),
        t0 + SignedDuration::from_mins(10)
    );
}

#[tokio::test]
async fn a_retry_fires_when_it_is_due_and_not_before() {
    let mut config = config(SignedDuration::from_mins(10));
    config.outbound.retry.max_delay = SignedDuration::from_hours(1);
    let s = spawn_with(config).await;
    let receiver = Receiver::start(Reply::OK).await;
    receiver.then([Reply::Status(503)]);
    let hook = subscribe(&s, &receiver.url, &["incident.declared"]).await;
    let t0 = s.clock.now();

    s.declare("Queue backlog", "SEV3").await;
    receiver.wait_for(1, PROMPTLY).await;
    let log = log_until(&s, &hook, "the 503 recorded", |log| {
        log.len() == 1 && log[0]["status"] == "pending" && status_codes(&log[0]) == [json!(503)]
    })
    .await;
    // The first wait is the first delay with equal jitter: between half of it and all of it.
    let due = at(&log[0]["due_at"]);
    assert!(
        due >= t0 + SignedDuration::from_mins(5) && due <= t0 + SignedDuration::from_mins(10),
        "the retry is due at {due}, outside [t0 + 5 min, t0 + 10 min]"
    );

    // A millisecond before it is due: nothing.
    s.clock.set(due - SignedDuration::from_millis(1));
    receiver.expect_no_more(1, QUIET).await;
    // When it is due: the retry.
    s.clock.set(due);
    let got = receiver.wait_for(2, PROMPTLY).await;
    assert_eq!(got[0].id, got[1].id);
    let log = log_until(&s, &hook, "delivered", |log| {
        log[0]["status"] == "delivered"
    })
    .await;
    assert_eq!(status_codes(&log[0]), [json!(503), json!(200)]);
    assert_eq!(at(&log[0]["attempts"][1]["at"]), due);
    // The whole first delay has passed by then, so a clock moved by 10 minutes has sent it too.
    assert!(s.clock.now() <= t0 + SignedDuration::from_mins(10));
}

#[tokio::test]
async fn the_wait_before_a_retry_starts_when_a_slow_attempt_ends() {
    let s = spawn_with(config(SignedDuration::from_secs(10))).await;
    let receiver = Receiver::start(Reply::OK).await;
    receiver.then([Reply::Slow(Duration::from_millis(500), 503)]);
    let hook = subscribe(&s, &receiver.url, &["incident.declared"]).await;
    let t0 = s.clock.now();

    s.declare("Slow receiver", "SEV3").await;
    receiver.wait_for(1, PROMPTLY).await;
    // 20 seconds pass while the receiver holds the request (less than the 30-second lease, so
    // the message stays with this attempt), as they would for a try that times out.
    s.clock.advance(SignedDuration::from_secs(20));
    let log = log_until(&s, &hook, "the 503 recorded", |log| {
        log.len() == 1 && log[0]["status"] == "pending" && status_codes(&log[0]) == [json!(503)]
    })
    .await;
    // The first wait is 5 to 10 seconds: counted from the attempt's end, not its start.
    let due = at(&log[0]["due_at"]);
    assert!(
        due >= t0 + SignedDuration::from_secs(25),
        "the retry waits after the attempt's end, not from its start: due at {due}"
    );
    receiver.expect_no_more(1, QUIET).await;
    s.clock.set(due);
    receiver.wait_for(2, PROMPTLY).await;
}

#[tokio::test]
async fn a_message_past_its_deadline_is_dead() {
    let mut config = config(SignedDuration::from_mins(1));
    config.outbound.retry.max_delay = SignedDuration::from_mins(5);
    config.outbound.retry.give_up_after = SignedDuration::from_mins(30);
    let s = spawn_with(config).await;
    let receiver = Receiver::start(Reply::Status(503)).await;
    let hook = subscribe(&s, &receiver.url, &["incident.declared"]).await;
    let t0 = s.clock.now();

    s.declare("Disk filling", "SEV3").await;
    receiver.wait_for(1, PROMPTLY).await;
    let mut log = log_until(&s, &hook, "the first attempt", |log| {
        log.len() == 1 && status_codes(&log[0]).len() == 1 && log[0]["status"] != "sending"
    })
    .await;
    assert_eq!(
        at(&log[0]["deadline_at"]),
        t0 + SignedDuration::from_mins(30)
    );
    // Every wait is at most 5 minutes, so moving the clock 5 minutes at a time sends each retry.
    let mut steps = 0;
    while log[0]["status"] != "dead" {
        steps += 1;
        assert!(steps <= 20, "still not dead after {steps} steps: {log:#?}");
        let before = status_codes(&log[0]).len();
        s.clock.advance(SignedDuration::from_mins(5));
        log = log_until(&s, &hook, "the next attempt", |log| {
            status_codes(&log[0]).len() > before && log[0]["status"] != "sending"
        })
        .await;
    }
    let d = &log[0];
    let attempts = d["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 4, "{d}");
    assert!(attempts.iter().all(|a| a["status_code"] == 503), "{d}");
    assert!(
        attempts
            .iter()
            .all(|a| at(&a["at"]) <= t0 + SignedDuration::from_mins(30)),
        "no attempt after the deadline: {d}"
    );
    assert!(d["finished_at"].is_string(), "{d}");
    assert!(
        d["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("gave up")),
        "a dead delivery says it was given up: {d}"
    );
    assert_eq!(receiver.count(), attempts.len());
    let ids = receiver.by_id();
    assert_eq!(
        ids.len(),
        1,
        "every attempt carried one webhook-id: {ids:?}"
    );

    // Dead is final.
    s.clock.advance(SignedDuration::from_hours(1));
    receiver.expect_no_more(attempts.len(), QUIET).await;
}

#[tokio::test]
async fn a_subscription_failing_for_a_day_is_disabled() {
    // The default retry policy: every delivery gives up after 24 hours.
    let mut config = Config::default();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    let s = spawn_with(config).await;
    let receiver = Receiver::start(Reply::Status(500)).await;
    let hook = subscribe(&s, &receiver.url, &["incident.declared"]).await;
    let t0 = s.clock.now();
    s.declare("Everything is on fire", "SEV1").await;
    receiver.wait_for(1, PROMPTLY).await;
    log_until(&s, &hook, "the first failure", |log| {
        status_codes(&log[0]) == [json!(500)]
    })
    .await;
    let w = subscription_until(&s, &hook, "failing", |w| !w["failing_since"].is_null()).await;
    assert_eq!(at(&w["failing_since"]), t0, "{w}");
    assert!(w["disabled_at"].is_null(), "{w}");

    // 23 hours of failing: still enabled.
    s.clock.advance(SignedDuration::from_hours(23));
    receiver.wait_for(2, PROMPTLY).await;
    log_until(&s, &hook, "the second failure", |log| {
        status_codes(&log[0]).len() == 2 && log[0]["status"] == "pending"
    })
    .await;
    let w = subscription_until(&s, &hook, "still failing", |w| {
        !w["failing_since"].is_null()
    })
    .await;
    assert!(w["disabled_at"].is_null(), "{w}");

    // Past 24 hours: the last retry fails, the delivery is dead, the subscription disabled.
    s.clock.advance(SignedDuration::from_mins(61));
    receiver.wait_for(3, PROMPTLY).await;
    log_until(&s, &hook, "the delivery dead", |log| {
        log[0]["status"] == "dead"
    })
    .await;
    let w = subscription_until(&s, &hook, "disabled", |w| !w["disabled_at"].is_null()).await;
    assert_eq!(at(&w["disabled_at"]), s.clock.now(), "{w}");
    assert!(
        w["disabled_reason"].as_str().unwrap().contains("24 hours"),
        "{w}"
    );
    let audit = s
        .call(Method::GET, "/api/v1/audit", Some(&s.admin), None)
        .await;
    let audit = audit.expect(200)["items"].as_array().unwrap().clone();
    let disable = audit
        .iter()
        .find(|e| e["action"] == "webhook.disable")
        .unwrap_or_else(|| panic!("no webhook.disable in the audit log: {audit:#?}"));
    assert_eq!(disable["target"], format!("webhook/{}", hook.id));
    assert_eq!(disable["actor"], "firebreak");

    // A disabled subscription gets nothing more, and cannot be redelivered to.
    s.declare("Still on fire", "SEV1").await;
    receiver.expect_no_more(3, QUIET).await;
    let log = deliveries(&s, &hook).await;
    assert_eq!(
        log.len(),
        1,
        "no delivery was queued for a disabled subscription"
    );
    redeliver(&s, &hook, &log[0]["id"])
        .await
        .expect_problem(409);

    // The receiver is fixed and an admin turns the subscription back on: the state clears,
    // the audit log says who, new events arrive, and the dead delivery can be sent again.
    receiver.answer(Reply::Status(200));
    let w = enable(&s, &hook.id).await.expect(200).clone();
    assert!(w["disabled_at"].is_null(), "{w}");
    assert!(w["disabled_reason"].is_null(), "{w}");
    assert!(w["failing_since"].is_null(), "{w}");
    assert!(
        w.get("secret").is_none(),
        "the secret is never shown again: {w}"
    );
    let audit = s
        .call(Method::GET, "/api/v1/audit", Some(&s.admin), None)
        .await;
    let audit = audit.expect(200)["items"].as_array().unwrap().clone();
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "webhook.enable"
                && e["target"] == format!("webhook/{}", hook.id)),
        "no webhook.enable in the audit log: {audit:#?}"
    );
    s.declare("Fire, once more", "SEV1").await;
    receiver.wait_for(4, PROMPTLY).await;
    assert_eq!(receiver.received()[3].kind(), "incident.declared");
    redeliver(&s, &hook, &log[0]["id"]).await.expect(202);
    receiver.wait_for(5, PROMPTLY).await;
    assert_eq!(
        receiver.received()[4].id,
        receiver.received()[0].id,
        "a redelivery keeps its webhook-id"
    );
    // Enabling again changes nothing; an unknown id is a 404 that says where to look.
    enable(&s, &hook.id).await.expect(200);
    let problem = enable(&s, "wh_missing").await.expect_problem(404).clone();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("firebreak webhook list"),
        "{problem}"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_without_the_allow_list() {
    assert!(
        std::env::var_os("FIREBREAK_OUTBOUND_ALLOW").is_none(),
        "this test needs FIREBREAK_OUTBOUND_ALLOW unset: it checks what is refused without it"
    );
    let s = spawn_with(Config::default()).await;
    for url in [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
    ] {
        let a = s
            .call(
                Method::POST,
                "/api/v1/webhooks",
                Some(&s.admin),
                Some(json!({"url": url, "events": ["incident.declared"]})),
            )
            .await;
        let body = a.expect_problem(422);
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body}");
        assert!(
            body["detail"].as_str().unwrap().starts_with("url: "),
            "{url}: {body}"
        );
    }
    let listed = s
        .call(Method::GET, "/api/v1/webhooks", Some(&s.admin), None)
        .await;
    assert_eq!(listed.expect(200)["items"], json!([]));

    // A host name is judged when it is resolved, at delivery: localhost is loopback.
    let receiver = Receiver::start(Reply::OK).await;
    let hook = subscribe(
        &s,
        &format!("http://localhost:{}/hook?token=s3cret", receiver.port),
        &["incident.declared"],
    )
    .await;
    s.declare("Cache misses", "SEV3").await;
    let log = log_until(&s, &hook, "the refusal", |log| {
        log.len() == 1 && log[0]["status"] == "failed"
    })
    .await;
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{}", log[0]);
    assert!(attempts[0]["status_code"].is_null(), "{}", log[0]);
    let error = attempts[0]["error"].as_str().unwrap();
    assert!(
        error.contains("localhost") && error.contains("loopback"),
        "the refusal names the host and why: {error}"
    );
    assert!(!error.contains("s3cret"), "the URL's token leaked: {error}");
    receiver.expect_no_more(0, QUIET).await;
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let s = spawn_with(config(SignedDuration::from_secs(1))).await;
    let elsewhere = Receiver::start(Reply::OK).await;
    let receiver = Receiver::start(Reply::Redirect(elsewhere.url.clone())).await;
    let hook = subscribe(&s, &receiver.url, &["incident.declared"]).await;

    s.declare("DNS flapping", "SEV2").await;
    receiver.wait_for(1, PROMPTLY).await;
    let log = log_until(&s, &hook, "the redirect recorded", |log| {
        log.len() == 1 && log[0]["status"] == "failed"
    })
    .await;
    assert_eq!(status_codes(&log[0]), [json!(302)]);
    assert!(
        log[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed"),
        "{}",
        log[0]
    );
    s.clock.advance(SignedDuration::from_hours(1));
    receiver.expect_no_more(1, QUIET).await;
    elsewhere.expect_no_more(0, Duration::ZERO).await;
}

#[tokio::test]
async fn outbox_stats_show_the_backlog_while_a_receiver_hangs() {
    let s = spawn_with(config(SignedDuration::from_secs(1))).await;
    let receiver = Receiver::start(Reply::Hold).await;
    subscribe(&s, &receiver.url, &["incident.declared"]).await;
    // One subscription gets at most this share of the sending places.
    let in_flight = firebreak_engine::events::PER_SUBSCRIPTION;
    // The worker holds this many under its lease (claimed, sending or waiting for a slot).
    let held = firebreak_engine::delivery::HELD;
    let waiting = 6;
    let started = std::time::Instant::now();

    // Every sending slot hangs on the receiver, the worker holds as many as it may, and the
    // rest wait in the outbox.
    s.declare_many(held + waiting).await;
    receiver.wait_for(in_flight, PROMPTLY).await;
    // Less than a lease (30 s): the messages being sent are held, not overdue.
    s.clock.advance(SignedDuration::from_secs(20));
    // The worker claims in batches at least 5 ms apart, and the last commits may land after a
    // claim: give it a moment to hold all it may.
    let mut stats = Value::Null;
    for _ in 0..60 {
        stats = s
            .call(Method::GET, "/api/v1/outbox/stats", Some(&s.admin), None)
            .await
            .expect(200)
            .clone();
        if stats["kinds"][0]["overdue"] == json!(waiting) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The outbound client gives up on a hanging receiver after 10 s; all of this is quicker.
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "too slow to see the backlog before the sends time out: {:?}",
        started.elapsed()
    );
    assert_eq!(
        stats,
        json!({"kinds": [{
            "kind": "webhook",
            "depth": held + waiting,
            "overdue": waiting,
            "oldest_due_age_seconds": 20,
        }]}),
    );
    // Past the lease, the held messages count as overdue too: a claimer that died holds them.
    s.clock.advance(SignedDuration::from_secs(20));
    let stats = s
        .call(Method::GET, "/api/v1/outbox/stats", Some(&s.admin), None)
        .await;
    assert_eq!(
        stats.expect(200)["kinds"][0]["overdue"],
        json!(held + waiting)
    );
}

/// One receiver hangs while hundreds of events wait for it. Another subscription's events
/// still arrive at once: a subscription sends on at most half the worker's places. Once the
/// hanging attempts time out, the rest of its backlog is rescheduled without being tried, and
/// the log says why.
#[tokio::test]
async fn a_hanging_receiver_holds_back_neither_other_subscriptions_nor_its_own_backlog() {
    let s = spawn_with(config(SignedDuration::from_secs(60))).await;
    let hanging = Receiver::start(Reply::Hold).await;
    let healthy = Receiver::start(Reply::OK).await;
    let stuck = subscribe(&s, &hanging.url, &["incident.declared"]).await;
    subscribe(&s, &healthy.url, &["incident.declared"]).await;
    let share = firebreak_engine::events::PER_SUBSCRIPTION;
    let events = 3 * firebreak_engine::delivery::IN_FLIGHT;
    let started = std::time::Instant::now();
    s.declare_many(events).await;
    healthy.wait_for(events, Duration::from_secs(8)).await;
    // The outbound client gives up on a hanging receiver after 10 s: the healthy receiver had
    // everything before any hanging attempt ended.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the healthy subscription waited behind the hanging one: {:?}",
        started.elapsed()
    );
    assert_eq!(
        hanging.count(),
        share,
        "one subscription sends on its share only"
    );

    // The hanging attempts time out after 10 s; the rest of that backlog is moved on untried.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = s
            .call(
                Method::GET,
                &format!("/api/v1/webhooks/{}/deliveries?limit=500", stuck.id),
                Some(&s.admin),
                None,
            )
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .clone();
        if log.len() == events && log.iter().all(|d| d["status"] == "pending") {
            break log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hanging subscription's backlog never moved on: {:#}",
            log[0]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let untried = log
        .iter()
        .filter(|d| {
            d["attempts"].as_array().is_some_and(|a| {
                a.iter().any(|a| {
                    a["error"]
                        .as_str()
                        .is_some_and(|e| e.starts_with("not sent: the receiver failed"))
                })
            })
        })
        .count();
    assert_eq!(untried, events - share, "{:#}", log[0]);
    assert_eq!(
        hanging.count(),
        share,
        "nothing more was tried while it rests"
    );
}

#[tokio::test]
async fn urls_take_any_scheme_case_and_idn_hosts_and_name_credentials_and_zone_ids() {
    let s = spawn_with(Config::default()).await;
    // Webhook subscriptions and contact methods check a URL alike.
    let places = [
        (
            "/api/v1/webhooks",
            "url",
            json!({"events": ["incident.declared"]}),
        ),
        (
            "/api/v1/users/riley/contact-methods",
            "target",
            json!({"type": "webhook"}),
        ),
    ];
    for (path, field, base) in &places {
        let post = |url: &str| {
            let mut body = base.clone();
            body[*field] = json!(url);
            s.call(Method::POST, path, Some(&s.admin), Some(body))
        };
        for (url, kept) in [
            ("HTTPS://hooks.example.com/x", "https://hooks.example.com/x"),
            ("Https://hooks.example.com/y", "https://hooks.example.com/y"),
            ("https://bücher.de/x", "https://xn--bcher-kva.de/x"),
            ("https://xn--bcher-kva.de/y", "https://xn--bcher-kva.de/y"),
        ] {
            let a = post(url).await;
            let created = a.expect(201);
            if *field == "url" {
                assert_eq!(created["url"], kept, "{url}: {created}");
            }
        }
        for (url, problem) in [
            ("https://user:pass@example.com/a", "user name or password"),
            ("https://user@example.com/a", "user name or password"),
            ("http://[fe80::1%25eth0]/", "zone id"),
        ] {
            let a = post(url).await;
            let body = a.expect_problem(422);
            assert_eq!(body["errors"][0]["field"], *field, "{url}: {body}");
            let said = body["errors"][0]["message"].as_str().unwrap();
            assert!(said.contains(problem), "{url}: {body}");
            assert!(
                !said.contains("example.com"),
                "the URL is not repeated: {body}"
            );
        }
    }
    let listed = s
        .call(Method::GET, "/api/v1/webhooks", Some(&s.admin), None)
        .await;
    assert_eq!(listed.expect(200)["items"].as_array().unwrap().len(), 4);
}
