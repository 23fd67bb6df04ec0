//! On-call schedules through the running application: a schedule declared in `firebreak.yaml`
//! is stored at start, answers who is on call, and takes overrides that win over its layers.

mod common;

use common::spawn_with;
use firebreak_domain::Name;
use firebreak_engine::{EngineError, Principal};
use jiff::Timestamp;

const CONFIG: &str = "\
users:
  - handle: alice
  - handle: bob
  - handle: carol
schedules:
  - name: primary
    time_zone: Europe/Berlin
    layers:
      - name: week
        members: [alice, bob]
        rotation: {every: 1w, start: \"2026-11-16T09:00\"}
      - name: office-hours
        members: [carol]
        rotation: {every: 1w, start: \"2026-11-16T09:00\"}
        restrict:
          - {days: [mon, tue, wed, thu, fri], from: \"09:00\", to: \"17:00\"}
";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// The field a refusal names.
fn field<T>(r: Result<T, EngineError>) -> String {
    match r {
        Err(EngineError::Invalid { field, .. }) => field,
        Err(other) => panic!("expected Invalid, got {other:?}"),
        Ok(_) => panic!("expected Invalid, got Ok"),
    }
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

#[tokio::test]
async fn a_schedule_from_the_config_file_answers_who_is_on_call_and_takes_overrides() {
    let config =
        firebreak_config::parse(CONFIG, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let s = spawn_with(config).await;
    let app = &s.running.app;
    let admin = Principal::local("test");

    let stored = app.schedules().await.expect("schedules");
    assert_eq!(stored.len(), 1);
    assert!(stored[0].from_config);

    let primary = name("primary");
    // Saturday 21 November, 12:00 in Berlin: the first handoff was Monday 16 November 09:00,
    // so that whole week is alice's.
    let who = |at: &str| {
        let (app, primary) = (app.clone(), primary.clone());
        let at = ts(at);
        async move {
            app.on_call(&primary, at)
                .await
                .expect("on_call")
                .shift
                .map(|s| (s.user.to_string(), s.layer))
        }
    };
    assert_eq!(
        who("2026-11-21T11:00:00Z").await,
        Some(("alice".into(), "week".into()))
    );
    // Monday 23 November 10:00 CET: office hours put carol on top.
    assert_eq!(
        who("2026-11-23T09:00:00Z").await,
        Some(("carol".into(), "office-hours".into()))
    );
    // That evening the weekly layer shows again, and it is bob's week now.
    assert_eq!(
        who("2026-11-23T17:00:00Z").await,
        Some(("bob".into(), "week".into()))
    );
    // Before the first handoff nobody is on call.
    assert_eq!(who("2026-11-16T07:59:59Z").await, None);

    // Alice covers Monday evening for bob.
    let cover = app
        .add_override(
            &admin,
            &primary,
            name("alice"),
            ts("2026-11-23T16:00:00Z"),
            ts("2026-11-23T22:00:00Z"),
        )
        .await
        .expect("add override");
    assert!(cover.cover.id.starts_with("ovr_"), "{}", cover.cover.id);
    assert_eq!(
        who("2026-11-23T17:00:00Z").await,
        Some(("alice".into(), "override".into()))
    );
    let shifts = app
        .shifts(
            &primary,
            ts("2026-11-23T00:00:00Z"),
            ts("2026-11-24T00:00:00Z"),
        )
        .await
        .expect("shifts");
    let got: Vec<(String, String, String, String)> = shifts
        .iter()
        .map(|s| {
            (
                s.user.to_string(),
                s.layer.clone(),
                s.start.to_string(),
                s.end.to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "alice".into(),
                "week".into(),
                "2026-11-23T00:00:00Z".into(),
                "2026-11-23T08:00:00Z".into()
            ),
            (
                "carol".into(),
                "office-hours".into(),
                "2026-11-23T08:00:00Z".into(),
                "2026-11-23T16:00:00Z".into()
            ),
            (
                "alice".into(),
                "override".into(),
                "2026-11-23T16:00:00Z".into(),
                "2026-11-23T22:00:00Z".into()
            ),
            (
                "bob".into(),
                "week".into(),
                "2026-11-23T22:00:00Z".into(),
                "2026-11-24T00:00:00Z".into()
            ),
        ]
    );

    // Starting again with the same file keeps the override.
    app.sync_config(&app.config.clone())
        .await
        .expect("sync again");
    assert_eq!(
        who("2026-11-23T17:00:00Z").await,
        Some(("alice".into(), "override".into()))
    );

    // A schedule from the file is removed in the file, not through the API.
    assert!(matches!(
        app.delete_schedule(&admin, &primary).await,
        Err(EngineError::Conflict(m)) if m.contains("firebreak.yaml")
    ));

    // Removed: bob again; removing it twice says there is no such override.
    app.remove_override(&admin, &primary, &cover.cover.id)
        .await
        .expect("remove override");
    assert_eq!(
        who("2026-11-23T17:00:00Z").await,
        Some(("bob".into(), "week".into()))
    );
    assert!(matches!(
        app.remove_override(&admin, &primary, &cover.cover.id).await,
        Err(EngineError::NotFound(m)) if m.contains("no override")
    ));
}

#[tokio::test]
async fn bad_overrides_and_schedules_are_refused_with_the_field_and_change_nothing() {
    let config =
        firebreak_config::parse(CONFIG, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let s = spawn_with(config).await;
    let app = &s.running.app;
    let admin = Principal::local("test");
    let primary = name("primary");
    let start = ts("2026-11-23T16:00:00Z");
    let end = ts("2026-11-23T22:00:00Z");
    assert_eq!(
        field(
            app.add_override(&admin, &primary, name("mallory"), start, end)
                .await
        ),
        "user"
    );
    assert_eq!(
        field(
            app.add_override(&admin, &primary, name("alice"), end, start)
                .await
        ),
        "end"
    );
    assert_eq!(
        field(
            app.add_override(
                &admin,
                &primary,
                name("alice"),
                ts("9999-01-01T00:00:00Z"),
                end
            )
            .await
        ),
        "start"
    );
    assert!(matches!(
        app.add_override(&admin, &name("nope"), name("alice"), start, end).await,
        Err(EngineError::NotFound(m)) if m.contains("no schedule named `nope`")
    ));
    assert!(
        app.overrides_of(&primary, start, end)
            .await
            .expect("overrides_of")
            .is_empty(),
        "nothing was added"
    );
    // The whole range the API accepts is accepted here too: 2200 up to its last day.
    app.add_override(
        &admin,
        &primary,
        name("alice"),
        ts("2200-12-01T00:00:00Z"),
        ts("2200-12-31T23:00:00Z"),
    )
    .await
    .expect("an override late in 2200");
    assert_eq!(field(app.shifts(&primary, end, start).await), "to");
    assert_eq!(
        field(
            app.shifts(&primary, start, ts("2028-01-01T00:00:00Z"))
                .await
        ),
        "to"
    );

    // A schedule through the application checks its members against the users it knows.
    let yaml = CONFIG
        .replace("members: [carol]", "members: [zed]")
        .replace("primary", "other");
    let err =
        firebreak_config::parse(&yaml, "firebreak.yaml").expect_err("zed is unknown to the file");
    assert!(err.to_string().contains("unknown user \"zed\""), "{err}");
    let mut schedule = app.schedule(&primary).await.expect("primary").schedule;
    schedule.name = name("other");
    schedule.layers[1].members = vec![name("zed")];
    assert_eq!(
        field(app.create_schedule(&admin, schedule).await),
        "layers[1].members[0]"
    );
    assert_eq!(app.schedules().await.expect("schedules").len(), 1);
}

/// The HTTP API: admins add schedules, everyone reads who is on call and the shifts, responders
/// add and remove overrides, and bad input is a 422 naming the field.
#[tokio::test]
async fn schedules_over_http() {
    use reqwest::Method;
    use serde_json::json;

    let config =
        firebreak_config::parse(CONFIG, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let s = spawn_with(config).await;
    let body = json!({
        "name": "db",
        "time_zone": "America/New_York",
        "layers": [{
            "name": "day",
            "members": ["alice", "bob"],
            "rotation": {"every": "1d", "start": "2026-11-01T09:00"},
            "restrict": [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:00"}]
        }]
    });
    let viewer = Some(s.viewer.as_str());
    let responder = Some(s.responder.as_str());
    let admin = Some(s.admin.as_str());
    s.call(
        Method::POST,
        "/api/v1/schedules",
        responder,
        Some(body.clone()),
    )
    .await
    .expect_problem(403);
    let created = s
        .call(Method::POST, "/api/v1/schedules", admin, Some(body.clone()))
        .await;
    let created = created.expect(201);
    assert_eq!(
        created["layers"][0]["rotation"]["start"],
        "2026-11-01T09:00:00"
    );
    assert_eq!(created["layers"][0]["restrict"][0]["days"][4], "fri");
    s.call(Method::POST, "/api/v1/schedules", admin, Some(body.clone()))
        .await
        .expect_problem(409);
    let listed = s.call(Method::GET, "/api/v1/schedules", viewer, None).await;
    let names: Vec<&str> = listed.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db", "primary"]);

    // Monday 2026-11-02, 10:00 in New York (15:00Z): the second day's member, bob.
    let on_call = s
        .call(
            Method::GET,
            "/api/v1/schedules/db/on-call?at=2026-11-02T15:00:00Z",
            viewer,
            None,
        )
        .await;
    assert_eq!(on_call.expect(200)["users"], json!(["bob"]));
    // Saturday: restricted, nobody.
    let weekend = s
        .call(
            Method::GET,
            "/api/v1/schedules/db/on-call?at=2026-11-07T15:00:00Z",
            viewer,
            None,
        )
        .await;
    assert_eq!(weekend.expect(200)["users"], json!([]));

    // Carol covers Monday afternoon; a responder may do that.
    let added = s
        .call(
            Method::POST,
            "/api/v1/schedules/db/overrides",
            responder,
            Some(json!({"user": "carol", "start": "2026-11-02T18:00:00Z", "end": "2026-11-02T22:00:00Z"})),
        )
        .await;
    let id = added.expect(201)["id"].as_str().unwrap().to_string();
    // Anyone can find its id again, to remove it later.
    let listed = s
        .call(
            Method::GET,
            "/api/v1/schedules/db/overrides?from=2026-11-01T00:00:00Z",
            viewer,
            None,
        )
        .await;
    let listed = listed.expect(200)["items"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0]["id"].as_str(), listed[0]["user"].as_str()),
        (Some(id.as_str()), Some("carol"))
    );
    s.call(
        Method::GET,
        "/api/v1/schedules/nope/overrides",
        viewer,
        None,
    )
    .await
    .expect_problem(404);
    let shifts = s
        .call(
            Method::GET,
            "/api/v1/schedules/db/shifts?from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z",
            viewer,
            None,
        )
        .await;
    let items: Vec<(String, String, String, String)> = shifts.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["user"].as_str().unwrap().to_string(),
                i["layer"].as_str().unwrap().to_string(),
                i["start"].as_str().unwrap().to_string(),
                i["end"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![
            (
                "bob".into(),
                "day".into(),
                "2026-11-02T14:00:00Z".into(),
                "2026-11-02T18:00:00Z".into()
            ),
            (
                "carol".into(),
                "override".into(),
                "2026-11-02T18:00:00Z".into(),
                "2026-11-02T22:00:00Z".into()
            ),
        ]
    );
    s.call(
        Method::DELETE,
        &format!("/api/v1/schedules/db/overrides/{id}"),
        responder,
        None,
    )
    .await
    .expect(204);
    s.call(
        Method::DELETE,
        &format!("/api/v1/schedules/db/overrides/{id}"),
        responder,
        None,
    )
    .await
    .expect_problem(404);

    // Bad input names the field and stores nothing.
    let mut unknown = body.clone();
    unknown["name"] = json!("other");
    unknown["layers"][0]["members"] = json!(["alice", "zed"]);
    let refused = s
        .call(Method::POST, "/api/v1/schedules", admin, Some(unknown))
        .await;
    let problem = refused.expect_problem(422);
    assert!(
        problem.to_string().contains("layers[0].members[1]"),
        "{problem}"
    );
    for (field, value) in [
        (
            "every",
            json!({"every": "1 week", "start": "2026-11-01T09:00"}),
        ),
        ("start", json!({"every": "1d", "start": "2026-02-30T09:00"})),
    ] {
        let mut bad = body.clone();
        bad["name"] = json!("other");
        bad["layers"][0]["rotation"] = value;
        let refused = s
            .call(Method::POST, "/api/v1/schedules", admin, Some(bad))
            .await;
        let problem = refused.expect_problem(422);
        assert!(problem.to_string().contains(field), "{field}: {problem}");
    }
    let backwards = s
        .call(
            Method::POST,
            "/api/v1/schedules/db/overrides",
            responder,
            Some(json!({"user": "carol", "start": "2026-11-02T22:00:00Z", "end": "2026-11-02T18:00:00Z"})),
        )
        .await;
    assert!(backwards.expect_problem(422).to_string().contains("end"));
    s.call(Method::GET, "/api/v1/schedules/nope/on-call", viewer, None)
        .await
        .expect_problem(404);
    let listed = s.call(Method::GET, "/api/v1/schedules", viewer, None).await;
    assert_eq!(listed.expect(200)["items"].as_array().unwrap().len(), 2);

    // A schedule an escalation policy pages stays until the policy no longer names it.
    s.call(
        Method::POST,
        "/api/v1/escalation-policies",
        admin,
        Some(json!({"name": "db-pages", "steps": [{"delay": "5m", "targets": [{"schedule": "db"}]}]})),
    )
    .await
    .expect(201);
    let in_use = s
        .call(Method::DELETE, "/api/v1/schedules/db", admin, None)
        .await;
    assert!(
        in_use.expect_problem(409).to_string().contains("db-pages"),
        "the refusal names the policy"
    );
    s.call(
        Method::DELETE,
        "/api/v1/escalation-policies/db-pages",
        admin,
        None,
    )
    .await
    .expect(204);
    s.call(Method::DELETE, "/api/v1/schedules/db", admin, None)
        .await
        .expect(204);
    s.call(Method::GET, "/api/v1/schedules/db", viewer, None)
        .await
        .expect_problem(404);
}

#[tokio::test]
async fn a_schedule_is_replaced_whole_and_keeps_its_overrides() {
    use reqwest::Method;
    use serde_json::json;

    let config =
        firebreak_config::parse(CONFIG, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let s = spawn_with(config).await;
    let admin = Some(s.admin.as_str());
    let layers = |members: &[&str]| {
        json!([{"name": "week", "members": members,
                "rotation": {"every": "1w", "start": "2026-11-02T09:00"}}])
    };
    s.call(
        Method::POST,
        "/api/v1/schedules",
        admin,
        Some(json!({"name": "db", "time_zone": "Europe/Berlin", "layers": layers(&["alice"])})),
    )
    .await
    .expect(201);
    s.call(
        Method::POST,
        "/api/v1/schedules/db/overrides",
        admin,
        Some(
            json!({"user": "bob", "start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}),
        ),
    )
    .await
    .expect(201);
    // bob takes over the rotation in New York time; the override stays.
    let replaced = s
        .call(
            Method::PUT,
            "/api/v1/schedules/db",
            admin,
            Some(json!({"time_zone": "America/New_York", "layers": layers(&["bob", "alice"])})),
        )
        .await;
    let replaced = replaced.expect(200);
    assert_eq!(replaced["time_zone"], "America/New_York");
    assert_eq!(replaced["layers"][0]["members"], json!(["bob", "alice"]));
    let shifts = s
        .call(
            Method::GET,
            "/api/v1/schedules/db/shifts?from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z",
            admin,
            None,
        )
        .await;
    assert_eq!(shifts.expect(200)["items"][0]["layer"], "override");
    // Unknown members change nothing; a missing schedule is 404; the file's is changed there.
    s.call(
        Method::PUT,
        "/api/v1/schedules/db",
        admin,
        Some(json!({"time_zone": "UTC", "layers": layers(&["nobody-here"])})),
    )
    .await
    .expect_problem(422);
    let eight_days = json!({"time_zone": "UTC", "layers": [{"name": "week", "members": ["alice"],
        "rotation": {"every": "1w", "start": "2026-11-02T09:00"},
        "restrict": [{"days": ["fri", "fri", "fri", "fri", "fri", "fri", "fri", "fri"],
                      "from": "09:00", "to": "17:00"}]}]});
    let refused = s
        .call(Method::PUT, "/api/v1/schedules/db", admin, Some(eight_days))
        .await;
    assert_eq!(
        refused.expect_problem(422)["errors"][0]["field"],
        "layers[0].restrict[0].days"
    );
    let kept = s
        .call(Method::GET, "/api/v1/schedules/db", admin, None)
        .await;
    assert_eq!(kept.expect(200)["time_zone"], "America/New_York");
    s.call(
        Method::PUT,
        "/api/v1/schedules/missing",
        admin,
        Some(json!({"time_zone": "UTC", "layers": layers(&["alice"])})),
    )
    .await
    .expect_problem(404);
    let file = s
        .call(
            Method::PUT,
            "/api/v1/schedules/primary",
            admin,
            Some(json!({"time_zone": "UTC", "layers": layers(&["alice"])})),
        )
        .await;
    assert!(
        file.expect_problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("firebreak.yaml")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zoned_start_and_a_past_range_say_what_to_send() {
    use reqwest::Method;
    use serde_json::json;

    let config =
        firebreak_config::parse(CONFIG, "firebreak.yaml").unwrap_or_else(|e| panic!("{e}"));
    let s = spawn_with(config).await;
    let admin = Some(s.admin.as_str());
    let body = |start: &str| {
        json!({
            "name": "db",
            "time_zone": "Europe/Berlin",
            "layers": [{"name": "week", "members": ["alice", "bob"],
                        "rotation": {"every": "1w", "start": start}}]
        })
    };
    // A start with a zone is told that the schedule's time zone applies, as `firebreak check`
    // says, not only how long it may be.
    let refused = s
        .call(
            Method::POST,
            "/api/v1/schedules",
            admin,
            Some(body("2026-03-23T09:00:00Z")),
        )
        .await;
    let problem = refused.expect_problem(422);
    assert_eq!(
        problem["errors"][0]["field"], "layers[0].rotation.start",
        "{problem}"
    );
    let text = problem.to_string();
    assert!(
        text.contains("no zone: the schedule's time_zone applies") && !text.contains("at most"),
        "{problem}"
    );
    s.call(
        Method::GET,
        "/api/v1/schedules/db",
        Some(s.viewer.as_str()),
        None,
    )
    .await
    .expect_problem(404);
    s.call(
        Method::POST,
        "/api/v1/schedules",
        admin,
        Some(body("2026-03-23T09:00")),
    )
    .await
    .expect(201);
    // A range ending in the past with no `from` says that `from` was now.
    let past = s
        .call(
            Method::GET,
            "/api/v1/schedules/db/shifts?to=2026-03-08T00:00:00Z",
            Some(s.viewer.as_str()),
            None,
        )
        .await;
    let problem = past.expect_problem(422);
    assert_eq!(problem["errors"][0]["field"], "to", "{problem}");
    assert!(
        problem.to_string().contains("which is now when left out"),
        "{problem}"
    );
    // With `from`, the same range is answered.
    s.call(
        Method::GET,
        "/api/v1/schedules/db/shifts?from=2026-11-01T00:00:00Z&to=2026-11-08T00:00:00Z",
        Some(s.viewer.as_str()),
        None,
    )
    .await
    .expect(200);
}
