//! The review pages over real HTTP: the postmortem page's edits, stale saves and publishing,
//! that a viewer reads it and is refused every change (403, nothing changed), overdue action
//! items on home on the manual clock, and the reports page's charts. `web_browser.rs` runs
//! the same pages in chromium.

mod common;

use common::{RESPONDER, TestServer, VIEWER, spawn};
use jiff::SignedDuration;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

const PASSWORD: &str = "correct horse battery";

/// A signed-in browser: its session cookie and the CSRF token its forms carry. Redirects are
/// not followed, so each answer can be checked.
struct Tab<'a> {
    s: &'a TestServer,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl<'a> Tab<'a> {
    async fn sign_in(s: &'a TestServer, handle: &str) -> Tab<'a> {
        s.call(
            reqwest::Method::PUT,
            &format!("/api/v1/users/{handle}/password"),
            Some(&s.admin),
            Some(json!({ "password": PASSWORD })),
        )
        .await
        .expect(204);
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let res = http
            .post(format!("{}/login", s.base))
            .form(&[("login", handle), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{handle} signs in");
        let cookie = res.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let mut tab = Tab {
            s,
            http,
            cookie,
            csrf: String::new(),
        };
        let (_, home) = tab.get("/").await;
        tab.csrf = field(&home, "_csrf").expect("home carries the CSRF token");
        tab
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.s.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    }

    /// Posts a form with the session's CSRF token; the answer's status, `Location` and body.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut fields = form.to_vec();
        fields.push(("_csrf", &self.csrf));
        let res = self
            .http
            .post(format!("{}{path}", self.s.base))
            .header(COOKIE, &self.cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        let location = res
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (res.status(), location, res.text().await.unwrap())
    }
}

/// The value of the first `name="..." value="..."` input in a page.
fn field(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let at = html.find(&needle)? + needle.len();
    Some(html[at..at + html[at..].find('"')?].to_string())
}

/// The id of the first action item a page lists.
fn item_on(html: &str) -> String {
    html.split("id=\"item-")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page lists an action item")
        .to_string()
}

/// The version the postmortem page shows.
fn version_on(html: &str) -> i64 {
    let at = html
        .find("id=\"pm-version\">version ")
        .expect("the page shows a version")
        + "id=\"pm-version\">version ".len();
    html[at..].split(' ').next().unwrap().parse().unwrap()
}

/// Declares an incident on the API, resolves it, and drafts its postmortem from the room's
/// "Draft now" (unless resolving already did). Returns its number.
async fn resolved_with_postmortem(s: &TestServer, tab: &Tab<'_>, title: &str) -> String {
    let incident = s.declare(title, "SEV2").await;
    let id = incident["id"]
        .as_str()
        .unwrap()
        .trim_start_matches("INC-")
        .to_string();
    s.patch(
        &format!("/api/v1/incidents/{id}"),
        json!({"status": "resolved"}),
    )
    .await
    .expect(200);
    let path = format!("/incidents/{id}/postmortem");
    let (status, html) = tab.get(&path).await;
    assert_eq!(status, 200);
    if html.contains("Draft now") {
        let (status, location, body) = tab.post(&path, &[]).await;
        assert!(
            status == StatusCode::SEE_OTHER || status == StatusCode::CONFLICT,
            "{status} {body}"
        );
        assert!(status != StatusCode::SEE_OTHER || location.contains("notice=drafted"));
    }
    id
}

#[tokio::test]
async fn a_section_is_saved_and_a_stale_save_keeps_the_typed_text() {
    let s = spawn().await;
    let riley = Tab::sign_in(&s, RESPONDER).await;
    let id = resolved_with_postmortem(&s, &riley, "Checkout returns 500s").await;
    let path = format!("/incidents/{id}/postmortem");
    let (_, html) = riley.get(&path).await;
    let v = version_on(&html);
    let first = "The outage was human error <script>alert(1)</script>.";
    let (status, location, _) = riley
        .post(
            &format!("{path}/sections/summary"),
            &[("version", &v.to_string()), ("markdown", first)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.ends_with("notice=saved#section-summary"),
        "{location}"
    );
    let (_, html) = riley.get(&path).await;
    assert_eq!(version_on(&html), v + 1);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert")
    );
    assert!(
        html.contains("<mark title="),
        "the finding is marked in the text"
    );
    assert!(html.contains("human error</mark>"), "{html}");
    // A second save from the page as it was before: refused, explained, and the text kept.
    let typed = "Every checkout failed for 40 minutes.";
    let (status, _, body) = riley
        .post(
            &format!("{path}/sections/impact"),
            &[("version", &v.to_string()), ("markdown", typed)],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body.contains(&format!("changed since version {v}")),
        "{body}"
    );
    assert!(
        body.contains(&format!(">{typed}</textarea>")),
        "the typed text stays in its box"
    );
    assert!(
        body.contains("<details class=\"pm-edit\" open>"),
        "its box is open"
    );
    // The refreshed form names the new version, so saving again works.
    let (status, _, _) = riley
        .post(
            &format!("{path}/sections/impact"),
            &[("version", &(v + 1).to_string()), ("markdown", typed)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Publishing with the finding open asks first; nothing changes until confirmed.
    let (status, _, body) = riley.post(&format!("{path}/publish"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Publish anyway") && body.contains("id=\"confirm\""),
        "{body}"
    );
    let (_, html) = riley.get(&path).await;
    assert!(html.contains("postmortem: draft"));
    let (status, _, _) = riley
        .post(&format!("{path}/publish"), &[("confirm", "1")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = riley.get(&path).await;
    assert!(html.contains("postmortem: published"), "{html}");
    // The room shows it beside the lifecycle status.
    let (_, room) = riley.get(&format!("/incidents/{id}")).await;
    assert!(room.contains("postmortem: published"), "{room}");
    // The Markdown export.
    let (status, md) = riley.get(&format!("{path}.md")).await;
    assert_eq!(status, 200);
    assert!(
        md.contains("## Summary") && md.contains("human error <script>"),
        "{md}"
    );
}

#[tokio::test]
async fn a_viewer_reads_the_postmortem_and_is_refused_every_change() {
    let s = spawn().await;
    let riley = Tab::sign_in(&s, RESPONDER).await;
    let id = resolved_with_postmortem(&s, &riley, "Search is slow").await;
    let path = format!("/incidents/{id}/postmortem");
    let (_, html) = riley.get(&path).await;
    let v = version_on(&html).to_string();
    let (status, _, _) = riley
        .post(
            &format!("/incidents/{id}/action-items"),
            &[
                ("title", "Cache the search index"),
                ("owner", RESPONDER),
                ("due", "2026-12-31"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let item_id = item_on(&riley.get(&path).await.1);
    let val = Tab::sign_in(&s, VIEWER).await;
    let (status, html) = val.get(&path).await;
    assert_eq!(status, 200);
    assert!(html.contains("Cache the search index"));
    for control in [
        "Save",
        "Publish",
        "Move to review",
        "Add action item",
        "Dismiss",
        ">Done<",
    ] {
        assert!(!html.contains(control), "a viewer sees no `{control}`");
    }
    let refused: [(String, Vec<(&str, &str)>); 7] = [
        (
            format!("{path}/sections/summary"),
            vec![("version", &v), ("markdown", "sneaky")],
        ),
        (
            format!("{path}/status"),
            vec![("version", &v), ("status", "in_review")],
        ),
        (format!("{path}/publish"), vec![("confirm", "1")]),
        (
            format!("{path}/dismiss"),
            vec![("key", "human-error:human error"), ("reason", "x")],
        ),
        (path.clone(), vec![]),
        (
            format!("/incidents/{id}/action-items"),
            vec![
                ("title", "sneaky"),
                ("owner", VIEWER),
                ("due", "2026-12-31"),
            ],
        ),
        (format!("/action-items/{item_id}"), vec![("status", "done")]),
    ];
    for (to, form) in refused {
        let (status, _, body) = val.post(&to, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{to}");
        assert!(body.contains("needs the responder role"), "{to}: {body}");
    }
    let (_, after) = riley.get(&path).await;
    assert_eq!(version_on(&after).to_string(), v, "nothing changed");
    assert!(!after.contains("sneaky"));
    assert!(after.contains("it-open"), "the item is still open");
    // Reading is allowed: the export and the lists.
    assert_eq!(val.get(&format!("{path}.md")).await.0, 200);
    assert_eq!(val.get("/action-items").await.0, 200);
    assert_eq!(val.get("/reports").await.0, 200);
}

#[tokio::test]
async fn overdue_action_items_wait_on_their_owners_home_page() {
    let s = spawn().await;
    let riley = Tab::sign_in(&s, RESPONDER).await;
    let id = resolved_with_postmortem(&s, &riley, "Payments time out").await;
    let path = format!("/incidents/{id}/postmortem");
    let (status, location, body) = riley
        .post(
            &format!("/incidents/{id}/action-items"),
            &[
                ("title", "Raise the payments pool <b>limit</b>"),
                ("owner", RESPONDER),
                ("due", "2026-11-25"),
                ("ticket_url", "https://tracker.example.com/OPS-7"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(location.contains("notice=item_added"));
    // A due date that has passed is refused, and the form comes back as it was filled in.
    let (status, _, body) = riley
        .post(
            &format!("/incidents/{id}/action-items"),
            &[
                ("title", "Too late"),
                ("owner", RESPONDER),
                ("due", "2026-11-01"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("value=\"Too late\"") && body.contains("has passed"),
        "{body}"
    );
    let (_, home) = riley.get("/").await;
    assert!(!home.contains("Your overdue action items"), "not due yet");
    s.clock.advance(SignedDuration::from_hours(24 * 3));
    // Three days is past a session's idle timeout: sign in again.
    let riley = Tab::sign_in(&s, RESPONDER).await;
    let (_, home) = riley.get("/").await;
    assert!(home.contains("Your overdue action items"), "{home}");
    assert!(
        home.contains("Raise the payments pool &#60;b&#62;limit&#60;/b&#62;")
            || home.contains("Raise the payments pool &lt;b&gt;"),
        "{home}"
    );
    assert!(home.contains(&format!("/incidents/{id}/postmortem#action-items")));
    let (_, list) = riley.get("/action-items?overdue=1").await;
    assert!(list.contains("Raise the payments pool") && list.contains("overdue"));
    let (_, list) = riley.get("/action-items?owner=val").await;
    assert!(
        !list.contains("Raise the payments pool"),
        "another owner's list"
    );
    // Done from home: it leaves the list, and home goes back to where it came from.
    let item_id = item_on(&home);
    let (status, location, _) = riley
        .post(
            &format!("/action-items/{item_id}"),
            &[("status", "done"), ("back", "/")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/?notice=item_changed");
    let (_, home) = riley.get("/").await;
    assert!(!home.contains("Your overdue action items"));
    // Won't do needs a reason.
    let (status, _, body) = riley
        .post(
            &format!("/action-items/{item_id}"),
            &[("status", "wont_do")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, page) = riley.get(&path).await;
    assert!(
        page.contains("it-done"),
        "the postmortem page lists it done"
    );
}

#[tokio::test]
async fn the_reports_page_draws_its_charts_from_the_period() {
    let s = spawn().await;
    let riley = Tab::sign_in(&s, RESPONDER).await;
    // Nothing yet: empty charts say so, and nothing is NaN.
    let (status, html) = riley.get("/reports").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
    assert!(!html.contains("NaN"));
    resolved_with_postmortem(&s, &riley, "Checkout returns 500s").await;
    s.clock.advance(SignedDuration::from_hours(24 * 8));
    let riley = Tab::sign_in(&s, RESPONDER).await;
    resolved_with_postmortem(&s, &riley, "Search is slow").await;
    for days in ["30", "90", "365"] {
        let (status, html) = riley.get(&format!("/reports?days={days}")).await;
        assert_eq!(status, 200);
        assert!(!html.contains("NaN") && !html.contains("inf\""), "{html}");
        assert!(html.contains("role=\"img\"") && html.contains("<title id=\"chart-times-t\">"));
        assert!(html.contains("class=\"bar c-sev-0\""), "a SEV2 bar: {html}");
        assert!(html.contains("<th scope=\"row\">SEV2</th>"), "{html}");
        assert!(html.contains(&format!("aria-current=\"page\">Last {days} days")));
    }
    let (status, _) = riley.get("/reports?days=7").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = riley.get("/reports?days=soon").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Game days: none yet, then one running, then its score and the trend chart.
    let (_, html) = riley.get("/reports").await;
    assert!(html.contains("No game day in this period"), "{html}");
    s.call(
        reqwest::Method::POST,
        "/api/v1/services",
        Some(&s.admin),
        Some(json!({"name": "checkout"})),
    )
    .await
    .expect(201);
    let started = s
        .post(
            "/api/v1/gamedays",
            json!({"name": "Rollback <drill>", "service": "checkout", "severity": "SEV2",
                   "targets": {"acknowledged_within": "5m", "declared_within": "10m"}}),
        )
        .await;
    let id = started.expect(201)["id"].as_i64().unwrap();
    let (_, html) = riley.get("/reports").await;
    assert!(
        html.contains("Rollback &#60;drill&#62;") && !html.contains("<drill>"),
        "escaped: {html}"
    );
    assert!(html.contains("running"), "{html}");
    assert!(!html.contains("chart-gamedays"), "no finished game day yet");
    s.post(&format!("/api/v1/gamedays/{id}/finish"), json!({}))
        .await
        .expect(200);
    let (_, html) = riley.get("/reports").await;
    assert!(html.contains("0 of 2 passed"), "{html}");
    assert!(html.contains("chart-gamedays"), "{html}");
    assert!(!html.contains("NaN"));
}
