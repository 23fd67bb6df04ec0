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
