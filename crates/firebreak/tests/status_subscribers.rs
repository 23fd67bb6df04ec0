//! Status page subscribers through the real server and a real SMTP server (aiosmtpd): the
//! form on the page, double opt-in, an update by email with RFC 8058's unsubscribe headers,
//! one-click unsubscribe and nothing after; the CSRF, honeypot and rate limit rules; and a
//! signed webhook subscriber.

mod common;
mod support_receiver;
mod support_smtp;

use std::time::Duration;

use firebreak_domain::Config;
use firebreak_domain::config::ComponentSpec;
use serde_json::json;
use support_receiver::{Receiver, Reply};
use support_smtp::SmtpSink;

const SOON: Duration = Duration::from_secs(10);

fn config(smtp: &SmtpSink) -> Config {
    let mut config = Config::default();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.email.smtp_url = Some(smtp.url());
    config.email.from = Some("Example Status <status@example.com>".into());
    config.services.push(common::service("checkout"));
    config.services.push(common::service("search"));
    config.status_page.title = "Example Status".into();
    config.status_page.time_zone = "Europe/Berlin".into();
    config.status_page.components = vec![
        ComponentSpec {
            name: "Checkout API".into(),
            description: None,
            group: None,
            services: vec![firebreak_domain::Name::parse("checkout").unwrap()],
        },
        ComponentSpec {
            name: "Search".into(),
            description: None,
            group: None,
            services: vec![firebreak_domain::Name::parse("search").unwrap()],
        },
    ];
    config
}

/// The message with quoted-printable soft line breaks undone.
fn unfolded(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The first link in `raw` that contains `part`, up to the next character a URL cannot hold.
fn link(raw: &str, part: &str) -> String {
    let text = unfolded(raw);
    let at = text
        .find(part)
        .unwrap_or_else(|| panic!("no {part} link in:\n{text}"));
    let start = text[..at].rfind("http").unwrap();
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<' | '>'))
        .collect()
}

async fn form(s: &common::TestServer, body: &str, origin: Option<&str>) -> reqwest::Response {
    let mut req = s
        .http
        .post(format!("{}/status/subscribe", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_confirm_receive_unsubscribe_and_nothing_after() {
    let smtp = SmtpSink::start();
    let s = common::spawn_with(config(&smtp)).await;
    let origin = s.base.clone();

    // The page offers the form.
    let page = s
        .http
        .get(format!("{}/status", s.base))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("action=\"/status/subscribe\""), "{html}");

    // Subscribing answers the same for a new address and for one already pending.
    let first = form(&s, "email=Ann%40Example.com&website=", Some(&origin)).await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    assert!(first.contains("Check your inbox"), "{first}");
    let confirm_mail = smtp.wait_for(1, SOON).await.remove(0);
    assert!(
        confirm_mail.contains("To: ann@example.com"),
        "{confirm_mail}"
    );
    assert!(
        confirm_mail.contains("Subject: Confirm your subscription to Example Status"),
        "{confirm_mail}"
    );
    assert!(
        confirm_mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{confirm_mail}"
    );
    // An unknown component is refused in a sentence.
    let unknown = form(&s, "email=bob%40example.com&components=Nope", Some(&origin)).await;
    assert_eq!(unknown.status(), 422);
    let unknown = unknown.text().await.unwrap();
    assert!(
        unknown.contains("There is no component `Nope` on this status page."),
        "{unknown}"
    );
    assert!(!unknown.contains("That there"), "{unknown}");
    let again = form(&s, "email=ann%40example.com", Some(&origin)).await;
    assert_eq!(
        again.text().await.unwrap(),
        first,
        "the same answer, so addresses cannot be probed"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().len(),
        1,
        "at most one confirmation per 10 minutes"
    );

    // Nothing goes to an unconfirmed address.
    s.declare("Checkout down", "SEV2").await;
    s.patch("/api/v1/incidents/INC-1", json!({"services": ["checkout"]}))
        .await
        .expect(200);
    s.post(
        "/api/v1/incidents/INC-1/status-updates",
        json!({"audience": "public", "body": "Checkout fails for some customers."}),
    )
    .await
    .expect(201);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        smtp.messages().len(),
        1,
        "unconfirmed addresses get nothing"
    );

    // Opening the link confirms nothing; the button does.
    let confirm = link(&confirm_mail, "/subscribe/confirm/");
    let shown = s
        .http
        .get(&confirm)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shown.contains("<form method=\"post\""), "{shown}");
    let listed = s
        .call(
            reqwest::Method::GET,
            "/api/v1/status-page/subscribers",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(listed.expect(200)["items"][0]["confirmed"], false);
    let done = s.http.post(&confirm).send().await.unwrap();
    assert!(done.text().await.unwrap().contains("You are subscribed"));
    let listed = s
        .call(
            reqwest::Method::GET,
            "/api/v1/status-page/subscribers",
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(listed.expect(200)["items"][0]["confirmed"], true);

    // The next public update arrives, with the unsubscribe headers.
    s.post(
        "/api/v1/incidents/INC-1/status-updates",
        json!({"audience": "public", "status": "identified", "body": "A database limit; raising it."}),
    )
    .await
    .expect(201);
    let update = smtp.wait_for(2, SOON).await.remove(1);
    assert!(update.contains("To: ann@example.com"), "{update}");
    assert!(update.contains("Identified"), "{update}");
    assert!(
        unfolded(&update).contains("A database limit; raising it."),
        "{update}"
    );
    assert!(update.contains("List-Unsubscribe: <http"), "{update}");
    // Times in the page's own time zone, as the page shows them (the clock is 03:00 UTC).
    let text = unfolded(&update);
    assert!(text.contains("2026-11-23 04:00 CET"), "{text}");
    assert!(!text.contains("UTC"), "{text}");
    assert!(
        update.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{update}"
    );
    // Internal updates never go to subscribers.
    s.post(
        "/api/v1/incidents/INC-1/status-updates",
        json!({"audience": "internal", "body": "secret internal detail"}),
    )
    .await
    .expect(201);

    // One click (RFC 8058: a POST with List-Unsubscribe=One-Click), then nothing more.
    let unsubscribe = link(&update, "/unsubscribe/");
    let gone = s
        .http
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 200);
    s.post(
        "/api/v1/incidents/INC-1/status-updates",
        json!({"audience": "public", "status": "monitoring", "body": "Fixed; watching."}),
    )
    .await
    .expect(201);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let all = smtp.messages();
    assert_eq!(all.len(), 2, "nothing after unsubscribing");
    assert!(!all.iter().any(|m| m.contains("secret internal detail")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_refuses_other_sites_bots_and_floods() {
    let smtp = SmtpSink::start();
    let s = common::spawn_with(config(&smtp)).await;
    // No Origin, or another site's: refused, and nothing sent.
    assert_eq!(form(&s, "email=a%40example.com", None).await.status(), 403);
    assert_eq!(
        form(&s, "email=a%40example.com", Some("https://evil.example"))
            .await
            .status(),
        403
    );
    // The honeypot: answered as always, and nothing sent.
    let bot = form(
        &s,
        "email=b%40example.com&website=http%3A%2F%2Fspam",
        Some(&s.base),
    )
    .await;
    assert_eq!(bot.status(), 200);
    // A bad address says so.
    assert_eq!(
        form(&s, "email=not-an-address", Some(&s.base))
            .await
            .status(),
        422
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 0);
    // 20 submissions an hour per address (the two above count); then 429 with Retry-After.
    for n in 0..18 {
        let r = form(&s, &format!("email=c{n}%40example.com"), Some(&s.base)).await;
        assert_eq!(r.status(), 200, "submission {n}");
    }
    let limited = form(&s, "email=d%40example.com", Some(&s.base)).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_subscriber_gets_signed_public_updates_of_its_components() {
    let smtp = SmtpSink::start();
    let rx = Receiver::start(Reply::OK).await;
    let s = common::spawn_with(config(&smtp)).await;
    let added = s
        .call(
            reqwest::Method::POST,
            "/api/v1/status-page/subscribers",
            Some(&s.admin),
            Some(json!({"url": rx.url, "components": ["Checkout API"]})),
        )
        .await;
    let added = added.expect(201).clone();
    assert!(added["secret"].as_str().unwrap().starts_with("whsec_"));
    let listed = s
        .call(
            reqwest::Method::GET,
            "/api/v1/status-page/subscribers",
            Some(&s.admin),
            None,
        )
        .await;
    assert!(
        listed.expect(200)["items"][0].get("secret").is_none(),
        "the secret is shown once"
    );
    // A Search incident is not for it; a Checkout one is.
    for (title, service) in [("Search slow", "search"), ("Checkout down", "checkout")] {
        let inc = s
            .post(
                "/api/v1/incidents",
                json!({"title": title, "severity": "SEV3", "services": [service]}),
            )
            .await;
        let id = inc.expect(201)["id"].as_str().unwrap().to_string();
        s.post(
            &format!("/api/v1/incidents/{id}/status-updates"),
            json!({"audience": "public", "body": format!("{title}: we are on it.")}),
        )
        .await
        .expect(201);
    }
    assert!(rx.wait_until(SOON, |got| !got.is_empty()).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = rx.received();
    assert_eq!(got.len(), 1, "only the Checkout update");
    let body = got[0].json();
    assert_eq!(body["type"], "status_page.update");
    assert_eq!(body["incident"]["name"], "Checkout down");
    assert!(!got[0].id.is_empty(), "signed per Standard Webhooks");
    assert!(got[0].headers.contains_key("webhook-signature"));
}

/// The store's subscribers, read until `done` holds or `SOON` passes.
async fn subscribers_when(
    s: &common::TestServer,
    done: impl Fn(&[firebreak_domain::status_page::Subscriber]) -> bool,
) -> Vec<firebreak_domain::status_page::Subscriber> {
    let until = std::time::Instant::now() + SOON;
    loop {
        let got = s.running.app.store.list_subscribers().await.unwrap();
        if done(&got) || std::time::Instant::now() > until {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_address_is_one_row_takes_its_latest_choice_and_expires_on_sqlite() {
    let smtp = SmtpSink::start();
    let s = common::spawn_with(config(&smtp)).await;
    a_pending_address(s, smtp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_address_is_one_row_takes_its_latest_choice_and_expires_on_postgres() {
    let smtp = SmtpSink::start();
    let store = common::postgres_store("pending_subscriber").await;
    let s = common::spawn_on(
        std::sync::Arc::new(store),
        config(&smtp),
        tempfile::tempdir().unwrap(),
    )
    .await;
    a_pending_address(s, smtp).await;
}

async fn a_pending_address(s: common::TestServer, smtp: SmtpSink) {
    // Five submissions of one new address at once: one subscriber, one confirmation.
    let mut sent = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (http, base) = (s.http.clone(), s.base.clone());
        sent.spawn(async move {
            http.post(format!("{base}/status/subscribe"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", &base)
                .body("email=bo%40example.com&components=Search")
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    while let Some(status) = sent.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let mail = smtp.wait_for(1, SOON).await.remove(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages().len(), 1, "one confirmation");
    let subscribers = s.running.app.store.list_subscribers().await.unwrap();
    assert_eq!(subscribers.len(), 1, "{subscribers:?}");
    assert_eq!(subscribers[0].components, Some(vec!["Search".to_string()]));

    // The queued confirmation holds a nonce: neither the link's token nor the address.
    let confirm = link(&mail, "/subscribe/confirm/");
    let token = confirm.rsplit('/').next().unwrap().to_string();
    assert_eq!(token.len(), 32, "{confirm}");
    let queued = s
        .running
        .app
        .store
        .list_messages("status_confirm", &subscribers[0].id, None, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(queued.len(), 1);
    assert!(!queued[0].payload.contains(&token), "{}", queued[0].payload);
    assert!(!queued[0].payload.contains("bo@example.com"));

    // Submitted again while pending: it takes the components chosen last, and no second
    // email goes within 10 minutes.
    let again = form(
        &s,
        "email=bo%40example.com&components=Checkout+API",
        Some(&s.base),
    )
    .await;
    assert_eq!(again.status(), 200);
    let now = subscribers_when(&s, |got| {
        got.first()
            .is_some_and(|x| x.components == Some(vec!["Checkout API".to_string()]))
    })
    .await;
    assert_eq!(
        now[0].components,
        Some(vec!["Checkout API".to_string()]),
        "the latest choice"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 1);

    // Seven days on with no confirmation, the address is forgotten and its link is dead.
    s.clock
        .advance(jiff::SignedDuration::from_hours(7 * 24 + 2));
    let left = subscribers_when(&s, |got| got.is_empty()).await;
    assert!(left.is_empty(), "{left:?}");
    let dead = s.http.post(&confirm).send().await.unwrap();
    assert_eq!(dead.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_emails_are_paced_across_all_addresses() {
    use firebreak_engine::subscribers::{CONFIRMATION_BURST, CONFIRMATION_EVERY_SECS};
    let smtp = SmtpSink::start();
    let mut config = config(&smtp);
    // Behind a proxy, each submission from its own client address.
    config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let s = common::spawn_with(config).await;
    let from = |n: u32| format!("198.51.{}.{}", n / 250, n % 250 + 1);
    let started = std::time::Instant::now();
    // One more address than the burst: every submission is answered alike.
    for n in 0..=CONFIRMATION_BURST {
        let r = s
            .http
            .post(format!("{}/status/subscribe", s.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &s.base)
            .header("x-forwarded-for", from(n))
            .body(format!("email=p{n}%40example.com"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "submission {n}");
        assert!(r.text().await.unwrap().contains("Check your inbox"));
    }
    let burst = CONFIRMATION_BURST as usize;
    smtp.wait_for(burst, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    if smtp.messages().len() > burst {
        // A slow machine: the pace allowed one more while the burst was being sent.
        assert!(
            started.elapsed() >= Duration::from_secs(CONFIRMATION_EVERY_SECS),
            "one more than the burst went at once"
        );
        return;
    }

    // One waits in the queue, and says why. Which one is up to the workers: the submissions
    // are taken in no set order.
    let store = &s.running.app.store;
    let sent = smtp.messages();
    let waiting = (0..=CONFIRMATION_BURST)
        .map(|n| format!("p{n}@example.com"))
        .find(|to| !sent.iter().any(|m| m.contains(&format!("To: {to}"))))
        .expect("one address has no confirmation yet");
    let held = store
        .list_subscribers()
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.target == waiting)
        .expect("the waiting address is a subscriber");
    let queued = store
        .list_messages("status_confirm", &held.id, None, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(queued.len(), 1);
    let attempts = store.attempts_of(&[queued[0].id]).await.unwrap();
    if attempts.iter().any(|(_, a)| a.status_code == Some(250)) {
        // A slow machine, as above: it went between the two looks, once the pace allowed it.
        assert!(
            started.elapsed() >= Duration::from_secs(CONFIRMATION_EVERY_SECS),
            "one more than the burst went at once: {attempts:?}"
        );
        return;
    }
    assert!(
        attempts
            .iter()
            .any(|(_, a)| a.error.as_deref().is_some_and(|e| e.contains("held back"))),
        "{attempts:?}"
    );

    // Its turn comes once the pace allows one more.
    tokio::time::sleep(Duration::from_secs(CONFIRMATION_EVERY_SECS) + Duration::from_millis(200))
        .await;
    s.clock.advance(jiff::SignedDuration::from_secs(
        CONFIRMATION_EVERY_SECS as i64 + 2,
    ));
    let all = smtp.wait_for(burst + 1, SOON).await;
    assert!(
        all.iter().any(|m| m.contains(&format!("To: {waiting}"))),
        "the held-back confirmation went"
    );
}
