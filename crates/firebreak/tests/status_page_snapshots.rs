//! Snapshots of every public JSON document for one fixed scenario (a manual clock, fixed
//! URLs): components in a group, an open incident with three public updates and an internal
//! one, a resolved incident, and maintenance upcoming and in progress. A change to any
//! document shows up as a snapshot diff to review (`tests/snapshots/`).

mod common;

use firebreak_domain::config::ComponentSpec;
use firebreak_domain::{Config, Name};
use jiff::SignedDuration;
use serde_json::{Value, json};

const DOCUMENTS: [&str; 9] = [
    "summary.json",
    "status.json",
    "components.json",
    "incidents.json",
    "incidents/unresolved.json",
    "incidents/resolved.json",
    "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json",
    "scheduled-maintenances/active.json",
];

fn config() -> Config {
    let mut config = Config::default();
    for s in ["checkout", "search", "notify"] {
        config.services.push(common::service(s));
    }
    let spec = |name: &str, description: Option<&str>, group: Option<&str>, services: &[&str]| {
        ComponentSpec {
            name: name.into(),
            description: description.map(Into::into),
            group: group.map(Into::into),
            services: services.iter().map(|s| Name::parse(s).unwrap()).collect(),
        }
    };
    config.server.public_url = Some("https://firebreak.example.com".into());
    config.status_page.title = "Example Status".into();
    config.status_page.url = Some("https://status.example.com".into());
    config.status_page.components = vec![
        spec("Web app", Some("Dashboard and sign-in"), None, &[]),
        spec(
            "Checkout API",
            Some("POST /v1/checkout"),
            Some("Payments"),
            &["checkout"],
        ),
        spec("Refunds", None, Some("Payments"), &[]),
        spec("Search", None, None, &["search"]),
        spec("Notifications", Some("Email and push"), None, &["notify"]),
    ];
    config
}

async fn get(s: &common::TestServer, doc: &str) -> Value {
    s.http
        .get(format!("{}/status/api/v2/{doc}", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_public_document_for_a_fixed_scenario() {
    let s = common::spawn_with(config()).await;
    let minutes = |m| s.clock.advance(SignedDuration::from_mins(m));
    let s = &s;
    let update = |id: &str, body: Value| {
        let path = format!("/api/v1/incidents/{id}/status-updates");
        async move { s.post(&path, body).await.expect(201).clone() }
    };

    // Resolved: sign-in failures yesterday.
    let old = s.declare("Session store rejects writes", "SEV2").await;
    let old = old["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("/api/v1/incidents/{old}"),
        json!({"public_title": "Sign-in failures for some users"}),
    )
    .await
    .expect(200);
    update(
        &old,
        json!({"audience": "public", "body": "Some users cannot sign in.",
                         "components": {"Web app": "partial_outage"}}),
    )
    .await;
    minutes(20);
    update(
        &old,
        json!({"audience": "public", "status": "monitoring",
                         "body": "We rolled back the session-store change."}),
    )
    .await;
    minutes(15);
    s.patch(
        &format!("/api/v1/incidents/{old}"),
        json!({"status": "resolved"}),
    )
    .await
    .expect(200);
    minutes(60 * 20);

    // Open: slow checkout.
    let open = s
        .declare("Connection pool exhausted on payments-db", "SEV3")
        .await;
    let open = open["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("/api/v1/incidents/{open}"),
        json!({"services": ["checkout"], "public_title": "Elevated latency on Checkout API"}),
    )
    .await
    .expect(200);
    update(
        &open,
        json!({"audience": "public", "template": "investigating"}),
    )
    .await;
    update(
        &open,
        json!({"audience": "internal", "body": "pool max is 20; raising to 80"}),
    )
    .await;
    minutes(12);
    update(
        &open,
        json!({"audience": "public", "status": "identified",
                          "body": "A connection pool limit slows checkout. We are raising it."}),
    )
    .await;

    // Maintenance: one upcoming, one in progress.
    s.post(
        "/api/v1/scheduled-maintenances",
        json!({"name": "Notification queue failover", "starts_at": "2026-11-24T02:00:00Z",
               "ends_at": "2026-11-24T03:00:00Z", "components": ["Notifications"],
               "body": "Email and push may be delayed by up to five minutes."}),
    )
    .await
    .expect(201);
    s.post(
        "/api/v1/scheduled-maintenances",
        json!({"name": "Search reindex", "ends_at": "2026-11-24T01:00:00Z",
               "components": ["Search"]}),
    )
    .await
    .expect(201);

    let named = keyed_ids(s).await;
    for doc in DOCUMENTS {
        let value = named(get(s, doc).await);
        let name = doc.replace(['/', '.'], "_");
        insta::assert_json_snapshot!(name, value);
    }
}

/// Incidents, their updates and maintenance have ids keyed by a secret each Firebreak makes
/// for itself; the snapshots name them by what they stand for instead: `[INC-2]`,
/// `[INC-2 update 5]`, `[maintenance 1]`.
async fn keyed_ids(s: &common::TestServer) -> impl Fn(Value) -> Value {
    let view = s.running.app.status_view().await.unwrap();
    let mut names = Vec::new();
    for n in 1..=5 {
        let number = firebreak_domain::IncidentNumber(n);
        let id = view.ids.incident(number);
        assert_ne!(
            id,
            firebreak_engine::status_page::public_id("incident", &n.to_string()),
            "the public id must not be a hash of the number alone"
        );
        names.push((id, format!("[INC-{n}]")));
        for seq in 1..=40 {
            names.push((
                view.ids.update(number, seq),
                format!("[INC-{n} update {seq}]"),
            ));
        }
        names.push((view.ids.maintenance(n), format!("[maintenance {n}]")));
        names.push((
            view.ids.maintenance_update(n),
            format!("[maintenance {n} update]"),
        ));
    }
    move |value: Value| {
        let mut text = value.to_string();
        for (id, name) in &names {
            text = text.replace(id.as_str(), name);
        }
        serde_json::from_str(&text).unwrap()
    }
}
