//! Incident channels through the real server and real HTTP receivers: the channels that take
//! an incident (by severity and service) get its declaration, role changes, internal updates
//! and resolution, in Slack's, Mattermost's and Teams' shapes; a channel that hangs delays no
//! answer; the webhook URLs (secrets) show nowhere.

mod common;
mod support_receiver;

use std::time::Duration;

use firebreak_domain::Config;
use firebreak_domain::config::{Channel, ChannelKind};
use serde_json::{Value, json};
use support_receiver::{Received, Receiver, Reply};

const PROMPTLY: Duration = Duration::from_secs(10);

fn channel(
    name: &str,
    kind: ChannelKind,
    url: &str,
    services: &[&str],
    severities: &[&str],
) -> Channel {
    Channel {
        name: name.into(),
        kind,
        url: format!("{url}/T0SECRET/B0SECRET/xoxsecrettoken"),
        url_env: None,
        services: services
            .iter()
            .map(|s| firebreak_domain::Name::parse(s).unwrap())
            .collect(),
        severities: severities.iter().map(|s| s.to_string()).collect(),
    }
}

fn texts(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| {
            let v = r.json();
            v["text"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_hear_about_the_incidents_they_take() {
    let slack = Receiver::start(Reply::Text(200, "ok")).await;
    let teams = Receiver::start(Reply::Status(202)).await;
    let mattermost = Receiver::start(Reply::OK).await;
    let mut config = Config::default();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.services.push(common::service("checkout"));
    config.server.public_url = Some("https://firebreak.example.com".into());
    config.comms.channels = vec![
        channel(
            "incidents",
            ChannelKind::Slack,
            &slack.url,
            &[],
            &["SEV1", "SEV2"],
        ),
        channel(
            "payments",
            ChannelKind::Teams,
            &teams.url,
            &["checkout"],
            &[],
        ),
        channel(
            "everything",
            ChannelKind::Mattermost,
            &mattermost.url,
            &[],
            &[],
        ),
    ];
    let s = common::spawn_with(config).await;

    // A SEV2 on checkout: every channel takes it.
    let inc = s
        .post(
            "/api/v1/incidents",
            json!({"title": "Checkout returns 500s", "severity": "SEV2", "services": ["checkout"]}),
        )
        .await;
    assert_eq!(inc.expect(201)["id"], "INC-1");
    // A SEV3 with no service: only the channel that takes everything.
    s.post(
        "/api/v1/incidents",
        json!({"title": "Typo on the pricing page", "severity": "SEV3"}),
    )
    .await
    .expect(201);
    for (rx, n) in [(&slack, 1), (&teams, 1), (&mattermost, 2)] {
        assert!(
            rx.wait_until(PROMPTLY, |got| got.len() >= n).await,
            "{}: {:?}",
            rx.url,
            texts(&rx.received())
        );
    }

    // Slack: a text fallback and Block Kit, the declaration in the header, a link back.
    let declared = slack.received()[0].json();
    assert!(
        declared["text"]
            .as_str()
            .unwrap()
            .contains("SEV2 INC-1 declared: Checkout returns 500s"),
        "{declared}"
    );
    assert_eq!(declared["blocks"][0]["type"], "header");
    // The link is the incident's page, where a person lands, not the JSON API.
    assert!(
        declared
            .to_string()
            .contains("https://firebreak.example.com/incidents/INC-1"),
        "{declared}"
    );
    assert!(!declared.to_string().contains("/api/v1/"), "{declared}");
    // Teams: an Adaptive Card in a message.
    let card = teams.received()[0].json();
    assert_eq!(card["type"], "message");
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["attachments"][0]["content"]["type"], "AdaptiveCard");
    assert!(card.to_string().contains("SEV2 INC-1 declared"), "{card}");
    assert!(
        card.to_string()
            .contains("\"https://firebreak.example.com/incidents/INC-1\""),
        "{card}"
    );
    // Mattermost: the whole message in `text`.
    let said = texts(&mattermost.received());
    assert!(
        said.iter()
            .any(|t| t.contains("SEV3 INC-2 declared: Typo on the pricing page")),
        "{said:?}"
    );

    // A role, an internal update, a public update (not for channels) and the resolution.
    s.put(
        "/api/v1/incidents/INC-1/roles/comms-lead",
        json!({"user": common::RESPONDER}),
    )
    .await
    .expect(200);
    s.post(
        "/api/v1/incidents/INC-1/status-updates",
        json!({"audience": "internal", "body": "Rolling back v2.3.1 now."}),
    )
    .await
    .expect(201);
    s.post(
        "/api/v1/incidents/INC-1/status-updates",
        json!({"audience": "public", "body": "We are investigating."}),
    )
    .await
    .expect(201);
    s.patch(
        "/api/v1/incidents/INC-1",
        json!({"status": "resolved", "public_update": false}),
    )
    .await
    .expect(200);
    assert!(
        slack.wait_until(PROMPTLY, |got| got.len() >= 4).await,
        "{:?}",
        texts(&slack.received())
    );
    // Posts go out as deliveries do, side by side: each arrives, in whatever order.
    let said = texts(&slack.received());
    let any = |f: &dyn Fn(&String) -> bool| said.iter().any(f);
    assert!(
        any(&|t| t.contains(&format!("{} is Comms Lead of INC-1", common::RESPONDER))),
        "{said:?}"
    );
    assert!(
        any(&|t| t.contains("Update on INC-1") && t.contains("Rolling back v2.3.1 now.")),
        "{said:?}"
    );
    assert!(
        any(&|t| t.contains("INC-1 resolved: Checkout returns 500s")),
        "{said:?}"
    );
    assert!(
        !said.iter().any(|t| t.contains("We are investigating.")),
        "public updates are for the status page: {said:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slack.count(), 4, "nothing more: {said:?}");
    assert!(teams.wait_until(PROMPTLY, |got| got.len() >= 4).await);

    // The webhook URLs are secrets: nowhere in the API or the timeline.
    for path in [
        "/api/v1/incidents/INC-1/timeline",
        "/api/v1/config",
        "/api/v1/outbox/stats",
    ] {
        let body = s
            .call(reqwest::Method::GET, path, Some(&s.admin), None)
            .await;
        let text = body.body.to_string();
        assert!(
            !text.contains("xoxsecrettoken") && !text.contains("B0SECRET"),
            "{path}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_channel_delays_no_answer_and_slack_errors_are_read_as_slack_means() {
    let hangs = Receiver::start(Reply::Hold).await;
    let refuses = Receiver::start(Reply::Text(404, "channel_not_found")).await;
    let mut config = Config::default();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    config.comms.channels = vec![
        channel("hangs", ChannelKind::Mattermost, &hangs.url, &[], &[]),
        channel("gone", ChannelKind::Slack, &refuses.url, &[], &[]),
    ];
    let s = common::spawn_with(config).await;
    let started = std::time::Instant::now();
    for n in 0..3 {
        s.post(
            "/api/v1/incidents",
            json!({"title": format!("Incident {n}"), "severity": "SEV3"}),
        )
        .await
        .expect(201);
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "declaring waited on the channels: {:?}",
        started.elapsed()
    );
    assert!(refuses.wait_until(PROMPTLY, |got| got.len() >= 3).await);
    // channel_not_found fails the post for good: it is not sent again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(refuses.count(), 3);
    let failed: Value = s
        .call(
            reqwest::Method::GET,
            "/api/v1/outbox/stats",
            Some(&s.admin),
            None,
        )
        .await
        .body;
    assert!(failed.to_string().contains("chat"), "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_took_an_incident_hears_it_move_out_of_its_reach() {
    let incidents = Receiver::start(Reply::Text(200, "ok")).await;
    let payments = Receiver::start(Reply::OK).await;
    let mut config = Config::default();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    for s in ["checkout", "search"] {
        config.services.push(common::service(s));
    }
    config.comms.channels = vec![
        channel(
            "incidents",
            ChannelKind::Slack,
            &incidents.url,
            &[],
            &["SEV1", "SEV2"],
        ),
        channel(
            "payments",
            ChannelKind::Mattermost,
            &payments.url,
            &["checkout"],
            &[],
        ),
    ];
    let s = common::spawn_with(config).await;
    s.post(
        "/api/v1/incidents",
        json!({"title": "Checkout returns 500s", "severity": "SEV2", "services": ["checkout"]}),
    )
    .await
    .expect(201);
    for rx in [&incidents, &payments] {
        assert!(rx.wait_until(PROMPTLY, |got| !got.is_empty()).await);
    }

    // A downgrade below the channel's severities: the channel that took it hears it.
    s.patch("/api/v1/incidents/INC-1", json!({"severity": "SEV3"}))
        .await
        .expect(200);
    assert!(
        incidents.wait_until(PROMPTLY, |got| got.len() >= 2).await,
        "{:?}",
        texts(&incidents.received())
    );
    assert!(
        texts(&incidents.received())[1].contains("INC-1 is now SEV3 (was SEV2)"),
        "{:?}",
        texts(&incidents.received())
    );
    assert!(payments.wait_until(PROMPTLY, |got| got.len() >= 2).await);

    // Moved off checkout and resolved in one change: checkout's channel hears the resolution.
    s.patch(
        "/api/v1/incidents/INC-1",
        json!({"services": ["search"], "status": "resolved"}),
    )
    .await
    .expect(200);
    assert!(
        payments.wait_until(PROMPTLY, |got| got.len() >= 3).await,
        "{:?}",
        texts(&payments.received())
    );
    assert!(
        texts(&payments.received())[2].contains("INC-1 resolved: Checkout returns 500s"),
        "{:?}",
        texts(&payments.received())
    );

    // Downgraded and resolved in one change: the SEV1/SEV2 channel hears the resolution.
    s.post(
        "/api/v1/incidents",
        json!({"title": "Search is down", "severity": "SEV1", "services": ["search"]}),
    )
    .await
    .expect(201);
    assert!(incidents.wait_until(PROMPTLY, |got| got.len() >= 3).await);
    s.patch(
        "/api/v1/incidents/INC-2",
        json!({"severity": "SEV3", "status": "resolved"}),
    )
    .await
    .expect(200);
    assert!(
        incidents
            .wait_until(PROMPTLY, |got| texts(got)
                .iter()
                .any(|t| t.contains("INC-2") && t.contains("resolved")))
            .await,
        "{:?}",
        texts(&incidents.received())
    );

    // A channel that never took an incident hears nothing of it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !texts(&payments.received())
            .iter()
            .any(|t| t.contains("INC-2")),
        "{:?}",
        texts(&payments.received())
    );
    // The SEV1/SEV2 channel also heard INC-1 resolved: it took INC-1 at SEV2, before the
    // downgrade.
    assert_eq!(incidents.count(), 5, "{:?}", texts(&incidents.received()));
    assert!(
        texts(&incidents.received())
            .iter()
            .any(|t| t.contains("INC-1 resolved: Checkout returns 500s")),
        "{:?}",
        texts(&incidents.received())
    );
}

/// A channel that took an incident at an earlier severity or on an earlier service hears its
/// resolution however many changes ago it moved out, and nothing else after; a channel that
/// never took it hears nothing.
async fn the_resolution_reaches_every_channel_that_was_told(
    s: common::TestServer,
    incidents: Receiver,
    payments: Receiver,
    sev1: Receiver,
) {
    s.post(
        "/api/v1/incidents",
        json!({"title": "Checkout returns 500s", "severity": "SEV2", "services": ["checkout"]}),
    )
    .await
    .expect(201);
    for rx in [&incidents, &payments] {
        assert!(rx.wait_until(PROMPTLY, |got| got.len() == 1).await);
    }
    // Downgraded below the SEV1/SEV2 channel: it hears that, as it did before.
    s.patch("/api/v1/incidents/INC-1", json!({"severity": "SEV3"}))
        .await
        .expect(200);
    assert!(incidents.wait_until(PROMPTLY, |got| got.len() == 2).await);
    assert!(payments.wait_until(PROMPTLY, |got| got.len() == 2).await);
    // Moved off checkout in a later change (a change of services alone is no news).
    s.patch("/api/v1/incidents/INC-1", json!({"services": ["search"]}))
        .await
        .expect(200);
    // What happens while it is out of their reach is not theirs.
    s.post(
        "/api/v1/incidents/INC-1/status-updates",
        json!({"audience": "internal", "body": "Still looking."}),
    )
    .await
    .expect(201);
    s.patch("/api/v1/incidents/INC-1", json!({"status": "mitigated"}))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(incidents.count(), 2, "{:?}", texts(&incidents.received()));
    assert_eq!(payments.count(), 2, "{:?}", texts(&payments.received()));

    // The resolution, in a change of its own, goes to both.
    s.patch("/api/v1/incidents/INC-1", json!({"status": "resolved"}))
        .await
        .expect(200);
    for rx in [&incidents, &payments] {
        assert!(
            rx.wait_until(PROMPTLY, |got| texts(got)
                .iter()
                .any(|t| t.contains("INC-1 resolved: Checkout returns 500s")))
                .await,
            "{:?}",
            texts(&rx.received())
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(incidents.count(), 3, "{:?}", texts(&incidents.received()));
    assert_eq!(payments.count(), 3, "{:?}", texts(&payments.received()));
    // The SEV1 channel never took it, so it hears nothing, the resolution included.
    assert_eq!(sev1.count(), 0, "{:?}", texts(&sev1.received()));
}

async fn told_channels() -> (Config, Receiver, Receiver, Receiver) {
    let incidents = Receiver::start(Reply::Text(200, "ok")).await;
    let payments = Receiver::start(Reply::OK).await;
    let sev1 = Receiver::start(Reply::OK).await;
    let mut config = Config::default();
    config.outbound.allow = vec!["127.0.0.0/8".parse().unwrap()];
    for s in ["checkout", "search"] {
        config.services.push(common::service(s));
    }
    config.comms.channels = vec![
        channel(
            "incidents",
            ChannelKind::Slack,
            &incidents.url,
            &[],
            &["SEV1", "SEV2"],
        ),
        channel(
            "payments",
            ChannelKind::Mattermost,
            &payments.url,
            &["checkout"],
            &[],
        ),
        channel("sev1", ChannelKind::Mattermost, &sev1.url, &[], &["SEV1"]),
    ];
    (config, incidents, payments, sev1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolution_reaches_every_channel_that_was_told_on_sqlite() {
    let (config, incidents, payments, sev1) = told_channels().await;
    let s = common::spawn_with(config).await;
    the_resolution_reaches_every_channel_that_was_told(s, incidents, payments, sev1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resolution_reaches_every_channel_that_was_told_on_postgres() {
    let (config, incidents, payments, sev1) = told_channels().await;
    let store = common::postgres_store("channels_told").await;
    let s = common::spawn_on(
        std::sync::Arc::new(store),
        config,
        tempfile::tempdir().unwrap(),
    )
    .await;
    the_resolution_reaches_every_channel_that_was_told(s, incidents, payments, sev1).await;
}
