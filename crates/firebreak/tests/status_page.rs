//! The public status page through the real server, on SQLite and on PostgreSQL: components
//! derived from public incidents, public and internal updates, the Statuspage-compatible JSON
//! held to the shapes of Atlassian's own answers (`tests/fixtures/statuspage-v2-*.json`), what
//! must never leak, caching headers, and the page's own listener.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use firebreak_domain::config::ComponentSpec;
use firebreak_domain::{Config, Name};
use serde_json::{Value, json};

const SECRET_TITLE: &str = "bob's bad query OOMed the primary";
const INTERNAL_NOTE: &str = "failing over to replica db-7";

fn config() -> Config {
    let mut config = Config::default();
    for s in ["checkout", "search", "ledger"] {
        config.services.push(common::service(s));
    }
    let spec = |name: &str, group: Option<&str>, services: &[&str]| ComponentSpec {
        name: name.into(),
        description: Some(format!("{name} for customers")),
        group: group.map(Into::into),
        services: services.iter().map(|s| Name::parse(s).unwrap()).collect(),
    };
    config.status_page.title = "Example Status".into();
    config.status_page.components = vec![
        spec("Web app", None, &[]),
        spec("Checkout API", Some("Payments"), &["checkout"]),
        spec("Refunds", Some("Payments"), &[]),
        spec("Search", None, &["search"]),
    ];
    config
}

async fn public(s: &common::TestServer, doc: &str) -> Value {
    let res = s
        .http
        .get(format!("{}/status/api/v2/{doc}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{doc}");
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "*",
        "{doc} allows any origin"
    );
    assert!(res.headers().contains_key("etag"), "{doc} has an ETag");
    res.json().await.unwrap()
}

/// Every key path in `v` (objects by key, arrays by their items), with the JSON type at it.
fn shape(v: &Value, at: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                shape(x, &format!("{at}.{k}"), out);
            }
        }
        Value::Array(items) => {
            for x in items {
                shape(x, &format!("{at}[]"), out);
            }
        }
        Value::Null => {}
        _ => {
            out.insert(at.to_string());
        }
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every key the fixture has (with a value), ours has too, and ours has no key the fixture
/// lacks.
fn same_keys(ours: &Value, theirs: &Value, what: &str) {
    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    shape(ours, "", &mut a);
    shape(theirs, "", &mut b);
    let keys = |s: &BTreeSet<String>| -> BTreeSet<String> {
        s.iter()
            .map(|p| p.rsplit('.').next().unwrap().to_string())
            .collect()
    };
    let missing: Vec<_> = b.difference(&a).collect();
    assert!(
        missing.is_empty(),
        "{what}: keys Statuspage has and we lack: {missing:?}"
    );
    let extra: Vec<_> = keys(&a).difference(&keys(&b)).cloned().collect();
    assert!(
        extra.is_empty(),
        "{what}: keys Statuspage never sends: {extra:?}"
    );
}

fn all_times_have_milliseconds(v: &Value) {
    // 2026-11-20T14:20:05.083Z: 24 characters, a dot and three digits before the Z.
    let with_ms = |t: &str| {
        t.len() == 24
            && t.ends_with('Z')
            && t.as_bytes()[19] == b'.'
            && t[20..23].bytes().all(|b| b.is_ascii_digit())
            && t.parse::<jiff::Timestamp>().is_ok()
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let is_time = k.ends_with("_at") || k == "scheduled_for" || k == "scheduled_until";
                if is_time && let Some(t) = x.as_str() {
                    assert!(with_ms(t), "{k} = {t} has no milliseconds");
                }
                all_times_have_milliseconds(x);
            }
        }
        Value::Array(items) => items.iter().for_each(all_times_have_milliseconds),
        _ => {}
    }
}

fn component<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no component {name} in {doc}"))
}

async fn a_public_incident_runs_its_course(s: common::TestServer) {
    // Nothing public yet: all operational, and the page's shape is Statuspage's.
    let summary = public(&s, "summary.json").await;
    assert_eq!(summary["status"]["indicator"], "none");
    assert_eq!(summary["status"]["description"], "All Systems Operational");
    assert_eq!(summary["page"]["name"], "Example Status");
    let names: Vec<&str> = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Web app", "Payments", "Checkout API", "Refunds", "Search"]
    );
    let group = component(&summary, "Payments");
    assert_eq!(group["group"], true);
    let checkout = component(&summary, "Checkout API");
    assert_eq!(checkout["group_id"], group["id"]);
    assert_eq!(group["components"][0], checkout["id"]);

    // An incident stays internal until someone posts a public update.
    let inc = s.declare(SECRET_TITLE, "SEV2").await;
    let id = inc["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"services": ["checkout"], "public_title": "Slow checkout"}),
    )
    .await
    .expect(200);
    s.post(
        &format!("/api/v1/incidents/{id}/notes"),
        json!({"body": INTERNAL_NOTE}),
    )
    .await
    .expect(201);
    let summary = public(&s, "summary.json").await;
    assert_eq!(summary["incidents"], json!([]));
    assert_eq!(component(&summary, "Checkout API")["status"], "operational");
    // It goes public a while after it was declared.
    s.clock.advance(jiff::SignedDuration::from_mins(7));

    // The first public update, from the template: the incident shows, its component follows
    // its severity, and the checklist item ticks itself.
    let posted = s
        .post(
            &format!("/api/v1/incidents/{id}/status-updates"),
            json!({"audience": "public", "template": "investigating"}),
        )
        .await;
    let posted = posted.expect(201);
    assert_eq!(posted["status"], "investigating");
    assert!(
        posted["body"]
            .as_str()
            .unwrap()
            .contains("We are investigating reports of problems with Checkout API"),
        "{posted}"
    );
    // Public times are the page's own: it started, for the page, when it went public.
    let listed = public(&s, "incidents.json").await;
    let first = &listed["incidents"][0];
    assert_eq!(first["started_at"], first["created_at"], "{first}");
    assert_eq!(
        first["created_at"], first["incident_updates"][0]["created_at"],
        "{first}"
    );
    let shown = s.get(&format!("/api/v1/incidents/{id}")).await;
    let item = shown.expect(200)["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["text"] == "status page updated")
        .cloned()
        .unwrap();
    assert_eq!(item["done"], true);
    assert_eq!(item["done_by"], "firebreak");
    s.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "internal", "body": format!("inside: {INTERNAL_NOTE}")}),
    )
    .await
    .expect(201);
    s.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "public", "status": "identified",
               "body": "A database limit slows checkout; we are raising it.",
               "components": {"Refunds": "degraded_performance"}}),
    )
    .await
    .expect(201);

    let summary = public(&s, "summary.json").await;
    assert_eq!(
        component(&summary, "Checkout API")["status"],
        "partial_outage"
    );
    assert_eq!(
        component(&summary, "Refunds")["status"],
        "degraded_performance"
    );
    assert_eq!(component(&summary, "Payments")["status"], "partial_outage");
    assert_eq!(component(&summary, "Search")["status"], "operational");
    assert_eq!(summary["status"]["indicator"], "major");
    assert_eq!(summary["status"]["description"], "Partial System Outage");
    let incident = &summary["incidents"][0];
    assert_eq!(
        incident["name"], "Slow checkout",
        "the public title, not the title"
    );
    assert_eq!(incident["status"], "identified");
    assert_eq!(incident["impact"], "major");
    let updates = incident["incident_updates"].as_array().unwrap();
    assert_eq!(updates.len(), 2, "only public updates: {updates:?}");
    assert_eq!(updates[0]["status"], "identified", "newest first");
    assert_eq!(updates[1]["status"], "investigating");
    assert_eq!(
        updates[0]["affected_components"][0]["name"], "Refunds",
        "{updates:?}"
    );
    assert_eq!(
        updates[0]["affected_components"][0]["old_status"],
        "operational"
    );
    assert_eq!(
        updates[0]["affected_components"][0]["new_status"],
        "degraded_performance"
    );

    // The shapes are Statuspage's own.
    let mut theirs = fixture("statuspage-v2-summary.json");
    // Scheduled maintenance is compared where the page has some (not yet in this scenario).
    theirs["scheduled_maintenances"] = json!([]);
    same_keys(&summary, &theirs, "summary.json");
    for doc in [
        "status.json",
        "components.json",
        "incidents.json",
        "incidents/unresolved.json",
    ] {
        all_times_have_milliseconds(&public(&s, doc).await);
    }
    all_times_have_milliseconds(&summary);

    // Nothing internal leaks into any public answer.
    for doc in [
        "summary.json",
        "status.json",
        "components.json",
        "incidents.json",
        "incidents/unresolved.json",
        "incidents/resolved.json",
        "scheduled-maintenances.json",
        "scheduled-maintenances/upcoming.json",
        "scheduled-maintenances/active.json",
    ] {
        let text = public(&s, doc).await.to_string();
        for secret in [
            SECRET_TITLE,
            INTERNAL_NOTE,
            "\"checkout\"",
            "ledger",
            "INC-",
            "riley",
        ] {
            assert!(!text.contains(secret), "{doc} shows {secret:?}: {text}");
        }
    }

    // A status set by hand holds until cleared; responders may set it, not reshape it.
    let web = component(&summary, "Web app")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let set = s
        .patch(
            &format!("/api/v1/status-page/components/{web}"),
            json!({"status": "under_maintenance"}),
        )
        .await;
    assert_eq!(set.expect(200)["status"], "under_maintenance");
    assert_eq!(
        component(&public(&s, "components.json").await, "Web app")["status"],
        "under_maintenance"
    );
    let res = s
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/status-page/components/{web}"),
            Some(&s.responder),
            Some(json!({"services": ["ledger"]})),
        )
        .await;
    res.expect_problem(403);
    let cleared = s
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/status-page/components/{web}"),
            Some(&s.responder),
            Some(json!({"status": null})),
        )
        .await;
    assert_eq!(cleared.expect(200)["status"], "operational");

    s.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "public", "status": "monitoring", "body": "The limit is raised; we are watching."}),
    )
    .await
    .expect(201);
    // Resolving posts the resolved template: the page says resolved, components recover.
    let resolved = s
        .patch(
            &format!("/api/v1/incidents/{id}"),
            json!({"status": "resolved"}),
        )
        .await;
    let resolved = resolved.expect(200);
    assert_eq!(resolved["public_update"]["outcome"], "posted", "{resolved}");
    let summary = public(&s, "summary.json").await;
    assert_eq!(summary["incidents"], json!([]));
    assert_eq!(summary["status"]["indicator"], "none");
    assert_eq!(component(&summary, "Checkout API")["status"], "operational");
    let done = public(&s, "incidents/resolved.json").await;
    let incident = &done["incidents"][0];
    assert_eq!(incident["status"], "resolved");
    assert!(incident["resolved_at"].is_string());
    assert!(incident["monitoring_at"].is_string());
    assert_eq!(incident["incident_updates"][0]["status"], "resolved");
    assert_eq!(
        incident["incident_updates"][0]["affected_components"][0]["new_status"],
        "operational"
    );
    same_keys(
        &done,
        &fixture("statuspage-v2-incidents.json"),
        "incidents/resolved.json",
    );
}

async fn drills_and_bad_updates_are_refused(s: common::TestServer) {
    let drill = s
        .post(
            "/api/v1/incidents",
            json!({"title": "Game day", "severity": "SEV2", "drill": true}),
        )
        .await;
    let id = drill.expect(201)["id"].as_str().unwrap().to_string();
    let refused = s
        .post(
            &format!("/api/v1/incidents/{id}/status-updates"),
            json!({"audience": "public", "body": "We are investigating."}),
        )
        .await;
    let problem = refused.expect_problem(422);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("drill")
            || problem.to_string().contains("drill"),
        "{problem}"
    );
    s.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "internal", "body": "drill going fine"}),
    )
    .await
    .expect(201);
    assert_eq!(public(&s, "incidents.json").await["incidents"], json!([]));

    let real = s.declare("Real one", "SEV3").await;
    let id = real["id"].as_str().unwrap().to_string();
    let unknown = s
        .post(
            &format!("/api/v1/incidents/{id}/status-updates"),
            json!({"audience": "public", "body": "x", "components": {"Chekout": "major_outage"}}),
        )
        .await;
    let problem = unknown.expect_problem(422).to_string();
    assert!(
        problem.contains("Checkout API"),
        "names the known components: {problem}"
    );
    let empty = s
        .post(
            &format!("/api/v1/incidents/{id}/status-updates"),
            json!({"audience": "public"}),
        )
        .await;
    empty.expect_problem(422);
    let timeline = s.get(&format!("/api/v1/incidents/{id}/timeline")).await;
    assert!(
        !timeline.expect(200).to_string().contains("status_update"),
        "a refused update changes nothing"
    );
    // public_update:false keeps the page as it is.
    s.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "public", "status": "monitoring", "body": "Fixed; watching."}),
    )
    .await
    .expect(201);
    let kept = s
        .patch(
            &format!("/api/v1/incidents/{id}"),
            json!({"status": "resolved", "public_update": false}),
        )
        .await;
    let kept = kept.expect(200);
    assert_eq!(kept["public_update"]["outcome"], "kept");
    assert_eq!(kept["public_update"]["status"], "monitoring");
    let unresolved = public(&s, "incidents/unresolved.json").await;
    assert_eq!(unresolved["incidents"][0]["status"], "monitoring");
}

/// The page follows the public status: an incident resolved inside Firebreak with its public
/// update held back keeps its components and the indicator until a public `resolved`; and
/// `public_update` is refused where it has no public incident to go to.
async fn the_page_follows_the_public_status(s: common::TestServer) {
    let inc = s.declare(SECRET_TITLE, "SEV1").await;
    let id = inc["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"services": ["checkout"], "public_title": "Checkout errors"}),
    )
    .await
    .expect(200);
    s.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "public", "template": "investigating"}),
    )
    .await
    .expect(201);
    let summary = public(&s, "summary.json").await;
    assert_eq!(
        component(&summary, "Checkout API")["status"],
        "major_outage"
    );
    assert_eq!(summary["status"]["indicator"], "critical");

    // Resolved inside, "monitoring in public a while longer": the page still shows it all.
    let kept = s
        .patch(
            &format!("/api/v1/incidents/{id}"),
            json!({"status": "resolved", "public_update": false}),
        )
        .await;
    assert_eq!(kept.expect(200)["public_update"]["outcome"], "kept");
    for doc in ["summary.json", "components.json"] {
        let got = public(&s, doc).await;
        assert_eq!(
            component(&got, "Checkout API")["status"],
            "major_outage",
            "{doc}: {got}"
        );
    }
    let summary = public(&s, "summary.json").await;
    assert_eq!(summary["incidents"][0]["status"], "investigating");
    assert_eq!(summary["incidents"][0]["impact"], "critical");
    assert_eq!(summary["status"]["indicator"], "critical", "{summary}");
    assert_ne!(summary["status"]["description"], "All Systems Operational");
    let status = public(&s, "status.json").await;
    assert_eq!(status["status"]["indicator"], "critical");

    // The public `resolved` ends it on the page.
    s.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "public", "status": "resolved", "body": "All clear."}),
    )
    .await
    .expect(201);
    let summary = public(&s, "summary.json").await;
    assert_eq!(summary["incidents"], json!([]));
    assert_eq!(component(&summary, "Checkout API")["status"], "operational");
    assert_eq!(summary["status"]["indicator"], "none");

    // An incident that was never public: a public_update text is refused, and says how to
    // make it public first. Nothing is posted, nothing resolved.
    let internal = s
        .declare("db-7 replica lag from bob's migration", "SEV2")
        .await;
    let internal = internal["id"].as_str().unwrap().to_string();
    let refused = s
        .patch(
            &format!("/api/v1/incidents/{internal}"),
            json!({"status": "resolved", "public_update": "Fixed."}),
        )
        .await;
    let problem = refused.expect_problem(422).to_string();
    for said in [
        "public_update",
        "never been public",
        "public status update",
        "public_title",
    ] {
        assert!(problem.contains(said), "says {said:?}: {problem}");
    }
    let shown = s.get(&format!("/api/v1/incidents/{internal}")).await;
    assert_ne!(shown.expect(200)["status"], "resolved");
    let timeline = s
        .get(&format!("/api/v1/incidents/{internal}/timeline"))
        .await;
    assert!(!timeline.expect(200).to_string().contains("status_update"));
    let listed = public(&s, "incidents.json").await.to_string();
    assert!(!listed.contains("bob's migration"), "{listed}");
    // Without a text it resolves as before, posting nothing.
    let resolved = s
        .patch(
            &format!("/api/v1/incidents/{internal}"),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(
        resolved.expect(200)["public_update"]["outcome"],
        "not_public"
    );

    // A drill: the refusal fits the PATCH (it has no `audience`).
    let drill = s
        .post(
            "/api/v1/incidents",
            json!({"title": "Game day", "severity": "SEV2", "drill": true}),
        )
        .await;
    let drill = drill.expect(201)["id"].as_str().unwrap().to_string();
    let refused = s
        .patch(
            &format!("/api/v1/incidents/{drill}"),
            json!({"status": "resolved", "public_update": "Fixed."}),
        )
        .await;
    let problem = refused.expect_problem(422).to_string();
    assert!(
        problem.contains("drill") && problem.contains("public_update"),
        "{problem}"
    );
    assert!(!problem.contains("audience"), "{problem}");
}

#[tokio::test]
async fn sqlite_the_page_follows_the_public_status() {
    the_page_follows_the_public_status(common::spawn_with(config()).await).await;
}

#[tokio::test]
async fn postgres_the_page_follows_the_public_status() {
    the_page_follows_the_public_status(on_postgres().await).await;
}

async fn components_are_managed_by_admins(s: common::TestServer) {
    let path = "/api/v1/status-page/components";
    let admin = |body: Value| s.call(reqwest::Method::POST, path, Some(&s.admin), Some(body));
    let made = admin(json!({"name": "Ledger", "group": "Payments", "services": ["ledger"]})).await;
    let made = made.expect(201).clone();
    assert_eq!(made["status"], "operational");
    admin(json!({"name": "Ledger"})).await.expect_problem(409);
    admin(json!({"name": "Nope", "services": ["missing"]}))
        .await
        .expect_problem(422);
    let clash = admin(json!({"name": "Payments"})).await;
    assert!(
        clash.expect_problem(422).to_string().contains("group"),
        "a component may not take a group's name"
    );
    let as_responder = s
        .call(
            reqwest::Method::POST,
            "/api/v1/status-page/components",
            Some(&s.responder),
            Some(json!({"name": "Sneaky"})),
        )
        .await;
    as_responder.expect_problem(403);
    let list = s.get("/api/v1/status-page/components").await;
    assert_eq!(list.expect(200)["items"].as_array().unwrap().len(), 5);
    let id = made["id"].as_str().unwrap();
    let res = s
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/status-page/components/{id}"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(res.status, 204);
    s.get(&format!("/api/v1/status-page/components/{id}"))
        .await
        .expect_problem(404);
    // One declared in firebreak.yaml would come back at the next start: the file is where
    // it goes, and the answer says so.
    let listed = s.get("/api/v1/status-page/components").await;
    let search = listed.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Search")
        .cloned()
        .unwrap();
    let refused = s
        .call(
            reqwest::Method::DELETE,
            &format!(
                "/api/v1/status-page/components/{}",
                search["id"].as_str().unwrap()
            ),
            Some(&s.admin),
            None,
        )
        .await;
    let problem = refused.expect_problem(409).to_string();
    assert!(
        problem.contains("firebreak.yaml") && problem.contains("status_page.components"),
        "{problem}"
    );
    let still = s
        .get(&format!(
            "/api/v1/status-page/components/{}",
            search["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(still.expect(200)["created_at"], search["created_at"]);
}

async fn caching_headers_and_head(s: common::TestServer) {
    let url = format!("{}/status/api/v2/components.json", s.base);
    let first = s.http.get(&url).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    assert!(
        first.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let again = s
        .http
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let head = s.http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200, "HEAD is answered like GET");
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(head.headers()["access-control-allow-origin"], "*");

    // The page and the feeds are kept rendered per snapshot: the same bytes and ETag until
    // something public changes, then new ones.
    let mut tags = Vec::new();
    for path in ["/status", "/status/history.atom", "/status/history.rss"] {
        let url = format!("{}{path}", s.base);
        let one = s.http.get(&url).send().await.unwrap();
        let tag = one.headers()["etag"].to_str().unwrap().to_string();
        let body = one.text().await.unwrap();
        let two = s.http.get(&url).send().await.unwrap();
        assert_eq!(two.headers()["etag"].to_str().unwrap(), tag, "{path}");
        assert_eq!(two.text().await.unwrap(), body, "{path}");
        let cached = s
            .http
            .get(&url)
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(cached.status(), 304, "{path}");
        tags.push((url, tag));
    }
    let inc = s.declare("Checkout errors", "SEV2").await;
    let id = inc["id"].as_str().unwrap();
    s.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "public", "body": "Checkout fails for some people."}),
    )
    .await
    .expect(201);
    for (url, tag) in tags {
        let now = s.http.get(&url).send().await.unwrap();
        assert_ne!(now.headers()["etag"].to_str().unwrap(), tag, "{url}");
        assert!(
            now.text()
                .await
                .unwrap()
                .contains("Checkout fails for some people."),
            "{url}"
        );
    }

    // A link to an incident the page does not have gets a page that says so.
    let missing = s
        .http
        .get(format!("{}/status/incidents/0123456789ab", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(missing.text().await.unwrap().contains("No such incident"));
}

async fn scheduled_maintenance_shows_and_quiets_alerts(s: common::TestServer) {
    // The harness clock starts at 2026-11-23T03:00:00Z.
    let made = s
        .post(
            "/api/v1/scheduled-maintenances",
            json!({"name": "Database upgrade", "starts_at": "2026-11-23T04:00:00Z",
                   "ends_at": "2026-11-23T05:00:00Z", "components": ["Checkout API"],
                   "body": "Checkout may pause for up to a minute."}),
        )
        .await;
    let made = made.expect(201).clone();
    assert_eq!(made["status"], "scheduled");
    s.post(
        "/api/v1/scheduled-maintenances",
        json!({"name": "x", "ends_at": "2026-11-23T05:00:00Z", "components": ["Nope"]}),
    )
    .await
    .expect_problem(422);
    s.post(
        "/api/v1/scheduled-maintenances",
        json!({"name": "x", "starts_at": "2026-11-23T05:00:00Z", "ends_at": "2026-11-23T04:00:00Z",
               "components": ["Web app"]}),
    )
    .await
    .expect_problem(422);

    let upcoming = public(&s, "scheduled-maintenances/upcoming.json").await;
    let m = &upcoming["scheduled_maintenances"][0];
    assert_eq!(m["name"], "Database upgrade");
    assert_eq!(m["status"], "scheduled");
    assert_eq!(m["impact"], "maintenance");
    assert_eq!(m["scheduled_for"], "2026-11-23T04:00:00.000Z");
    assert_eq!(m["scheduled_until"], "2026-11-23T05:00:00.000Z");
    assert_eq!(
        m["incident_updates"][0]["body"],
        "Checkout may pause for up to a minute."
    );
    assert_eq!(m["components"][0]["name"], "Checkout API");
    let summary = public(&s, "summary.json").await;
    assert_eq!(
        summary["scheduled_maintenances"][0]["name"],
        "Database upgrade"
    );
    let mut theirs = fixture("statuspage-v2-summary.json");
    theirs["incidents"] = json!([]);
    same_keys(&summary, &theirs, "summary.json with maintenance");
    assert_eq!(
        public(&s, "scheduled-maintenances/active.json").await["scheduled_maintenances"],
        json!([])
    );
    assert_eq!(component(&summary, "Checkout API")["status"], "operational");

    // When it starts, by the clock alone: in progress, the component under maintenance, and
    // alerts on its service suppressed.
    s.clock.advance(jiff::SignedDuration::from_mins(61));
    let active = public(&s, "scheduled-maintenances/active.json").await;
    assert_eq!(active["scheduled_maintenances"][0]["status"], "in_progress");
    let summary = public(&s, "summary.json").await;
    assert_eq!(
        component(&summary, "Checkout API")["status"],
        "under_maintenance"
    );
    assert_eq!(summary["status"]["indicator"], "maintenance");
    assert_eq!(
        summary["status"]["description"],
        "Service Under Maintenance"
    );
    let key = s.integration("checkout", "pd").await;
    s.send_json(
        "/v2/enqueue",
        &json!({"routing_key": key, "event_action": "trigger", "dedup_key": "db",
                "payload": {"summary": "db down", "source": "db-1", "severity": "critical"}}),
    )
    .await;
    let suppressed = s.alerts("status=suppressed").await;
    assert_eq!(
        suppressed.len(),
        1,
        "the maintenance quiets its services' alerts"
    );
    assert!(
        suppressed[0]["suppressed_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Database upgrade"),
        "{}",
        suppressed[0]
    );

    // Ending it early puts everything back.
    let id = made["id"].as_i64().unwrap();
    let res = s
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/scheduled-maintenances/{id}"),
            Some(&s.responder),
            None,
        )
        .await;
    assert_eq!(res.expect(200)["status"], "completed");
    let summary = public(&s, "summary.json").await;
    assert_eq!(component(&summary, "Checkout API")["status"], "operational");
    assert_eq!(summary["scheduled_maintenances"], json!([]));
    let all = public(&s, "scheduled-maintenances.json").await;
    assert_eq!(all["scheduled_maintenances"][0]["status"], "completed");
    // One cancelled before it starts is dropped: it shows nowhere.
    let later = s
        .post(
            "/api/v1/scheduled-maintenances",
            json!({"name": "Never mind", "starts_at": "2026-11-25T04:00:00Z",
                   "ends_at": "2026-11-25T05:00:00Z", "components": ["Search"]}),
        )
        .await;
    let later = later.expect(201)["id"].as_i64().unwrap();
    s.call(
        reqwest::Method::DELETE,
        &format!("/api/v1/scheduled-maintenances/{later}"),
        Some(&s.responder),
        None,
    )
    .await
    .expect(200);
    let all = public(&s, "scheduled-maintenances.json").await;
    assert_eq!(
        all["scheduled_maintenances"].as_array().unwrap().len(),
        1,
        "{all}"
    );
    s.call(
        reqwest::Method::DELETE,
        &format!("/api/v1/scheduled-maintenances/{id}"),
        Some(&s.responder),
        None,
    )
    .await
    .expect_problem(409);
}

/// A maintenance shows in progress, then completed, on the first read after its start and
/// its end: the snapshot expires at the boundary, not a minute later.
async fn maintenance_moves_on_the_page_at_its_start_and_end(s: common::TestServer) {
    // The harness clock starts at 2026-11-23T03:00:00Z.
    s.post(
        "/api/v1/scheduled-maintenances",
        json!({"name": "Index rebuild", "starts_at": "2026-11-23T03:05:00Z",
               "ends_at": "2026-11-23T03:15:00Z", "components": ["Search"]}),
    )
    .await
    .expect(201);
    let active = |doc: Value| doc["scheduled_maintenances"].as_array().unwrap().len();
    assert_eq!(
        active(public(&s, "scheduled-maintenances/active.json").await),
        0
    );
    // Ten seconds before the start: a fresh snapshot, still scheduled.
    s.clock.advance(jiff::SignedDuration::from_secs(290));
    assert_eq!(
        active(public(&s, "scheduled-maintenances/active.json").await),
        0
    );
    let summary = public(&s, "summary.json").await;
    assert_eq!(component(&summary, "Search")["status"], "operational");
    // Ten seconds after: the same snapshot is 20 s old, but the start is past it.
    s.clock.advance(jiff::SignedDuration::from_secs(20));
    let now = public(&s, "scheduled-maintenances/active.json").await;
    assert_eq!(
        now["scheduled_maintenances"][0]["status"], "in_progress",
        "{now}"
    );
    let summary = public(&s, "summary.json").await;
    assert_eq!(component(&summary, "Search")["status"], "under_maintenance");
    assert_eq!(summary["status"]["indicator"], "maintenance");
    // And the same at the end.
    s.clock.advance(jiff::SignedDuration::from_secs(580));
    assert_eq!(
        active(public(&s, "scheduled-maintenances/active.json").await),
        1
    );
    s.clock.advance(jiff::SignedDuration::from_secs(20));
    assert_eq!(
        active(public(&s, "scheduled-maintenances/active.json").await),
        0
    );
    let all = public(&s, "scheduled-maintenances.json").await;
    assert_eq!(
        all["scheduled_maintenances"][0]["status"], "completed",
        "{all}"
    );
    let summary = public(&s, "summary.json").await;
    assert_eq!(component(&summary, "Search")["status"], "operational");
    assert_eq!(summary["status"]["indicator"], "none");
}

#[tokio::test]
async fn sqlite_maintenance_moves_on_the_page_at_its_start_and_end() {
    maintenance_moves_on_the_page_at_its_start_and_end(common::spawn_with(config()).await).await;
}

#[tokio::test]
async fn postgres_maintenance_moves_on_the_page_at_its_start_and_end() {
    maintenance_moves_on_the_page_at_its_start_and_end(on_postgres().await).await;
}

/// A component's `updated_at` is when what it shows last changed, derived status included,
/// and a maintenance's moves as it starts and ends: Statuspage pollers diff on them.
async fn updated_at_moves_with_what_the_page_shows(s: common::TestServer) {
    // The harness clock starts at 2026-11-23T03:00:00Z, when the components were made.
    let at = |doc: &Value, name: &str| component(doc, name)["updated_at"].clone();
    let components = public(&s, "components.json").await;
    assert_eq!(at(&components, "Checkout API"), "2026-11-23T03:00:00.000Z");

    // A public incident on checkout, at 03:05: the component moves then.
    s.clock.advance(jiff::SignedDuration::from_mins(5));
    let inc = s.declare("Checkout errors", "SEV2").await;
    let id = inc["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"services": ["checkout"]}),
    )
    .await
    .expect(200);
    s.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "public", "template": "investigating"}),
    )
    .await
    .expect(201);
    let components = public(&s, "components.json").await;
    assert_eq!(
        component(&components, "Checkout API")["status"],
        "partial_outage"
    );
    assert_eq!(at(&components, "Checkout API"), "2026-11-23T03:05:00.000Z");
    assert_eq!(
        at(&components, "Payments"),
        "2026-11-23T03:05:00.000Z",
        "its group"
    );
    assert_eq!(at(&components, "Search"), "2026-11-23T03:00:00.000Z");

    // An update that changes nothing it shows leaves it; the resolution moves it again.
    s.clock.advance(jiff::SignedDuration::from_mins(5));
    s.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "public", "status": "identified", "body": "Found it."}),
    )
    .await
    .expect(201);
    let components = public(&s, "components.json").await;
    assert_eq!(at(&components, "Checkout API"), "2026-11-23T03:05:00.000Z");
    s.clock.advance(jiff::SignedDuration::from_mins(5));
    s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"status": "resolved"}),
    )
    .await
    .expect(200);
    let components = public(&s, "components.json").await;
    assert_eq!(
        component(&components, "Checkout API")["status"],
        "operational"
    );
    assert_eq!(at(&components, "Checkout API"), "2026-11-23T03:15:00.000Z");

    // Maintenance on Search from 03:20 to 03:30: it and its component move at both ends.
    s.post(
        "/api/v1/scheduled-maintenances",
        json!({"name": "Index rebuild", "starts_at": "2026-11-23T03:20:00Z",
               "ends_at": "2026-11-23T03:30:00Z", "components": ["Search"]}),
    )
    .await
    .expect(201);
    let maintenance = |doc: &Value| doc["scheduled_maintenances"][0]["updated_at"].clone();
    assert_eq!(
        maintenance(&public(&s, "scheduled-maintenances.json").await),
        "2026-11-23T03:15:00.000Z"
    );
    for (minutes, status, when) in [
        (6, "under_maintenance", "2026-11-23T03:20:00.000Z"),
        (10, "operational", "2026-11-23T03:30:00.000Z"),
    ] {
        s.clock.advance(jiff::SignedDuration::from_mins(minutes));
        let components = public(&s, "components.json").await;
        assert_eq!(component(&components, "Search")["status"], status);
        assert_eq!(at(&components, "Search"), when);
        assert_eq!(
            maintenance(&public(&s, "scheduled-maintenances.json").await),
            when
        );
    }
}

#[tokio::test]
async fn sqlite_updated_at_moves_with_what_the_page_shows() {
    updated_at_moves_with_what_the_page_shows(common::spawn_with(config()).await).await;
}

#[tokio::test]
async fn postgres_updated_at_moves_with_what_the_page_shows() {
    updated_at_moves_with_what_the_page_shows(on_postgres().await).await;
}

#[tokio::test]
async fn sqlite_scheduled_maintenance_shows_and_quiets_alerts() {
    scheduled_maintenance_shows_and_quiets_alerts(common::spawn_with(config()).await).await;
}

#[tokio::test]
async fn postgres_scheduled_maintenance_shows_and_quiets_alerts() {
    scheduled_maintenance_shows_and_quiets_alerts(on_postgres().await).await;
}

#[tokio::test]
async fn sqlite_a_public_incident_runs_its_course() {
    a_public_incident_runs_its_course(common::spawn_with(config()).await).await;
}

#[tokio::test]
async fn sqlite_drills_and_bad_updates_are_refused() {
    drills_and_bad_updates_are_refused(common::spawn_with(config()).await).await;
}

#[tokio::test]
async fn sqlite_components_are_managed_by_admins() {
    components_are_managed_by_admins(common::spawn_with(config()).await).await;
}

#[tokio::test]
async fn sqlite_caching_headers_and_head() {
    caching_headers_and_head(common::spawn_with(config()).await).await;
}

async fn on_postgres() -> common::TestServer {
    let store = common::postgres_store("status").await;
    common::spawn_on(Arc::new(store), config(), tempfile::tempdir().unwrap()).await
}

#[tokio::test]
async fn postgres_a_public_incident_runs_its_course() {
    a_public_incident_runs_its_course(on_postgres().await).await;
}

#[tokio::test]
async fn postgres_drills_and_bad_updates_are_refused() {
    drills_and_bad_updates_are_refused(on_postgres().await).await;
}

#[tokio::test]
async fn postgres_components_are_managed_by_admins() {
    components_are_managed_by_admins(on_postgres().await).await;
}

#[tokio::test]
async fn the_status_listener_serves_the_page_and_nothing_else() {
    let mut config = config();
    config.status_page.listen = Some("127.0.0.1:0".into());
    let s = common::spawn_with(config).await;
    let at = s.running.status_addr.expect("a status listener");
    let root = format!("http://{at}");
    let summary: Value = s
        .http
        .get(format!("{root}/api/v2/summary.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["page"]["name"], "Example Status");
    let prefixed = s
        .http
        .get(format!("{root}/status/api/v2/status.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(prefixed.status(), 200);
    for path in [
        "/api/v1/incidents",
        "/healthz",
        "/api/v1/openapi.json",
        "/ack/x",
    ] {
        let res = s
            .http
            .get(format!("{root}{path}"))
            .bearer_auth(&s.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path} is not on the status listener");
    }
}

/// Two instances on one PostgreSQL: an update posted through one shows on the other's page,
/// because the change feed (LISTEN/NOTIFY) marks its snapshot stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instances_page_follows_within_seconds() {
    let url = std::env::var("FIREBREAK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let first = common::postgres_store("status_two").await;
    let schema = first.schema().expect("a schema of its own").to_string();
    let second = firebreak_store_postgres::PostgresStore::connect_with_schema(&url, &schema)
        .await
        .expect("a second connection to the same schema");
    let a = common::spawn_on(
        std::sync::Arc::new(first),
        config(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let b_dir = tempfile::tempdir().unwrap();
    let b = firebreak::start(
        "127.0.0.1:0",
        std::sync::Arc::new(second),
        config(),
        a.clock.clone(),
    )
    .await
    .expect("the second instance starts");
    let b_url = format!("http://{}/status/api/v2/summary.json", b.addr);
    let read_b = || async {
        a.http
            .get(&b_url)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(read_b().await["incidents"], json!([]));
    let inc = a.declare("Checkout fails", "SEV1").await;
    let id = inc["id"].as_str().unwrap().to_string();
    a.post(
        &format!("/api/v1/incidents/{id}/status-updates"),
        json!({"audience": "public", "body": "We are investigating."}),
    )
    .await
    .expect(201);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let summary = read_b().await;
        if summary["incidents"]
            .as_array()
            .is_some_and(|i| i.len() == 1)
        {
            assert_eq!(summary["incidents"][0]["name"], "Checkout fails");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance's page did not follow: {summary}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(b_dir);
    b.stop().await.unwrap();
}
