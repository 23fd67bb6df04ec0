//! Contract checks of the directory: services, users (with their disabled state), tokens (with
//! their expiry), the first admin, and the audit record each mutation writes.

use std::sync::Arc;

use firebreak_domain::{AccessRole, Status};

use super::{assert_client_safe, at, audit, audit_count, commit, create, drafts, name, note};
use crate::{ServiceRecord, Store, StoreError, StoreWrites, TokenRecord, UserRecord};

pub(super) fn service(n: &str, from_config: bool) -> ServiceRecord {
    ServiceRecord {
        name: name(n),
        description: format!("the {n} service"),
        team: Some("payments-team".into()),
        runbook: None,
        escalation_policy: None,
        manager: None,
        from_config,
        created_at: at(42),
    }
}

/// Services: create, duplicate is `Conflict`, get, update, delete, list by name.
pub async fn services<S: Store>(store: &S) {
    let created = store
        .create_service(
            service("checkout", false),
            audit("service.create", "checkout"),
        )
        .await
        .expect("create_service");
    assert_eq!(created, service("checkout", false));
    let err = store
        .create_service(
            service("checkout", false),
            audit("service.create", "checkout"),
        )
        .await
        .expect_err("duplicate");
    match err {
        StoreError::Conflict(m) => {
            assert_client_safe(&m);
            assert!(m.contains("checkout"), "conflict names the service: {m}");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        store.get_service(&name("checkout")).await.expect("get"),
        Some(created.clone())
    );
    assert_eq!(store.get_service(&name("nope")).await.expect("get"), None);

    let mut changed = created.clone();
    changed.description = "new words".into();
    changed.team = None;
    changed.runbook = Some("https://runbooks/checkout".into());
    let updated = store
        .update_service(changed.clone(), audit("service.update", "checkout"))
        .await
        .expect("update");
    assert_eq!(updated, changed);
    assert_eq!(
        store.get_service(&name("checkout")).await.expect("get"),
        Some(changed.clone())
    );
    let err = store
        .update_service(service("nope", false), audit("service.update", "nope"))
        .await
        .expect_err("missing");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    store
        .create_service(service("api", true), audit("service.create", "api"))
        .await
        .expect("create");
    store
        .create_service(service("zeta", false), audit("service.create", "zeta"))
        .await
        .expect("create");
    let listed: Vec<String> = store
        .list_services()
        .await
        .expect("list")
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(listed, vec!["api", "checkout", "zeta"]);

    store
        .delete_service(&name("checkout"), audit("service.delete", "checkout"))
        .await
        .expect("delete");
    assert_eq!(
        store.get_service(&name("checkout")).await.expect("get"),
        None
    );
    let err = store
        .delete_service(&name("checkout"), audit("service.delete", "checkout"))
        .await
        .expect_err("missing");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(store.list_services().await.expect("list").len(), 2);
}

pub(super) fn user(handle: &str, role: AccessRole) -> UserRecord {
    UserRecord {
        handle: name(handle),
        name: format!("User {handle}"),
        email: Some(format!("{handle}@example.com")),
        time_zone: Some("Europe/Berlin".into()),
        role,
        from_config: false,
        created_at: at(7),
        disabled_at: None,
    }
}

/// Users: create, duplicate is `Conflict`, get, update, list by handle; `disabled_at`
/// round-trips through create, update, get and list; updating an unknown user is `NotFound`.
pub async fn users<S: Store>(store: &S) {
    let bob = store
        .create_user(
            user("bob", AccessRole::Responder),
            audit("user.create", "bob"),
        )
        .await
        .expect("create");
    assert_eq!(bob, user("bob", AccessRole::Responder));
    let err = store
        .create_user(user("bob", AccessRole::Viewer), audit("user.create", "bob"))
        .await
        .expect_err("duplicate");
    match err {
        StoreError::Conflict(m) => assert_client_safe(&m),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        store.get_user(&name("bob")).await.expect("get"),
        Some(bob.clone())
    );
    assert_eq!(store.get_user(&name("nobody")).await.expect("get"), None);
    let mut changed = bob.clone();
    changed.role = AccessRole::Admin;
    changed.email = None;
    changed.name = "Robert".into();
    assert_eq!(
        store
            .update_user(changed.clone(), audit("user.update", "bob"))
            .await
            .expect("update"),
        changed
    );
    assert_eq!(
        store.get_user(&name("bob")).await.expect("get"),
        Some(changed)
    );
    let err = store
        .update_user(
            user("nobody", AccessRole::Viewer),
            audit("user.update", "nobody"),
        )
        .await
        .expect_err("missing");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    store
        .create_user(
            user("alice", AccessRole::Viewer),
            audit("user.create", "alice"),
        )
        .await
        .expect("create");
    let listed: Vec<String> = store
        .list_users()
        .await
        .expect("list")
        .iter()
        .map(|u| u.handle.to_string())
        .collect();
    assert_eq!(listed, vec!["alice", "bob"]);

    let mut gone = user("dave", AccessRole::Responder);
    gone.disabled_at = Some(at(8_008));
    store
        .create_user(gone.clone(), audit("user.create", "dave"))
        .await
        .expect("create a disabled user");
    assert_eq!(
        store.get_user(&name("dave")).await.expect("get"),
        Some(gone.clone()),
        "disabled_at round-trips through create_user"
    );
    let mut back = gone.clone();
    back.disabled_at = None;
    assert_eq!(
        store
            .update_user(back.clone(), audit("user.update", "dave"))
            .await
            .expect("enable"),
        back,
        "update_user returns the stored user"
    );
    assert_eq!(
        store.get_user(&name("dave")).await.expect("get"),
        Some(back),
        "update_user clears disabled_at"
    );
    let mut off = user("bob", AccessRole::Admin);
    off.name = "Robert".into();
    off.email = None;
    off.disabled_at = Some(at(9_009));
    store
        .update_user(off.clone(), audit("user.update", "bob"))
        .await
        .expect("disable");
    let listed = store.list_users().await.expect("list");
    assert_eq!(
        listed.iter().find(|u| u.handle == name("bob")),
        Some(&off),
        "update_user sets disabled_at, and list_users shows it"
    );
}

/// `sync_config` creates and updates config services and users, marks them `from_config`,
/// and leaves everything else alone.
pub async fn sync_config_upserts_and_never_deletes<S: Store>(store: &S) {
    store
        .create_service(service("manual", false), audit("service.create", "manual"))
        .await
        .expect("create");
    store
        .create_service(
            service("checkout", false),
            audit("service.create", "checkout"),
        )
        .await
        .expect("create");
    store
        .create_user(
            user("manual", AccessRole::Admin),
            audit("user.create", "manual"),
        )
        .await
        .expect("create");
    let mut checkout = service("checkout", true);
    checkout.description = "from the file".into();
    let mut carol = user("carol", AccessRole::Responder);
    carol.from_config = true;
    store
        .sync_config(
            vec![checkout.clone(), service("api", true)],
            vec![carol.clone()],
        )
        .await
        .expect("sync");
    store
        .sync_config(
            vec![checkout.clone(), service("api", true)],
            vec![carol.clone()],
        )
        .await
        .expect("sync twice");
    let mut promoted = carol.clone();
    promoted.role = AccessRole::Admin;
    promoted.disabled_at = Some(at(50));
    store
        .update_user(promoted.clone(), audit("user.update", "carol"))
        .await
        .expect("update a config user");
    let mut renamed = carol.clone();
    renamed.name = "Carol from the file".into();
    store
        .sync_config(vec![], vec![renamed.clone()])
        .await
        .expect("sync after an API change");

    let got = store
        .get_service(&name("checkout"))
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.description, "from the file");
    assert!(got.from_config);
    assert_eq!(
        store.get_service(&name("api")).await.expect("get"),
        Some(service("api", true))
    );
    assert_eq!(
        store.get_service(&name("manual")).await.expect("get"),
        Some(service("manual", false))
    );
    let carol_now = store
        .get_user(&name("carol"))
        .await
        .expect("get")
        .expect("carol exists");
    assert_eq!(
        carol_now.name, renamed.name,
        "sync_config brings a config user's details up to date"
    );
    assert_eq!(
        (carol_now.role, carol_now.disabled_at),
        (AccessRole::Admin, Some(at(50))),
        "sync_config keeps a user's access role and disabled state"
    );
    assert_eq!(
        (carol_now.handle.as_str(), carol_now.from_config),
        ("carol", true)
    );
    assert_eq!(
        store.get_user(&name("manual")).await.expect("get"),
        Some(user("manual", AccessRole::Admin))
    );
    assert_eq!(store.list_services().await.expect("list").len(), 3);
}

pub(super) fn token(id: &str, hash: &str, role: AccessRole, user: Option<&str>) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        name: format!("token {id}"),
        role,
        user: user.map(name),
        hash: hash.into(),
        created_at: at(1_000),
        revoked_at: None,
        expires_at: None,
    }
}

/// Tokens: create, find by hash, duplicate hash is `Conflict`, revoke hides it from `find_token`
/// (revoking an unknown token is `NotFound`); `expires_at` round-trips through create, find,
/// list and revoke, and an expired token is still found (expiry is the engine's to judge).
pub async fn tokens<S: Store>(store: &S) {
    let a = token("tok_a", &"a".repeat(64), AccessRole::Responder, Some("bob"));
    let b = token("tok_b", &"b".repeat(64), AccessRole::Viewer, None);
    assert_eq!(
        store
            .create_token(a.clone(), audit("token.create", "tok_a"))
            .await
            .expect("create"),
        a
    );
    store
        .create_token(b.clone(), audit("token.create", "tok_b"))
        .await
        .expect("create");
    assert_eq!(
        store.find_token(&a.hash).await.expect("find"),
        Some(a.clone())
    );
    assert_eq!(
        store.find_token(&b.hash).await.expect("find"),
        Some(b.clone())
    );
    assert_eq!(store.find_token(&"c".repeat(64)).await.expect("find"), None);
    let err = store
        .create_token(
            token("tok_c", &a.hash, AccessRole::Admin, None),
            audit("token.create", "tok_c"),
        )
        .await
        .expect_err("duplicate hash");
    match err {
        StoreError::Conflict(m) => assert_client_safe(&m),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let mut listed = store.list_tokens().await.expect("list");
    listed.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(listed, vec![a.clone(), b.clone()]);

    let mut short = token("tok_s", &"9".repeat(64), AccessRole::Viewer, None);
    short.expires_at = Some(at(2_002));
    store
        .create_token(short.clone(), audit("token.create", "tok_s"))
        .await
        .expect("create a token that expires");
    assert_eq!(
        store.find_token(&short.hash).await.expect("find"),
        Some(short.clone()),
        "expires_at round-trips through create_token and find_token"
    );
    assert_eq!(
        store
            .list_tokens()
            .await
            .expect("list")
            .iter()
            .find(|t| t.id == "tok_s"),
        Some(&short),
        "list_tokens shows expires_at"
    );
    let revoked_short = store
        .revoke_token("tok_s", at(3_003), audit("token.revoke", "tok_s"))
        .await
        .expect("revoke");
    assert_eq!(
        (revoked_short.expires_at, revoked_short.revoked_at),
        (Some(at(2_002)), Some(at(3_003))),
        "revoking keeps expires_at"
    );

    let revoked = store
        .revoke_token("tok_a", at(5_005), audit("token.revoke", "tok_a"))
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked_at, Some(at(5_005)));
    assert_eq!(revoked.id, "tok_a");
    assert_eq!(
        store.find_token(&a.hash).await.expect("find"),
        None,
        "a revoked token is not found"
    );
    assert_eq!(store.find_token(&b.hash).await.expect("find"), Some(b));
    let listed = store.list_tokens().await.expect("list");
    let listed_a = listed
        .iter()
        .find(|t| t.id == "tok_a")
        .expect("revoked tokens are still listed");
    assert_eq!(listed_a.revoked_at, Some(at(5_005)));
    let err = store
        .revoke_token("tok_zz", at(0), audit("token.revoke", "tok_zz"))
        .await
        .expect_err("missing");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

/// `bootstrap_admin` creates the first admin and token once, then does nothing.
pub async fn bootstrap_admin_happens_once<S: Store>(store: &S) {
    let admin = user("root", AccessRole::Admin);
    let t = token("tok_root", &"d".repeat(64), AccessRole::Admin, Some("root"));
    assert!(
        store
            .bootstrap_admin(admin.clone(), t.clone(), audit("bootstrap", "root"))
            .await
            .expect("bootstrap")
    );
    assert_eq!(
        store.get_user(&name("root")).await.expect("get"),
        Some(admin)
    );
    assert_eq!(store.find_token(&t.hash).await.expect("find"), Some(t));
    let again = store
        .bootstrap_admin(
            user("root2", AccessRole::Admin),
            token(
                "tok_root2",
                &"e".repeat(64),
                AccessRole::Admin,
                Some("root2"),
            ),
            audit("bootstrap", "root2"),
        )
        .await
        .expect("bootstrap");
    assert!(!again, "a second bootstrap does nothing");
    assert_eq!(store.get_user(&name("root2")).await.expect("get"), None);
    assert_eq!(store.find_token(&"e".repeat(64)).await.expect("find"), None);
    assert_eq!(
        audit_count(store).await,
        1,
        "only the first bootstrap is audited"
    );
}

/// `any_admin` is true only while some admin who is not disabled exists.
pub async fn any_admin_ignores_disabled_admins<S: Store>(store: &S) {
    async fn any_admin<S: Store>(store: &S) -> bool {
        commit(store, "any_admin", |tx| {
            Box::pin(async move { tx.any_admin().await })
        })
        .await
    }
    assert!(!any_admin(store).await, "an empty store has no admin");
    store
        .create_user(user("v", AccessRole::Viewer), audit("user.create", "v"))
        .await
        .expect("create");
    assert!(!any_admin(store).await, "a viewer is not an admin");
    let mut retired = user("old", AccessRole::Admin);
    retired.disabled_at = Some(at(1));
    store
        .create_user(retired, audit("user.create", "old"))
        .await
        .expect("create");
    assert!(!any_admin(store).await, "a disabled admin does not count");
    let root = user("root", AccessRole::Admin);
    store
        .create_user(root.clone(), audit("user.create", "root"))
        .await
        .expect("create");
    assert!(any_admin(store).await, "an enabled admin counts");
    let mut off = root;
    off.disabled_at = Some(at(2));
    store
        .update_user(off, audit("user.update", "root"))
        .await
        .expect("disable");
    assert!(
        !any_admin(store).await,
        "disabling the last admin leaves none"
    );
}

/// Eight concurrent `bootstrap_admin` calls on an empty store create exactly one admin.
pub async fn bootstrap_admin_is_safe_to_race<S: Store + 'static>(store: Arc<S>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let handle = format!("root{i}");
                store
                    .bootstrap_admin(
                        user(&handle, AccessRole::Admin),
                        token(
                            &format!("tok_root{i}"),
                            &format!("{i:0>64}"),
                            AccessRole::Admin,
                            Some(&handle),
                        ),
                        audit("bootstrap", &handle),
                    )
                    .await
                    .expect("a racing bootstrap_admin must not fail")
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        if task.await.expect("task") {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one racing bootstrap creates the admin");
    assert_eq!(
        store.list_users().await.expect("list_users").len(),
        1,
        "one admin user"
    );
    assert_eq!(
        store.list_tokens().await.expect("list_tokens").len(),
        1,
        "one admin token"
    );
    assert_eq!(audit_count(&*store).await, 1, "one bootstrap audited");
}

/// Each mutation writes its audit entry; `list_audit` is newest first and pages by cursor.
pub async fn audit_written_with_each_mutation<S: Store>(store: &S) {
    let incident = create(store, "Audited", "SEV3", &[], false).await;
    store
        .append_timeline(
            incident.number,
            drafts(vec![note("n")], at(1)),
            audit("incident.note", "INC-1"),
        )
        .await
        .expect("append");
    let mut changed = incident.clone();
    let events = changed.set_status(Status::Identified, at(2)).expect("move");
    store
        .update_incident(
            &changed,
            drafts(events, at(2)),
            audit("incident.update", "INC-1"),
        )
        .await
        .expect("update");
    store
        .create_service(service("svc", false), audit("service.create", "svc"))
        .await
        .expect("service");
    store
        .create_user(user("u", AccessRole::Viewer), audit("user.create", "u"))
        .await
        .expect("user");
    store
        .create_token(
            token("t", &"f".repeat(64), AccessRole::Viewer, None),
            audit("token.create", "t"),
        )
        .await
        .expect("token");
    store
        .revoke_token("t", at(3), audit("token.revoke", "t"))
        .await
        .expect("revoke");

    let page = store.list_audit(None, 100).await.expect("list_audit");
    let actions: Vec<&str> = page.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec![
            "token.revoke",
            "token.create",
            "user.create",
            "service.create",
            "incident.update",
            "incident.note",
            "incident.declare"
        ],
        "newest first"
    );
    assert_eq!(page.next, None);
    let first = &page.items[0];
    assert_eq!(
        (first.actor.as_str(), first.target.as_str(), first.at),
        ("alice", "t", at(0))
    );
    assert_eq!(first.source.as_deref(), Some("127.0.0.1"));
    assert!(
        page.items.windows(2).all(|w| w[0].id > w[1].id),
        "ids descend"
    );

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = store.list_audit(cursor, 3).await.expect("list_audit");
        seen.extend(p.items.iter().map(|e| e.id));
        match p.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(
        seen,
        page.items.iter().map(|e| e.id).collect::<Vec<_>>(),
        "audit pages cover every entry once"
    );

    let mut none = audit("x", "y");
    none.source = None;
    store
        .create_service(service("svc2", false), none)
        .await
        .expect("service");
    let latest = store.list_audit(None, 1).await.expect("list_audit");
    assert_eq!(latest.items[0].source, None);
    assert_eq!(latest.next, Some(latest.items[0].id));
}
