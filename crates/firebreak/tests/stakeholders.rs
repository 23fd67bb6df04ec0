//! Stakeholders (`comms.stakeholders`) through the real server and a real SMTP server
//! (aiosmtpd), on both stores: the stakeholders that take an incident (by severity and
//! service) are emailed its declaration, its internal updates and its resolution; the others
//! and public updates are not; drills say so in the subject.

mod common;
mod support_smtp;

use std::sync::Arc;
use std::time::Duration;

use firebreak_domain::Config;
use firebreak_domain::config::Stakeholder;
use serde_json::json;
use support_smtp::SmtpSink;

const SOON: Duration = Duration::from_secs(10);

fn stakeholder(
    email: &str,
    name: Option<&str>,
    services: &[&str],
    severities: &[&str],
) -> Stakeholder {
    Stakeholder {
        email: email.into(),
        name: name.map(String::from),
        services: services
            .iter()
            .map(|s| firebreak_domain::Name::parse(s).unwrap())
            .collect(),
        severities: severities.iter().map(|s| s.to_string()).collect(),
    }
}

fn config(smtp: &SmtpSink) -> Config {
    let mut config = Config::default();
    config.email.smtp_url = Some(smtp.url());
    config.email.from = Some("Firebreak <firebreak@example.com>".into());
    config.server.public_url = Some("https://firebreak.example.com/".into());
    config.services.push(common::service("checkout"));
    config.services.push(common::service("search"));
    config.comms.stakeholders = vec![
        stakeholder("cto@example.com", Some("Dana"), &[], &["SEV1"]),
        stakeholder("payments@example.com", None, &["checkout"], &[]),
        stakeholder("search-lead@example.com", None, &["search"], &[]),
    ];
    config
}

/// The message with quoted-printable soft line breaks undone.
fn unfolded(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
        .replace("\r\n", "\n")
}

/// The messages sent to `to`, unfolded.
fn to(mails: &[String], to: &str) -> Vec<String> {
    mails
        .iter()
        .map(|m| unfolded(m))
        .filter(|m| m.contains(&format!("To: {to}")))
        .collect()
}

/// Waits until nothing more arrives for a while, and gives everything that did.
async fn settled(smtp: &SmtpSink, n: usize) -> Vec<String> {
    let got = smtp.wait_for(n, SOON).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = smtp.messages();
    assert_eq!(after.len(), got.len(), "no more than {n} messages");
    after
}

async fn stakeholders_are_emailed_the_internal_news_of_their_incidents(
    s: common::TestServer,
    smtp: SmtpSink,
) {
    // A SEV1 on checkout: the CTO (every SEV1) and payments (checkout) take it; search does not.
    s.post(
        "/api/v1/incidents",
        json!({"title": "Checkout returns 500s", "severity": "SEV1", "services": ["checkout"],
               "summary": "Card payments fail."}),
    )
    .await
    .expect(201);
    let mails = settled(&smtp, 2).await;
    for who in ["cto@example.com", "payments@example.com"] {
        let got = to(&mails, who);
        assert_eq!(got.len(), 1, "{who}: {mails:?}");
        assert!(
            got[0].contains("Subject: [INC-1 SEV1] Declared: Checkout returns 500s"),
            "{}",
            got[0]
        );
        assert!(got[0].contains("Card payments fail."), "{}", got[0]);
    }
    assert!(to(&mails, "search-lead@example.com").is_empty());

    // An internal update goes to the same two, with the incident's state and its link.
    s.post(
        "/api/v1/incidents/INC-1/status-updates",
        json!({"audience": "internal", "body": "Rolled back the 14:02 deploy; error rate falling."}),
    )
    .await
    .expect(201);
    let mails = settled(&smtp, 4).await;
    for who in ["cto@example.com", "payments@example.com"] {
        let got = to(&mails[2..], who);
        assert_eq!(got.len(), 1, "{who}: {mails:?}");
        let mail = &got[0];
        for part in [
            "Subject: [INC-1 SEV1] Internal update: Checkout returns 500s",
            "Rolled back the 14:02 deploy; error rate falling.",
            "Status: investigating",
            "Severity: SEV1",
            "Services: checkout",
            "Incident Commander: ",
            "https://firebreak.example.com/incidents/INC-1",
        ] {
            assert!(mail.contains(part), "{part} in {mail}");
        }
        assert!(!mail.contains("List-Unsubscribe"), "{mail}");
    }
    assert!(to(&mails[2..], "cto@example.com")[0].contains("Hello Dana,"));

    // A public update is for the status page, not for stakeholders.
    s.post(
        "/api/v1/incidents/INC-1/status-updates",
        json!({"audience": "public", "status": "identified", "body": "We found the cause."}),
    )
    .await
    .expect(201);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(smtp.messages().len(), 4, "no mail for a public update");

    // A SEV3 on search: only search's lead, and only for its internal news.
    s.post(
        "/api/v1/incidents",
        json!({"title": "Search is slow", "severity": "SEV3", "services": ["search"]}),
    )
    .await
    .expect(201);
    let mails = settled(&smtp, 5).await;
    assert_eq!(to(&mails[4..], "search-lead@example.com").len(), 1);

    // Resolving INC-1 tells its two.
    s.patch("/api/v1/incidents/INC-1", json!({"status": "resolved"}))
        .await
        .expect(200);
    let mails = settled(&smtp, 7).await;
    for who in ["cto@example.com", "payments@example.com"] {
        let got = to(&mails[5..], who);
        assert_eq!(got.len(), 1, "{who}: {mails:?}");
        assert!(
            got[0].contains("Subject: [INC-1 SEV1] Resolved: Checkout returns 500s"),
            "{}",
            got[0]
        );
        assert!(got[0].contains("Status: resolved"), "{}", got[0]);
    }

    // A drill says so.
    s.post(
        "/api/v1/incidents",
        json!({"title": "Game day", "severity": "SEV1", "drill": true}),
    )
    .await
    .expect(201);
    let mails = settled(&smtp, 8).await;
    let drill = to(&mails[7..], "cto@example.com");
    assert_eq!(drill.len(), 1, "{mails:?}");
    assert!(
        drill[0].contains("Subject: [DRILL] [INC-3 SEV1] Declared: Game day"),
        "{}",
        drill[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stakeholders_on_sqlite() {
    let smtp = SmtpSink::start();
    let s = common::spawn_with(config(&smtp)).await;
    stakeholders_are_emailed_the_internal_news_of_their_incidents(s, smtp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stakeholders_on_postgres() {
    let smtp = SmtpSink::start();
    let store = common::postgres_store("stakeholders").await;
    let dir = tempfile::tempdir().unwrap();
    let s = common::spawn_on(Arc::new(store), config(&smtp), dir).await;
    stakeholders_are_emailed_the_internal_news_of_their_incidents(s, smtp).await;
}
