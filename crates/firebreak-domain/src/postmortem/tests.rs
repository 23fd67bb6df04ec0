use std::collections::BTreeMap;

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::draft::span;
use super::*;
use crate::config::Config;
use crate::status_page::{Audience, PublicStatus, StatusUpdate};
use crate::timeline::TimelineEvent as E;
use crate::{Incident, IncidentNumber, Name, Status};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// 2026-03-14 at `hm` (`14:02` or `14:02:30`), UTC.
fn t(hm: &str) -> Timestamp {
    let hms = if hm.len() == 5 {
        format!("{hm}:00")
    } else {
        hm.to_string()
    };
    at(&format!("2026-03-14T{hms}Z"))
}

fn incident(detected: Timestamp) -> Incident {
    Incident {
        number: IncidentNumber(7),
        title: "Card payments failing at checkout".into(),
        public_title: None,
        severity: "SEV1".into(),
        status: Status::Investigating,
        services: vec![
            Name::parse("api").unwrap(),
            Name::parse("payments").unwrap(),
        ],
        summary: String::new(),
        customer_impact: String::new(),
        drill: false,
        detected_at: detected,
        declared_at: detected,
        acknowledged_at: None,
        mitigated_at: None,
        resolved_at: None,
        updated_at: detected,
        declared_by: "firebreak".into(),
        roles: BTreeMap::new(),
        checklist: Vec::new(),
        version: 1,
    }
}

fn item(id: i64, title: &str, owner: &str, due: Date, ticket: Option<&str>) -> ItemLine {
    ItemLine {
        id,
        title: title.into(),
        owner: owner.into(),
        due,
        state: ItemState::Open,
        ticket_url: ticket.map(str::to_string),
    }
}

/// Builds a timeline entry by entry, numbering them.
#[derive(Default)]
struct Script {
    entries: Vec<Entry>,
}

impl Script {
    fn at(&mut self, when: Timestamp, actor: &str, event: E) -> &mut Self {
        self.entries.push(Entry {
            seq: self.entries.len() as i64 + 1,
            at: when,
            actor: actor.into(),
            event,
        });
        self
    }
}

fn update(audience: Audience, status: Option<PublicStatus>, body: &str) -> E {
    E::StatusUpdate(StatusUpdate {
        audience,
        status,
        body: body.into(),
        components: BTreeMap::new(),
        notify: true,
    })
}

fn paged(step: u32, user: &str, method: &str) -> E {
    E::Paged {
        escalation: "esc-1".into(),
        step,
        round: 0,
        user: user.into(),
        method: method.into(),
        contact: format!("{user}-{method}"),
    }
}

fn delivered(user: &str, method: &str) -> E {
    E::PageDelivered {
        escalation: "esc-1".into(),
        user: user.into(),
        method: method.into(),
        contact: format!("{user}-{method}"),
    }
}

fn failed(user: &str, method: &str, reason: &str) -> E {
    E::PageFailed {
        escalation: "esc-1".into(),
        user: user.into(),
        method: method.into(),
        contact: format!("{user}-{method}"),
        reason: reason.into(),
    }
}

fn attached(alert: i64) -> E {
    E::AlertAttached {
        alert,
        summary: "Checkout error rate above 5%".into(),
        severity: "critical".into(),
        service: "api".into(),
    }
}

fn status(from: &str, to: &str) -> E {
    E::StatusChanged {
        from: from.into(),
        to: to.into(),
    }
}

/// The scripted incident: declared from an alert that kept firing, two people paged (one page
/// failed), acknowledged, a note, a public update, break-glass, a rollback, mitigated,
/// resolved, one action item.
fn scripted() -> DraftInput {
    let mut i = incident(t("14:01"));
    i.declared_at = t("14:02");
    i.acknowledged_at = Some(t("14:05:40"));
    i.mitigated_at = Some(t("14:31"));
    i.resolved_at = Some(t("15:14"));
    i.status = Status::Resolved;
    i.summary = "Declared by Firebreak from an alert on api: Checkout error rate above 5%".into();
    i.customer_impact =
        "Card payments at checkout fail with \"payment declined\"; PayPal is unaffected.".into();
    i.roles.insert("incident-commander".into(), "alice".into());
    let mut s = Script::default();
    s.at(
        t("14:02"),
        "firebreak",
        E::Declared {
            title: i.title.clone(),
            severity: "SEV1".into(),
            services: vec!["api".into(), "payments".into()],
            drill: false,
        },
    )
    .at(t("14:02"), "firebreak", attached(12))
    .at(
        t("14:02:01"),
        "firebreak",
        E::EscalationStarted {
            escalation: "esc-1".into(),
            policy: "payments-primary".into(),
            alert: Some(12),
        },
    )
    .at(t("14:02:01"), "firebreak", paged(0, "alice", "email"))
    .at(t("14:02:01"), "firebreak", paged(0, "bob", "sms"))
    .at(t("14:02:03"), "firebreak", delivered("alice", "email"))
    .at(
        t("14:02:05"),
        "firebreak",
        failed("bob", "sms", "carrier rejected the number (21211)"),
    )
    .at(
        t("14:05:40"),
        "alice",
        E::Acknowledged {
            escalation: Some("esc-1".into()),
            by: "alice".into(),
            via: "link".into(),
        },
    )
    .at(
        t("14:06"),
        "alice",
        E::RoleAssigned {
            role: "incident-commander".into(),
            role_name: "Incident Commander".into(),
            user: "alice".into(),
            previous: None,
            reason: None,
        },
    )
    .at(
        t("14:09"),
        "alice",
        E::Note {
            body: "Only card payments fail; PayPal is fine.\napi 1.4.2 went out at 13:54 and \
                   changed the provider timeout from 10s | 2s. Rolling back."
                .into(),
        },
    )
    .at(
        t("14:11"),
        "alice",
        update(
            Audience::Public,
            Some(PublicStatus::Investigating),
            "Some card payments are failing at checkout. We are investigating.",
        ),
    )
    .at(
        t("14:12"),
        "bob",
        E::CommandRun {
            argv: vec![
                "kubectl".into(),
                "-n".into(),
                "payments".into(),
                "logs".into(),
                "deploy/api".into(),
                "--since=30m".into(),
            ],
            exit_code: 0,
            duration_ms: 2_300,
            output_tail: "timeout after 2000ms".into(),
            host: Some("bob-laptop".into()),
        },
    )
    .at(
        t("14:14"),
        "bob",
        E::BreakGlassRequested {
            grant: 3,
            user: "bob".into(),
            role: "db-admin".into(),
            duration: "30m".into(),
            reason: "read payment_attempts to see which providers time out".into(),
        },
    )
    .at(
        t("14:15"),
        "alice",
        E::BreakGlassGranted {
            grant: 3,
            user: "bob".into(),
            role: "db-admin".into(),
            expires_at: "2026-03-14T14:45:00Z".into(),
            reason: "read payment_attempts to see which providers time out".into(),
            approved_by: Some("alice".into()),
        },
    )
    .at(
        t("14:18"),
        "alice",
        E::ActionRequested {
            run: 9,
            action: "rollback".into(),
            shown: "deployctl rollback api --to 1.4.1".into(),
            needs_approval: true,
        },
    )
    .at(
        t("14:19"),
        "carol",
        E::ActionApproved {
            run: 9,
            action: "rollback".into(),
            by: "carol".into(),
        },
    )
    .at(
        t("14:19"),
        "carol",
        E::ActionStarted {
            run: 9,
            action: "rollback".into(),
        },
    )
    .at(
        t("14:20"),
        "carol",
        E::ActionFinished {
            run: 9,
            action: "rollback".into(),
            status: "succeeded".into(),
            exit_code: Some(0),
            duration_ms: Some(48_000),
            output_tail: "api rolled back to 1.4.1".into(),
        },
    )
    .at(t("14:31"), "alice", status("investigating", "mitigated"))
    .at(
        t("14:32"),
        "alice",
        update(
            Audience::Public,
            Some(PublicStatus::Monitoring),
            "A fix has been applied and card payments are succeeding again. We are monitoring.",
        ),
    )
    .at(
        t("14:41"),
        "alertmanager",
        E::AlertResolved {
            alert: 12,
            summary: "Checkout error rate above 5%".into(),
            all_resolved: true,
        },
    )
    .at(
        t("14:45"),
        "firebreak",
        E::BreakGlassEnded {
            grant: 3,
            user: "bob".into(),
            why: "expired".into(),
        },
    )
    .at(t("15:14"), "alice", status("mitigated", "resolved"))
    .at(
        t("15:14"),
        "alice",
        update(
            Audience::Public,
            Some(PublicStatus::Resolved),
            "Card payments have worked normally since 14:31 UTC.",
        ),
    )
    .at(
        t("15:20"),
        "alice",
        E::ActionItemAdded {
            item: 4,
            title: "Alert on payment-provider timeouts per provider".into(),
            owner: "alice".into(),
            due: "2026-03-28".into(),
        },
    )
    .at(t("15:21"), "firebreak", E::PostmortemDrafted { version: 1 });
    let config = Config::default();
    DraftInput {
        entries: s.entries,
        alerts: vec![AttachedAlert {
            id: 12,
            summary: "Checkout error rate above 5%".into(),
            service: "api".into(),
            started_at: Some(t("14:01")),
            first_seen: t("14:02"),
            last_seen: t("14:40"),
            count: 37,
        }],
        components: vec!["Checkout".into(), "Card payments".into()],
        deploys: vec![SuspectDeploy {
            service: "api".into(),
            version: "1.4.2".into(),
            previous: Some("1.4.1".into()),
            at: t("13:54"),
        }],
        items: vec![item(
            4,
            "Alert on payment-provider timeouts per provider",
            "alice",
            date(2026, 3, 28),
            Some("https://tickets.example.com/PAY-231"),
        )],
        severity: config.severity("SEV1").cloned(),
        ..DraftInput::new(i)
    }
}

fn markdown_of(input: &DraftInput) -> String {
    to_markdown(
        input.incident.number,
        &input.incident.title,
        PostmortemStatus::Draft,
        &draft(input),
    )
}

fn section<'a>(sections: &'a [Section], key: &str) -> &'a str {
    &sections.iter().find(|s| s.key == key).unwrap().markdown
}

#[test]
fn the_scripted_incident_drafts_a_postmortem_to_start_from() {
    insta::assert_snapshot!(markdown_of(&scripted()));
}

#[test]
fn a_draft_is_valid_reads_back_and_blames_nobody() {
    let sections = draft(&scripted());
    assert_eq!(
        sections.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
        SECTIONS.map(|(k, _)| k)
    );
    assert_eq!(check_sections(&sections).unwrap(), sections);
    let md = to_markdown(IncidentNumber(7), "t", PostmortemStatus::Draft, &sections);
    assert_eq!(from_markdown(&md).unwrap(), sections);
    let texts: Vec<(&str, &str)> = sections
        .iter()
        .map(|s| (s.key.as_str(), s.markdown.as_str()))
        .collect();
    let findings = crate::blameless::check(
        &crate::blameless::Rules::default(),
        &texts,
        &["alice", "bob", "carol"],
    );
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn every_section_but_action_items_asks_people_something() {
    let prompts = open_prompts(&draft(&scripted()));
    assert_eq!(
        prompts,
        vec![
            ("summary".to_string(), 1),
            ("impact".to_string(), 1),
            ("timeline".to_string(), 1),
            ("contributing_factors".to_string(), 1),
            ("went_well".to_string(), 1),
            ("went_poorly".to_string(), 1),
            ("security_review".to_string(), 3),
        ]
    );
    let mut none = scripted();
    none.items.clear();
    assert!(
        open_prompts(&draft(&none)).contains(&("action_items".to_string(), 1)),
        "with no action items, the section asks for some"
    );
}

#[test]
fn prompts_in_code_or_answered_are_not_counted() {
    let s = |md: &str| Section::new("summary", md.into());
    assert_eq!(
        open_prompts(&[s("Done.\n\n```\n> **To fill in:** quoted\n```")]),
        vec![]
    );
    assert_eq!(
        open_prompts(&[s("> **To fill in:** a\n  > **To fill in:** b")]),
        vec![("summary".to_string(), 2)]
    );
}

#[test]
fn the_status_moves_allowed_and_refused() {
    use PostmortemStatus::*;
    let allowed = [
        (Draft, InReview),
        (InReview, Draft),
        (Draft, Published),
        (InReview, Published),
        (Published, Draft),
    ];
    for from in PostmortemStatus::ALL {
        for to in PostmortemStatus::ALL {
            assert_eq!(
                check_move(from, to).is_ok(),
                allowed.contains(&(from, to)),
                "{from:?} → {to:?}"
            );
        }
    }
    assert_eq!(
        check_move(Published, InReview).unwrap_err().to_string(),
        "a postmortem cannot go from `published` to `in_review`; from `published` it can go to \
         `draft` (reopen it)"
    );
    assert_eq!(
        check_move(Published, Published).unwrap_err().to_string(),
        "the postmortem is already `published`; from `published` it can go to `draft` (reopen it)"
    );
    assert_eq!(
        check_move(Draft, Draft).unwrap_err().to_string(),
        "the postmortem is already `draft`; from `draft` it can go to `in_review` (send it for \
         review) or `published` (publish)"
    );
}

#[test]
fn statuses_read_back_from_their_names() {
    for s in PostmortemStatus::ALL {
        assert_eq!(PostmortemStatus::parse(s.as_str()), Some(s));
    }
    assert_eq!(PostmortemStatus::parse("review"), None);
}

fn sent(key: &str, md: &str) -> Section {
    Section {
        key: key.into(),
        title: "whatever the client says".into(),
        markdown: md.into(),
    }
}

#[test]
fn sections_sent_are_checked_and_each_error_names_its_section() {
    let err = |sections: &[Section]| check_sections(sections).unwrap_err().to_string();
    assert_eq!(
        err(&[sent("root_cause", "x")]),
        "there is no section `root_cause`; the sections are `summary`, `impact`, `timeline`, \
         `contributing_factors`, `went_well`, `went_poorly`, `action_items`, `security_review`"
    );
    assert_eq!(
        err(&[sent("impact", "a"), sent("impact", "b")]),
        "section `impact` is sent twice; send each section at most once"
    );
    assert_eq!(
        err(&[sent("timeline", &"x".repeat(MARKDOWN_MAX + 1))]),
        "section `timeline` is 50001 characters long; a section may hold at most 50000"
    );
    assert!(check_sections(&[sent("timeline", &"é".repeat(MARKDOWN_MAX))]).is_ok());
    assert_eq!(
        err(&[sent("went_well", "a\0b")]),
        "section `went_well` contains a NUL character"
    );
    assert_eq!(
        err(&[sent("summary", "One.\n\n## Root cause\n\nTwo.")]),
        "section `summary`, line 3: a `## ` heading starts a new section in the exported \
         Markdown; use `###` and below inside a section"
    );
    assert_eq!(
        err(&[sent("summary", "One.\n\n```\ncode")]),
        "section `summary`, line 3: this code fence is never closed; close it with a line of \
         the same backticks or tildes"
    );
    let ok = check_sections(&[sent(
        "summary",
        "\r\n\n### Detail\r\n```\n## not a heading\n```\n\n",
    )])
    .unwrap();
    assert_eq!(ok[0].title, "Summary", "the title comes from the key");
    assert_eq!(ok[0].markdown, "### Detail\n```\n## not a heading\n```");
}

#[test]
fn an_edit_keeps_the_sections_it_leaves_out_and_names_what_changed() {
    let current = draft(&scripted());
    let (merged, changed) = apply_edit(
        &current,
        &[
            sent("went_well", "The rollback was one click.\n"),
            sent("summary", section(&current, "summary")),
        ],
    )
    .unwrap();
    assert_eq!(changed, vec!["What went well".to_string()]);
    assert_eq!(merged.len(), SECTIONS.len());
    assert_eq!(section(&merged, "went_well"), "The rollback was one click.");
    for s in merged.iter().filter(|s| s.key != "went_well") {
        assert_eq!(s.markdown, section(&current, &s.key), "{} kept", s.key);
    }
    assert!(apply_edit(&current, &[sent("nope", "")]).is_err());
}

#[test]
fn markdown_reads_back_with_its_header_and_status_line_ignored() {
    let md = "# INC-7: Card payments\n\n**Status:** in_review\n\n## Impact\n\nSome.\n\n\
              ```sh\n## Timeline\n```\n\n## what went well ##\n\nRollback.\r\n";
    let sections = from_markdown(md).unwrap();
    assert_eq!(
        sections,
        vec![
            Section::new("impact", "Some.\n\n```sh\n## Timeline\n```".into()),
            Section::new("went_well", "Rollback.".into()),
        ]
    );
}

#[test]
fn markdown_that_cannot_be_read_says_which_line() {
    let err = |md: &str| from_markdown(md).unwrap_err();
    let e = err("# INC-7: x\n\n**Status:** draft\n\n## Summary\n\nok\n\n## Root cause\n\nx");
    assert_eq!(e.line, 9);
    assert_eq!(
        e.to_string(),
        "line 9: `## Root cause` is not a section of a postmortem; the sections are Summary, \
         Impact, Timeline, Contributing factors, What went well, What went poorly, Action \
         items, Security review (for a heading inside a section, use `###`)"
    );
    let e = err("# INC-7: x\n\nA stray line.\n\n## Summary\n");
    assert_eq!(e.line, 3);
    assert!(
        e.message
            .contains("`A stray line.` comes before the first section")
    );
    let e = err("# INC-7: x\n# Another title\n## Summary\n");
    assert_eq!(e.line, 2, "one header only");
    let e = err("## Impact\n\na\n\n## Summary\n\nb\n\n## impact\n");
    assert_eq!(
        e.to_string(),
        "line 9: a second `## Impact` section; the first is on line 1"
    );
    let e = err("## Summary\n\n~~~\n## Impact\n");
    assert_eq!(e.line, 3, "the fence that swallowed the rest");
    assert_eq!(from_markdown("").unwrap(), vec![]);
}

#[test]
fn the_export_has_a_header_a_status_and_a_heading_per_section() {
    let md = to_markdown(
        IncidentNumber(7),
        "Card  payments\nfailing",
        PostmortemStatus::InReview,
        &[
            Section::new("summary", "Short.".into()),
            Section::new("impact", String::new()),
        ],
    );
    assert_eq!(
        md,
        "# INC-7: Card payments failing\n\n**Status:** in_review\n\n## Summary\n\nShort.\n\n## Impact\n"
    );
}

/// Section Markdown as people write it: prose, lists, `###` headings, quotes, and code blocks
/// that may hold anything, `## ` lines included.
fn markdown() -> impl Strategy<Value = String> {
    let prose = "[a-zA-Z0-9 .,:;!?|*_>#`~-]{0,30}".prop_filter("not a section heading", |l| {
        section_heading(l).is_none()
            && !l.trim_start().starts_with("```")
            && !l.trim_start().starts_with("~~~")
    });
    let block = prop_oneof![
        4 => prose.clone(),
        1 => Just(String::new()),
        1 => "[a-z ]{1,20}".prop_map(|h| format!("### {h}")),
        1 => prop::collection::vec("[ -~]{0,20}", 0..4)
            .prop_map(|lines| format!("```\n{}\n```", lines.join("\n"))),
        1 => Just("~~~\n## Summary\n~~~".to_string()),
    ];
    prop::collection::vec(block, 0..8).prop_map(|b| tidy(&b.join("\n")))
}

fn sections() -> impl Strategy<Value = Vec<Section>> {
    prop::collection::vec((any::<bool>(), markdown()), SECTIONS.len()).prop_map(|picks| {
        SECTIONS
            .iter()
            .zip(picks)
            .filter(|(_, (keep, _))| *keep)
            .map(|((key, _), (_, md))| Section::new(key, md))
            .collect()
    })
}

proptest! {
    #[test]
    fn an_export_reads_back_to_the_same_sections(sections in sections(), title in "[ -~]{1,40}") {
        prop_assume!(check_sections(&sections).is_ok());
        let md = to_markdown(IncidentNumber(3), &title, PostmortemStatus::Draft, &sections);
        prop_assert_eq!(from_markdown(&md).unwrap(), sections);
    }
}

#[test]
fn the_round_trip_strategy_makes_valid_sections() {
    // The property above assumes validity; this keeps the generator honest.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut valid = 0;
    for _ in 0..200 {
        let s = sections().new_tree(&mut runner).unwrap().current();
        valid += usize::from(check_sections(&s).is_ok());
    }
    assert!(
        valid > 190,
        "only {valid} of 200 generated postmortems were valid"
    );
}

fn rows_of(input: &DraftInput) -> Vec<(String, String)> {
    let clock = draft::Clock::new(&input.zone, input.incident.detected_at);
    table::rows(input, &clock)
        .into_iter()
        .map(|r| (clock.date_hm(r.at), r.what))
        .collect()
}

#[test]
fn alert_events_of_one_alert_fold_into_one_row() {
    let mut input = DraftInput::new(incident(t("14:00")));
    let mut s = Script::default();
    s.at(t("14:00"), "firebreak", attached(12))
        .at(t("14:03"), "alice", attached(12))
        .at(t("14:04"), "firebreak", attached(13));
    input.entries = s.entries;
    input.alerts = vec![AttachedAlert {
        id: 12,
        summary: "Checkout | errors".into(),
        service: "api".into(),
        started_at: None,
        first_seen: t("14:00"),
        last_seen: at("2026-03-15T00:20:00Z"),
        count: 37,
    }];
    let rows = rows_of(&input);
    assert_eq!(
        rows,
        vec![
            (
                "2026-03-14 14:00".into(),
                "alert 12 fired 37 times (14:00 to 2026-03-15 00:20): Checkout | errors (api)"
                    .into()
            ),
            (
                "2026-03-14 14:04".into(),
                "alert 13 attached (critical): Checkout error rate above 5%".into()
            ),
        ]
    );
    let table = table::render(&input, &draft::Clock::new(&TimeZone::UTC, t("14:00")));
    assert!(table.contains("Checkout \\| errors"), "{table}");
}

#[test]
fn paging_folds_into_one_row_per_step_with_what_was_delivered() {
    let mut input = DraftInput::new(incident(t("14:00")));
    let mut s = Script::default();
    s.at(
        t("14:00"),
        "firebreak",
        E::EscalationStarted {
            escalation: "esc-1".into(),
            policy: "payments-primary".into(),
            alert: None,
        },
    )
    .at(t("14:00"), "firebreak", paged(0, "alice", "email"))
    .at(t("14:00"), "firebreak", paged(0, "alice", "sms"))
    .at(t("14:00"), "firebreak", paged(0, "bob", "sms"))
    .at(t("14:01"), "firebreak", delivered("alice", "email"))
    .at(t("14:01"), "firebreak", failed("bob", "sms", "unreachable"))
    .at(
        t("14:02"),
        "alice",
        E::Note {
            body: "looking".into(),
        },
    )
    .at(t("14:15"), "firebreak", paged(1, "carol", "email"))
    .at(
        t("14:15"),
        "firebreak",
        E::NobodyPaged {
            escalation: "esc-1".into(),
            step: 1,
            round: 0,
            target: "schedule dba".into(),
            reason: "nobody is on call".into(),
        },
    )
    .at(t("14:16"), "firebreak", delivered("carol", "email"))
    .at(t("14:16"), "firebreak", delivered("alice", "sms"));
    input.entries = s.entries;
    let rows: Vec<String> = rows_of(&input).into_iter().map(|(_, w)| w).collect();
    assert_eq!(
        rows,
        vec![
            "paging (payments-primary, step 1): alice by email and sms, bob by sms — 2 delivered; \
             1 failed: bob by sms (unreachable)",
            "looking",
            "paging (payments-primary, step 2): carol by email — 1 delivered; could not page \
             schedule dba: nobody is on call",
        ]
    );
}

#[test]
fn update_reminders_fold_until_somebody_posts_an_update() {
    let mut input = DraftInput::new(incident(t("14:00")));
    let reminder = || E::UpdateReminder {
        to: vec!["carol".into()],
        quiet_for: "1h".into(),
        unreached: vec![],
    };
    let mut s = Script::default();
    s.at(t("15:00"), "firebreak", reminder())
        .at(t("16:00"), "firebreak", reminder())
        .at(t("17:00"), "firebreak", reminder())
        .at(
            t("17:05"),
            "carol",
            update(Audience::Internal, None, "Still on it"),
        )
        .at(t("18:05"), "firebreak", reminder())
        .at(t("18:06"), "firebreak", E::PostmortemDrafted { version: 1 });
    input.entries = s.entries;
    let rows: Vec<String> = rows_of(&input).into_iter().map(|(_, w)| w).collect();
    assert_eq!(
        rows,
        vec![
            "detected",
            "no update for 1h; reminded carol (3 times, the last at 17:00)",
            "internal update: Still on it",
            "no update for 1h; reminded carol",
        ]
    );
}

#[test]
fn key_moments_are_marked_once_each() {
    let input = scripted();
    let table = section(&draft(&input), "timeline").to_string();
    for moment in [
        "Detected",
        "Declared",
        "Acknowledged",
        "Mitigated",
        "Resolved",
    ] {
        assert_eq!(
            table.matches(&format!("**{moment}**")).count(),
            1,
            "{moment} in\n{table}"
        );
    }
    assert!(table.contains("| 14:05 | **Acknowledged** | alice acknowledged (link) | alice |"));
    assert!(table.contains("| 2026-03-14 14:01 | **Detected** | the first alert started |  |"));
    assert!(
        table.contains("| 15:14 | **Resolved** | status mitigated → resolved | alice |"),
        "{table}"
    );
}

#[test]
fn a_note_appears_in_full_in_one_cell() {
    let table = section(&draft(&scripted()), "timeline").to_string();
    assert!(
        table.contains(
            "| Only card payments fail; PayPal is fine.<br>api 1.4.2 went out at 13:54 and \
             changed the provider timeout from 10s \\| 2s. Rolling back. | alice |"
        ),
        "{table}"
    );
}

#[test]
fn the_date_is_shown_on_the_first_row_and_when_it_changes() {
    let mut input = DraftInput::new(incident(at("2026-03-14T23:40:00Z")));
    let mut s = Script::default();
    s.at(
        at("2026-03-14T23:40:00Z"),
        "a",
        E::Note { body: "one".into() },
    )
    .at(
        at("2026-03-14T23:55:00Z"),
        "a",
        E::Note { body: "two".into() },
    )
    .at(
        at("2026-03-15T00:10:00Z"),
        "a",
        E::Note {
            body: "three".into(),
        },
    )
    .at(
        at("2026-03-15T00:20:00Z"),
        "a",
        E::Note {
            body: "four".into(),
        },
    );
    input.entries = s.entries;
    let table = section(&draft(&input), "timeline").to_string();
    let times: Vec<&str> = table
        .lines()
        .skip(2)
        .filter(|l| l.starts_with('|'))
        .map(|l| l.split(" | ").next().unwrap().trim_start_matches("| "))
        .collect();
    assert_eq!(
        times,
        vec!["2026-03-14 23:40", "23:55", "2026-03-15 00:10", "00:20"]
    );
}

#[test]
fn times_are_shown_in_the_display_zone() {
    let mut input = DraftInput::new(incident(at("2026-03-14T23:40:00Z")));
    input.zone = TimeZone::get("Europe/Berlin").unwrap();
    input.incident.resolved_at = Some(at("2026-03-15T01:10:00Z"));
    let mut s = Script::default();
    s.at(
        at("2026-03-14T23:40:00Z"),
        "a",
        E::Note { body: "one".into() },
    );
    input.entries = s.entries;
    let sections = draft(&input);
    let table = section(&sections, "timeline");
    assert!(table.starts_with("| Time (Europe/Berlin) |"), "{table}");
    assert!(
        table.contains("| 2026-03-15 00:40 | **Detected**, **Declared** | one | a |"),
        "{table}"
    );
    assert!(
        section(&sections, "summary").contains(
            "**Duration:** 1 h 30 min, from detection at 2026-03-15 00:40 CET to resolution at \
             02:10 CET"
        ),
        "{}",
        section(&sections, "summary")
    );
}

#[test]
fn durations_read_as_people_say_them() {
    let d = |s: i64| span(SignedDuration::from_secs(s));
    assert_eq!(d(-5), "0 s");
    assert_eq!(d(45), "45 s");
    assert_eq!(d(42 * 60 + 59), "42 min");
    assert_eq!(d(3600), "1 h");
    assert_eq!(d(3600 + 12 * 60), "1 h 12 min");
    assert_eq!(d(2 * 86_400 + 3 * 3600 + 59), "2 d 3 h");
    assert_eq!(d(86_400), "1 d");
}

#[test]
fn contributing_factors_start_from_the_suspect_deploy() {
    let factors = section(&draft(&scripted()), "contributing_factors").to_string();
    assert!(
        factors.contains("- api 1.4.2 was deployed 7 min before detection (previous 1.4.1)."),
        "{factors}"
    );
    assert!(factors.contains("what made this possible?"));
    assert!(factors.contains("Don't write *human error* as a cause"));
}

#[test]
fn acknowledging_late_and_lapsed_updates_go_in_what_went_poorly() {
    let mut input = scripted();
    input.incident.acknowledged_at = Some(t("14:21"));
    let mut s = Script {
        entries: input.entries.clone(),
    };
    s.at(
        t("14:50"),
        "firebreak",
        E::UpdateReminder {
            to: vec!["alice".into()],
            quiet_for: "1h".into(),
            unreached: vec![],
        },
    );
    input.entries = s.entries;
    let sections = draft(&input);
    let poorly = section(&sections, "went_poorly");
    assert!(
        poorly.contains(
            "- Acknowledged 20 min after detection, beyond the SEV1 response target of 5 min."
        ),
        "{poorly}"
    );
    assert!(poorly.contains("Updates lapsed: Firebreak sent 1 update reminder after 1h"));
    assert!(!section(&sections, "went_well").contains("Acknowledged"));
}

#[test]
fn action_items_show_their_state() {
    let mut input = scripted();
    let mut done = item(
        5,
        "Canary the provider timeout",
        "bob",
        date(2026, 4, 1),
        None,
    );
    done.state = ItemState::Done;
    let mut dropped = item(
        6,
        "Rewrite the payment client",
        "carol",
        date(2026, 6, 1),
        None,
    );
    dropped.state = ItemState::WontDo {
        reason: "the timeout canary covers it".into(),
    };
    input.items.extend([done, dropped]);
    assert_eq!(
        section(&draft(&input), "action_items"),
        "- [ ] Alert on payment-provider timeouts per provider — alice, due 2026-03-28 \
         (https://tickets.example.com/PAY-231)\n\
         - [x] Canary the provider timeout — bob, due 2026-04-01\n\
         - [x] ~~Rewrite the payment client~~ — carol, won't do: the timeout canary covers it"
    );
}

#[test]
fn free_text_cannot_break_the_sections() {
    let mut input = scripted();
    input.incident.summary = "## Root cause\n\n```\nunclosed".into();
    let sections = draft(&input);
    assert!(section(&sections, "summary").contains("### Root cause\n\n```\nunclosed\n```"));
    assert!(check_sections(&sections).is_ok());
}

#[test]
fn the_new_events_describe_themselves() {
    let cases = [
        (E::PostmortemDrafted { version: 1 }, "postmortem drafted"),
        (
            E::PostmortemEdited {
                version: 3,
                sections: vec!["Impact".into(), "Timeline".into()],
            },
            "postmortem edited: Impact, Timeline",
        ),
        (
            E::PostmortemStatusChanged {
                from: "draft".into(),
                to: "in_review".into(),
            },
            "postmortem draft → in_review",
        ),
        (
            E::ActionItemAdded {
                item: 4,
                title: "Add a canary".into(),
                owner: "alice".into(),
                due: "2026-12-10".into(),
            },
            "action item 4 for alice, due 2026-12-10: Add a canary",
        ),
        (
            E::ActionItemChanged {
                item: 4,
                title: "Add a canary".into(),
                status: "done".into(),
                reason: None,
            },
            "action item 4 done: Add a canary",
        ),
        (
            E::ActionItemChanged {
                item: 4,
                title: "Add a canary".into(),
                status: "wont_do".into(),
                reason: Some("covered by the load test".into()),
            },
            "action item 4 won't do: Add a canary (covered by the load test)",
        ),
    ];
    for (event, sentence) in cases {
        assert_eq!(event.describe(), sentence);
    }
}

#[test]
fn detection_names_its_source() {
    // Declared by hand at 14:02 with detection given as 14:01; the alert attached later
    // started at 14:02, so detection did not come from it.
    let mut input = scripted();
    input.alerts[0].started_at = None;
    let table = section(&draft(&input), "timeline").to_string();
    assert!(
        table.contains(
            "| 2026-03-14 14:01 | **Detected** | first noticed (the time given when declaring) |  |"
        ),
        "{table}"
    );
    assert!(!table.contains("the first alert started"), "{table}");
    // An alert that started at the detection time is its source.
    input.alerts[0].started_at = Some(t("14:01"));
    let table = section(&draft(&input), "timeline").to_string();
    assert!(table.contains("| 2026-03-14 14:01 | **Detected** | the first alert started |  |"));
}
