//! Stabilizing safely through the real server, on SQLite and PostgreSQL: the change freeze and
//! its CI gate (`firebreak freeze check` and its exit codes), deploys flagged during a freeze,
//! emergency exemptions, declared freezes on the manual clock; break-glass grants that raise a
//! responder until expiry or resolve, with everything done under them tagged; and the audit
//! log's hash chain, verified by the API and by the CLI, and tampered with in each database.

mod common;

use std::process::Output;
use std::sync::Arc;

use common::TestServer;
use firebreak_domain::Config;
use firebreak_engine::Clock;
use jiff::SignedDuration;
use reqwest::Method;
use serde_json::{Value, json};

fn config() -> Config {
    let mut c = Config::default();
    c.services.push(common::service("checkout"));
    c.services.push(common::service("search"));
    c
}

async fn sqlite() -> TestServer {
    common::spawn_with(config()).await
}

async fn postgres(prefix: &str) -> TestServer {
    let store = common::postgres_store(prefix).await;
    common::spawn_on(Arc::new(store), config(), tempfile::tempdir().unwrap()).await
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("an exit code")
}

fn of_kind<'a>(entries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["kind"] == kind).collect()
}

async fn declare_on(s: &TestServer, token: &str, severity: &str, services: &[&str]) -> String {
    let a = s
        .call(
            Method::POST,
            "/api/v1/incidents",
            Some(token),
            Some(json!({"title": "Checkout returns 500s", "severity": severity, "services": services})),
        )
        .await;
    a.expect(201)["id"].as_str().unwrap().to_string()
}

async fn freeze_gate(s: TestServer) {
    let free = s
        .call(
            Method::GET,
            "/api/v1/freeze?service=checkout",
            Some(&s.viewer),
            None,
        )
        .await;
    assert_eq!(free.expect(200)["frozen"], false);
    let o = s
        .cli(&s.viewer, &["freeze", "check", "--service", "checkout"])
        .await;
    assert_eq!(code(&o), 0, "{}", common::printed(&o));

    let id = declare_on(&s, &s.responder, "SEV1", &["checkout"]).await;
    let frozen = s
        .call(
            Method::GET,
            "/api/v1/freeze?service=checkout",
            Some(&s.viewer),
            None,
        )
        .await;
    let body = frozen.expect(200);
    assert_eq!(body["frozen"], true, "{body}");
    assert_eq!(body["reasons"][0]["incident"], id.as_str());
    assert!(body["reasons"][0]["text"].as_str().unwrap().contains(&id));
    assert_eq!(
        body["until"],
        Value::Null,
        "an incident's freeze has no known end"
    );
    let other = s
        .call(
            Method::GET,
            "/api/v1/freeze?service=search",
            Some(&s.viewer),
            None,
        )
        .await;
    assert_eq!(
        other.expect(200)["frozen"],
        false,
        "only its services freeze"
    );

    // The CI gate: 1 while frozen, with the reason; a rollback is allowed.
    let o = s
        .cli(&s.viewer, &["freeze", "check", "--service", "checkout"])
        .await;
    assert_eq!(code(&o), 1, "{}", common::printed(&o));
    assert!(
        common::printed(&o).contains("FROZEN") && common::printed(&o).contains(&id),
        "{}",
        common::printed(&o)
    );
    let o = s
        .cli(
            &s.viewer,
            &["freeze", "check", "--service", "checkout", "--rollback"],
        )
        .await;
    assert_eq!(code(&o), 0, "{}", common::printed(&o));
    // 3 when it cannot tell: a refused token, an unreachable server.
    let o = s
        .cli(
            "fbt_not_a_real_token",
            &["freeze", "check", "--service", "checkout"],
        )
        .await;
    assert_eq!(code(&o), 3, "{}", common::printed(&o));
    let home = tempfile::tempdir().unwrap();
    let o = common::cli_at(
        "http://127.0.0.1:9",
        &s.viewer,
        &["freeze", "check", "--service", "checkout"],
        home.path(),
    )
    .await;
    assert_eq!(code(&o), 3, "{}", common::printed(&o));
    // A service that does not exist is a usage error, not "frozen".
    let o = s
        .cli(&s.viewer, &["freeze", "check", "--service", "nope"])
        .await;
    assert_eq!(code(&o), 2, "{}", common::printed(&o));
    // A name that breaks the naming rule says so, not "must be a whole number".
    let p = s
        .call(
            Method::GET,
            "/api/v1/freeze?service=Checkout",
            Some(&s.viewer),
            None,
        )
        .await
        .expect_problem(422)
        .clone();
    assert_eq!(p["errors"][0]["field"], "service", "{p}");
    let said = p["errors"][0]["message"].as_str().unwrap();
    assert!(
        !said.contains("whole number") && said.contains("lower"),
        "{p}"
    );

    // A deploy reported during the freeze is flagged on the deploy and the incident.
    let d = s
        .call(
            Method::POST,
            "/api/v1/deployments",
            Some(&s.responder),
            Some(json!({"service": "checkout", "version": "v43", "previous_version": "v42"})),
        )
        .await;
    let d = d.expect(201);
    assert_eq!(d["frozen"], true, "{d}");
    assert!(d["freeze_reasons"][0].as_str().unwrap().contains(&id));
    let rollback = s
        .call(
            Method::POST,
            "/api/v1/deployments",
            Some(&s.responder),
            Some(json!({"service": "checkout", "version": "v42", "rollback": true})),
        )
        .await;
    assert_eq!(
        rollback.expect(201)["frozen"],
        false,
        "rollbacks are always allowed"
    );
    let t = s.timeline(&id).await;
    let flagged = of_kind(&t, "deploy_during_freeze");
    assert_eq!(flagged.len(), 1, "{t:?}");
    assert_eq!(flagged[0]["data"]["version"], "v43");

    // An emergency exemption is recorded on the incident's timeline.
    let o = s
        .cli(
            &s.responder,
            &[
                "freeze",
                "check",
                "--service",
                "checkout",
                "--emergency",
                "--incident",
                &id,
                "--reason",
                "hotfix for the outage itself",
            ],
        )
        .await;
    assert_eq!(code(&o), 0, "{}", common::printed(&o));
    let t = s.timeline(&id).await;
    let exempt = of_kind(&t, "freeze_exemption");
    assert_eq!(exempt.len(), 1);
    assert_eq!(exempt[0]["data"]["reason"], "hotfix for the outage itself");
    assert_eq!(exempt[0]["data"]["by"], common::RESPONDER);
    // A viewer cannot exempt anything: the freeze decides, as without --emergency, so the
    // pipeline does not deploy on a refused exemption.
    let o = s
        .cli(
            &s.viewer,
            &[
                "freeze",
                "check",
                "--service",
                "checkout",
                "--emergency",
                "--incident",
                &id,
                "--reason",
                "x",
            ],
        )
        .await;
    assert_eq!(code(&o), 1, "{}", common::printed(&o));
    assert!(
        common::printed(&o).contains("exemption was refused"),
        "{}",
        common::printed(&o)
    );
    assert_eq!(
        of_kind(&s.timeline(&id).await, "freeze_exemption").len(),
        1,
        "no second exemption"
    );
    // A token the server does not know cannot tell.
    let o = s
        .cli(
            "fbt_not_a_real_token",
            &[
                "freeze",
                "check",
                "--service",
                "checkout",
                "--emergency",
                "--incident",
                &id,
                "--reason",
                "x",
            ],
        )
        .await;
    assert_eq!(code(&o), 3, "{}", common::printed(&o));

    // Mitigating ends the freeze.
    s.call(
        Method::PATCH,
        &format!("/api/v1/incidents/{id}"),
        Some(&s.responder),
        Some(json!({"status": "mitigated"})),
    )
    .await
    .expect(200);
    let o = s
        .cli(&s.viewer, &["freeze", "check", "--service", "checkout"])
        .await;
    assert_eq!(code(&o), 0, "{}", common::printed(&o));

    // A SEV3 freezes nothing by default.
    declare_on(&s, &s.responder, "SEV3", &["checkout"]).await;
    let after = s
        .call(
            Method::GET,
            "/api/v1/freeze?service=checkout",
            Some(&s.viewer),
            None,
        )
        .await;
    assert_eq!(after.expect(200)["frozen"], false);

    // A declared freeze holds through its window, on the manual clock.
    let now = s.clock.now();
    let window = s
        .call(
            Method::POST,
            "/api/v1/freezes",
            Some(&s.responder),
            Some(json!({"ends_at": (now + SignedDuration::from_hours(1)).to_string(), "reason": "Launch day"})),
        )
        .await;
    let window = window.expect(201).clone();
    let v = s
        .call(
            Method::GET,
            "/api/v1/freeze?service=search",
            Some(&s.viewer),
            None,
        )
        .await;
    let v = v.expect(200);
    assert_eq!(v["frozen"], true, "a freeze without services covers all");
    assert_eq!(v["until"], window["ends_at"]);
    s.clock.advance(SignedDuration::from_mins(61));
    let v = s
        .call(
            Method::GET,
            "/api/v1/freeze?service=search",
            Some(&s.viewer),
            None,
        )
        .await;
    assert_eq!(v.expect(200)["frozen"], false);
    // Bad windows change nothing.
    let past = s
        .call(
            Method::POST,
            "/api/v1/freezes",
            Some(&s.responder),
            Some(json!({"ends_at": "2026-01-01T00:00:00Z", "reason": "x"})),
        )
        .await;
    let past = past.expect_problem(422).clone();
    assert_eq!(past["errors"][0]["field"], "ends_at", "{past}");
    assert_eq!(
        past["errors"][0]["message"], "must be in the future",
        "{past}"
    );
    let unknown = s
        .call(
            Method::POST,
            "/api/v1/freezes",
            Some(&s.responder),
            Some(json!({"ends_at": (s.clock.now() + SignedDuration::from_hours(1)).to_string(), "reason": "x", "services": ["nope"]})),
        )
        .await;
    unknown.expect_problem(422);
    let viewer = s
        .call(
            Method::POST,
            "/api/v1/freezes",
            Some(&s.viewer),
            Some(json!({"ends_at": (s.clock.now() + SignedDuration::from_hours(1)).to_string(), "reason": "x"})),
        )
        .await;
    viewer.expect_problem(403);
    let list = s
        .call(Method::GET, "/api/v1/freezes", Some(&s.viewer), None)
        .await;
    assert_eq!(list.expect(200)["items"].as_array().unwrap().len(), 0);
    s.running.stop().await.expect("the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sev1_freezes_its_services_and_ci_hears_it_sqlite() {
    freeze_gate(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sev1_freezes_its_services_and_ci_hears_it_postgres() {
    freeze_gate(postgres("freeze").await).await;
}

async fn audit_rows(s: &TestServer) -> Vec<Value> {
    let res = s
        .http
        .get(format!("{}/api/v1/audit/export", s.base))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    res.text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn break_glass(s: TestServer) {
    let id = declare_on(&s, &s.responder, "SEV2", &["checkout"]).await;
    let grant_on = |incident: String, duration: &'static str| {
        let s = &s;
        async move {
            s.call(
                Method::POST,
                &format!("/api/v1/incidents/{incident}/break-glass"),
                Some(&s.responder),
                Some(json!({"role": "admin", "duration": duration, "reason": "rotate the leaked key"})),
            )
            .await
        }
    };
    // The responder cannot read the audit log yet.
    s.call(Method::GET, "/api/v1/audit", Some(&s.responder), None)
        .await
        .expect_problem(403);
    // Too long, and a viewer, are refused.
    grant_on(id.clone(), "2h").await.expect_problem(422);
    s.call(
        Method::POST,
        &format!("/api/v1/incidents/{id}/break-glass"),
        Some(&s.viewer),
        Some(json!({"role": "admin", "duration": "30m", "reason": "x"})),
    )
    .await
    .expect_problem(403);

    let g = grant_on(id.clone(), "30m").await;
    let g = g.expect(201).clone();
    assert_eq!(g["status"], "active");
    assert_eq!(g["role"], "admin");
    let grant_id = g["id"].as_i64().unwrap();
    assert_eq!(
        g["expires_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap(),
        s.clock.now() + SignedDuration::from_mins(30)
    );
    // Now an admin: it can read the audit log and add a service, and that is tagged.
    s.call(Method::GET, "/api/v1/audit", Some(&s.responder), None)
        .await
        .expect(200);
    s.call(
        Method::POST,
        "/api/v1/services",
        Some(&s.responder),
        Some(json!({"name": "made-under-break-glass"})),
    )
    .await
    .expect(201);
    // It makes no access that would outlast the grant: no token, no new user, no role.
    for (path, method, body) in [
        (
            "/api/v1/tokens",
            Method::POST,
            json!({"name": "keep me", "role": "admin"}),
        ),
        (
            "/api/v1/users",
            Method::POST,
            json!({"handle": "sleeper", "name": "Sleeper", "role": "admin"}),
        ),
        (
            &format!("/api/v1/users/{}", common::RESPONDER),
            Method::PATCH,
            json!({"role": "admin"}),
        ),
    ] {
        let refused = s.call(method, path, Some(&s.responder), Some(body)).await;
        let p = refused.expect_problem(403).clone();
        assert!(
            p["detail"].as_str().unwrap().contains("break-glass"),
            "{path}: {p}"
        );
    }
    let riley = s
        .call(
            Method::GET,
            &format!("/api/v1/users/{}", common::RESPONDER),
            Some(&s.admin),
            None,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(riley["role"], "responder", "{riley}");
    let rows = audit_rows(&s).await;
    assert!(
        !rows
            .iter()
            .any(|r| r["action"] == "token.create" && r["actor"] == common::RESPONDER),
        "no token was made under the grant"
    );
    let made = rows
        .iter()
        .find(|r| r["action"] == "service.create" && r["actor"] == common::RESPONDER)
        .expect("the service's audit row");
    assert_eq!(made["break_glass"], grant_id, "{made}");
    assert_eq!(made["actor"], common::RESPONDER);
    let before: Vec<_> = rows
        .iter()
        .filter(|r| r["action"] == "incident.declare")
        .collect();
    assert_eq!(before[0]["break_glass"], Value::Null);
    let t = s.timeline(&id).await;
    assert_eq!(of_kind(&t, "break_glass_granted").len(), 1);
    // Break-glass runs runbooks; it does not rewrite them (they are code the server runs).
    let rewrite = s
        .call(
            Method::POST,
            "/api/v1/runbooks",
            Some(&s.responder),
            Some(json!({"name": "sneaky", "services": ["checkout"], "body": "x"})),
        )
        .await;
    let p = rewrite.expect_problem(403).clone();
    assert!(p["detail"].as_str().unwrap().contains("break-glass"), "{p}");

    // At expiry it is gone, and the timeline says so.
    s.clock.advance(SignedDuration::from_mins(30));
    s.call(Method::GET, "/api/v1/audit", Some(&s.responder), None)
        .await
        .expect_problem(403);
    let mut ended = Vec::new();
    for _ in 0..100 {
        let t = s.timeline(&id).await;
        ended = of_kind(&t, "break_glass_ended")
            .into_iter()
            .cloned()
            .collect();
        if !ended.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ended.len(), 1, "the expiry is on the timeline");
    assert_eq!(ended[0]["data"]["why"], "expired");

    // A second grant ends when the incident resolves.
    let g2 = grant_on(id.clone(), "1h").await;
    let g2_id = g2.expect(201)["id"].as_i64().unwrap();
    s.call(Method::GET, "/api/v1/audit", Some(&s.responder), None)
        .await
        .expect(200);
    s.call(
        Method::PATCH,
        &format!("/api/v1/incidents/{id}"),
        Some(&s.responder),
        Some(json!({"status": "resolved"})),
    )
    .await
    .expect(200);
    s.call(Method::GET, "/api/v1/audit", Some(&s.responder), None)
        .await
        .expect_problem(403);
    let shown = s
        .call(
            Method::GET,
            &format!("/api/v1/break-glass/{g2_id}"),
            Some(&s.viewer),
            None,
        )
        .await;
    let shown = shown.expect(200);
    assert_eq!(shown["status"], "ended");
    assert_eq!(shown["end_reason"], "incident resolved");
    // No grant on a resolved incident.
    let refused = grant_on(id.clone(), "30m").await;
    let p = refused.expect_problem(409);
    assert!(p.to_string().contains("resolved"), "{p}");

    // The CLI: a grant on a new incident, listed, revoked.
    let id2 = declare_on(&s, &s.responder, "SEV2", &["search"]).await;
    let o = s
        .cli(
            &s.responder,
            &[
                "break-glass",
                "--incident",
                &id2,
                "--role",
                "admin",
                "--for",
                "15m",
                "--reason",
                "failover",
            ],
        )
        .await;
    assert_eq!(code(&o), 0, "{}", common::printed(&o));
    assert!(
        common::printed(&o).contains("holds admin"),
        "{}",
        common::printed(&o)
    );
    let o = s.cli(&s.viewer, &["break-glass", "list"]).await;
    assert!(
        common::printed(&o).contains("failover"),
        "{}",
        common::printed(&o)
    );
    let o = s.cli(&s.responder, &["break-glass"]).await;
    assert_eq!(code(&o), 2, "{}", common::printed(&o));
    s.running.stop().await.expect("the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_raises_a_responder_until_expiry_or_resolve_sqlite() {
    break_glass(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_raises_a_responder_until_expiry_or_resolve_postgres() {
    break_glass(postgres("breakglass").await).await;
}

/// What a test does to the audit log behind Firebreak's back, with the triggers dropped.
enum Tamper {
    /// Change this row's actor.
    Change(i64),
    /// Delete this row and every row after it.
    DropFrom(i64),
    /// Insert a row without a hash, as a forger who does not know the chain would.
    Forge,
}

/// Makes some audited writes, checks that the chain verifies by the API and the CLI, then
/// tampers with the log in each way of [`Tamper`] and checks what finds it.
async fn audit_chain(s: &TestServer, tamper: impl AsyncFn(Tamper)) {
    for sev in ["SEV1", "SEV2", "SEV3"] {
        declare_on(s, &s.responder, sev, &["checkout"]).await;
    }
    let ok = s
        .call(Method::GET, "/api/v1/audit/verify", Some(&s.admin), None)
        .await;
    let ok = ok.expect(200);
    assert_eq!(ok["ok"], true, "{ok}");
    assert!(ok["rows"].as_u64().unwrap() >= 3);
    let o = s.cli(&s.admin, &["audit", "verify"]).await;
    assert_eq!(code(&o), 0, "{}", common::printed(&o));
    assert!(
        common::printed(&o).contains("verifies"),
        "{}",
        common::printed(&o)
    );
    // An export kept elsewhere verifies offline.
    let o = s.cli(&s.admin, &["audit", "export"]).await;
    assert_eq!(code(&o), 0);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &o.stdout).unwrap();
    let kept = file.path().to_str().unwrap();
    let o = s.cli("", &["audit", "verify", "--file", kept]).await;
    assert_eq!(code(&o), 0, "{}", common::printed(&o));
    let o = s
        .cli(&s.admin, &["audit", "verify", "--against", kept])
        .await;
    assert_eq!(code(&o), 0, "{}", common::printed(&o));
    // A viewer cannot read it, and the CLI cannot tell: not "tampered" (1) but 3.
    s.call(Method::GET, "/api/v1/audit/verify", Some(&s.viewer), None)
        .await
        .expect_problem(403);
    let o = s.cli(&s.viewer, &["audit", "verify"]).await;
    assert_eq!(code(&o), 3, "{}", common::printed(&o));

    // The newest row removed: the chain cannot show it, the kept export does.
    let rows = audit_rows(s).await;
    let newest = rows.last().unwrap()["id"].as_i64().unwrap();
    tamper(Tamper::DropFrom(newest)).await;
    let o = s
        .cli(&s.admin, &["audit", "verify", "--against", kept])
        .await;
    assert_eq!(code(&o), 1, "{}", common::printed(&o));
    assert!(
        common::printed(&o).contains(&format!("row {newest} is gone")),
        "{}",
        common::printed(&o)
    );

    // A row forged without a hash stays a break, even after Firebreak appends behind it.
    tamper(Tamper::Forge).await;
    let forged = audit_rows(s).await.last().unwrap()["id"].as_i64().unwrap();
    declare_on(s, &s.responder, "SEV3", &["checkout"]).await;
    let bad = s
        .call(Method::GET, "/api/v1/audit/verify", Some(&s.admin), None)
        .await;
    let bad = bad.expect(200);
    assert_eq!(bad["ok"], false, "{bad}");
    assert_eq!(bad["first_bad_id"], forged, "{bad}");

    // A changed row is named, before the forged one.
    let victim = rows[1]["id"].as_i64().unwrap();
    tamper(Tamper::Change(victim)).await;
    let bad = s
        .call(Method::GET, "/api/v1/audit/verify", Some(&s.admin), None)
        .await;
    let bad = bad.expect(200);
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["first_bad_id"], victim, "{bad}");
    let o = s.cli(&s.admin, &["audit", "verify"]).await;
    assert_eq!(code(&o), 1, "{}", common::printed(&o));
    assert!(
        common::printed(&o).contains(&format!("row {victim}")),
        "{}",
        common::printed(&o)
    );
    // The saved export still verifies: it was taken before the tampering.
    let o = s.cli("", &["audit", "verify", "--file", kept]).await;
    assert_eq!(code(&o), 0, "{}", common::printed(&o));
}

const FORGED: &str = "INSERT INTO audit_log (id, actor, action, target, at, source) \
     VALUES ((SELECT MAX(id) + 1 FROM audit_log), 'alice', 'token.revoke', 'token tok_x', 0, '10.0.0.9')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_the_audit_log_is_found_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("firebreak.db");
    let store = firebreak_store_sqlite::SqliteStore::open(&path)
        .await
        .unwrap();
    let s = common::spawn_on(Arc::new(store), config(), dir).await;
    audit_chain(&s, async |how| {
        let conn = rusqlite::Connection::open(&path).unwrap();
        match how {
            Tamper::Change(id) => {
                // The row cannot be changed while the trigger stands.
                assert!(
                    conn.execute("UPDATE audit_log SET target = 'x' WHERE id = ?1", [id])
                        .is_err()
                );
                conn.execute_batch("DROP TRIGGER audit_log_no_update")
                    .unwrap();
                conn.execute(
                    "UPDATE audit_log SET actor = 'someone-else' WHERE id = ?1",
                    [id],
                )
                .unwrap();
            }
            Tamper::DropFrom(id) => {
                conn.execute_batch("DROP TRIGGER audit_log_no_delete")
                    .unwrap();
                conn.execute("DELETE FROM audit_log WHERE id >= ?1", [id])
                    .unwrap();
            }
            Tamper::Forge => {
                conn.execute(FORGED, []).unwrap();
            }
        }
    })
    .await;
    s.running.stop().await.expect("the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_the_audit_log_is_found_postgres() {
    let store = common::postgres_store("tamper").await;
    let schema = store.schema().unwrap().to_string();
    let s = common::spawn_on(Arc::new(store), config(), tempfile::tempdir().unwrap()).await;
    let url = std::env::var("FIREBREAK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    audit_chain(&s, async |how| {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SET search_path TO \"{schema}\""
        )))
        .execute(&mut *conn)
        .await
        .unwrap();
        match how {
            Tamper::Change(id) => {
                let refused = sqlx::query("UPDATE audit_log SET target = 'x' WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await;
                assert!(refused.is_err(), "the trigger refuses changes");
                sqlx::raw_sql("DROP TRIGGER audit_log_no_update ON audit_log")
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                sqlx::query("UPDATE audit_log SET actor = 'someone-else' WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .unwrap();
            }
            Tamper::DropFrom(id) => {
                sqlx::raw_sql("DROP TRIGGER audit_log_no_delete ON audit_log")
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                sqlx::query("DELETE FROM audit_log WHERE id >= $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await
                    .unwrap();
            }
            Tamper::Forge => {
                sqlx::query(FORGED).execute(&mut *conn).await.unwrap();
            }
        }
    })
    .await;
    pool.close().await;
    s.running.stop().await.expect("the server stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_approval_a_grant_waits_for_the_commander() {
    let mut c = config();
    c.break_glass.approval = true;
    let s = common::spawn_with(c).await;
    let id = declare_on(&s, &s.admin, "SEV2", &["checkout"]).await;
    // The admin declared it, so the admin is its Incident Commander.
    let g = s
        .call(
            Method::POST,
            &format!("/api/v1/incidents/{id}/break-glass"),
            Some(&s.responder),
            Some(json!({"role": "admin", "duration": "20m", "reason": "restore the backup"})),
        )
        .await;
    let g = g.expect(201).clone();
    assert_eq!(g["status"], "pending_approval", "{g}");
    assert_eq!(g["expires_at"], Value::Null);
    let gid = g["id"].as_i64().unwrap();
    // Not in force yet; the requester cannot approve it.
    s.call(Method::GET, "/api/v1/audit", Some(&s.responder), None)
        .await
        .expect_problem(403);
    s.call(
        Method::POST,
        &format!("/api/v1/break-glass/{gid}/approve"),
        Some(&s.responder),
        None,
    )
    .await
    .expect_problem(403);
    let t = s.timeline(&id).await;
    assert_eq!(of_kind(&t, "break_glass_requested").len(), 1);
    s.clock.advance(SignedDuration::from_mins(5));
    let approved = s
        .call(
            Method::POST,
            &format!("/api/v1/break-glass/{gid}/approve"),
            Some(&s.admin),
            None,
        )
        .await;
    let approved = approved.expect(200).clone();
    assert_eq!(approved["status"], "active");
    assert_eq!(approved["approved_by"], "admin");
    // Its time runs from the approval.
    assert_eq!(
        approved["expires_at"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap(),
        s.clock.now() + SignedDuration::from_mins(20)
    );
    s.call(Method::GET, "/api/v1/audit", Some(&s.responder), None)
        .await
        .expect(200);
    // The holder ends it early.
    let ended = s
        .call(
            Method::POST,
            &format!("/api/v1/break-glass/{gid}/revoke"),
            Some(&s.responder),
            None,
        )
        .await;
    assert_eq!(ended.expect(200)["status"], "ended");
    s.call(Method::GET, "/api/v1/audit", Some(&s.responder), None)
        .await
        .expect_problem(403);
    s.running.stop().await.expect("the server stops");
}
