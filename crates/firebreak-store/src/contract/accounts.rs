//! Contract checks of signing in: password hashes (set, replace, only for users that exist,
//! counted only for users not disabled), sessions (every field round-trips, a taken id is
//! `Conflict`, touch, revoke one, revoke a user's others, the live ones newest first),
//! invitations (both targets, lock and use, unknown ones), failed sign-ins (counted by one
//! upsert, forgotten when old, cleared), pruning (only rows the domain says are done with, in
//! bounded batches) and a failed unit of work that leaves none of it.

use std::sync::Arc;

use firebreak_domain::session::{
    ABSOLUTE_TIMEOUT, Failures, IDLE_TIMEOUT, Invitation, InvitationFor, Session, SignInMethod,
    SignInPrune,
};
use firebreak_domain::{AccessRole, Name};
use jiff::{SignedDuration, Timestamp};

use super::directory::user;
use super::{at, audit, commit, expect_conflict, expect_not_found, name};
use crate::accounts::Pruned;
use crate::{PasswordRecord, Store, StoreError, StoreWrites, transact};

const HASH_A: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$YWFhYWFhYWFhYWFhYWFhYQ";
const HASH_B: &str = "$argon2id$v=19$m=19456,t=2,p=1$cGVwcGVycGVwcGVy$YmJiYmJiYmJiYmJiYmJiYg";

async fn add_user<S: Store>(store: &S, handle: &str, disabled_at: Option<Timestamp>) {
    let mut u = user(handle, AccessRole::Responder);
    u.disabled_at = disabled_at;
    store
        .create_user(u, audit("user.create", handle))
        .await
        .expect("create_user");
}

async fn set_password<S: Store>(store: &S, handle: &str, hash: &'static str, when: Timestamp) {
    let handle = name(handle);
    commit(store, "set_password", move |tx| {
        Box::pin(async move { tx.set_password(&handle, hash, when).await })
    })
    .await;
}

fn session(id_hash: &str, handle: &str, created_at: Timestamp) -> Session {
    Session::start(
        id_hash.into(),
        name(handle),
        SignInMethod::Password,
        created_at,
        Some("203.0.113.9".into()),
    )
}

async fn add_session<S: Store>(store: &S, s: Session) {
    commit(store, "create_session", move |tx| {
        Box::pin(async move { tx.create_session(&s).await })
    })
    .await;
}

async fn get_session<S: Store>(store: &S, id_hash: &str) -> Session {
    store
        .get_session(id_hash)
        .await
        .expect("get_session")
        .unwrap_or_else(|| panic!("session {id_hash} is stored"))
}

fn invitation(token_hash: &str, target: InvitationFor) -> Invitation {
    Invitation {
        token_hash: token_hash.into(),
        target,
        created_by: "root".into(),
        created_at: at(100),
        expires_at: at(100) + SignedDuration::from_hours(72),
        used_at: None,
    }
}

async fn fail<S: Store>(
    store: &S,
    key: &str,
    when: Timestamp,
    forget_before: Timestamp,
) -> Failures {
    let key = key.to_string();
    commit(store, "record_failure", move |tx| {
        Box::pin(async move { tx.record_failure(&key, when, forget_before).await })
    })
    .await
}

/// Passwords: set, read back, replaced; `NotFound` for a user that does not exist;
/// `count_passwords` counts only users who are not disabled; the hash stays out of `Debug`.
pub async fn passwords_set_replace_and_count<S: Store>(store: &S) {
    add_user(store, "alice", None).await;
    add_user(store, "bob", None).await;
    add_user(store, "carol", Some(at(1))).await;
    assert_eq!(store.get_password(&name("alice")).await.unwrap(), None);
    assert_eq!(
        store.count_passwords().await.unwrap(),
        0,
        "no passwords yet"
    );

    set_password(store, "alice", HASH_A, at(10)).await;
    assert_eq!(
        store.get_password(&name("alice")).await.unwrap(),
        Some(PasswordRecord {
            user: name("alice"),
            hash: HASH_A.into(),
            set_at: at(10),
        })
    );
    set_password(store, "alice", HASH_B, at(20)).await;
    let replaced = store
        .get_password(&name("alice"))
        .await
        .unwrap()
        .expect("alice has a password");
    assert_eq!(replaced.hash, HASH_B, "a new password replaces the old");
    assert_eq!(replaced.set_at, at(20));
    assert!(
        !format!("{replaced:?}").contains(HASH_B),
        "the hash is kept out of Debug"
    );
    assert_eq!(store.count_passwords().await.unwrap(), 1);

    set_password(store, "carol", HASH_A, at(30)).await;
    assert_eq!(
        store.count_passwords().await.unwrap(),
        1,
        "a disabled user's password does not count"
    );
    set_password(store, "bob", HASH_A, at(30)).await;
    assert_eq!(store.count_passwords().await.unwrap(), 2);
    let mut bob = user("bob", AccessRole::Responder);
    bob.disabled_at = Some(at(40));
    store
        .update_user(bob, audit("user.update", "bob"))
        .await
        .expect("update_user");
    assert_eq!(
        store.count_passwords().await.unwrap(),
        1,
        "disabling a user stops their password counting"
    );

    let unknown = transact(store, |tx| {
        Box::pin(async move { tx.set_password(&name("zed"), HASH_A, at(50)).await })
    })
    .await;
    expect_not_found(unknown, "set_password of a user that does not exist");
    assert_eq!(store.get_password(&name("zed")).await.unwrap(), None);
}

/// Sessions: every field round-trips (either method, revoked or not, with or without a
/// source); a taken id is `Conflict` and changes nothing, and the unit of work carries on
/// after it; touch sets `last_seen_at` and ignores unknown ids; revoking answers whether it
/// revoked.
pub async fn sessions_round_trip_touch_and_revoke<S: Store>(store: &S) {
    add_user(store, "alice", None).await;
    let oidc = Session {
        id_hash: "a".repeat(64),
        user: name("alice"),
        method: SignInMethod::Oidc,
        created_at: at(1_000),
        last_seen_at: at(2_000),
        expires_at: at(1_000) + ABSOLUTE_TIMEOUT,
        revoked_at: None,
        source: Some("2001:db8::1".into()),
    };
    let signed_out = Session {
        id_hash: "b".repeat(64),
        user: name("alice"),
        method: SignInMethod::Password,
        created_at: at(3_000),
        last_seen_at: at(3_000),
        expires_at: at(9_000),
        revoked_at: Some(at(4_000)),
        source: None,
    };
    add_session(store, oidc.clone()).await;
    add_session(store, signed_out.clone()).await;
    assert_eq!(get_session(store, &oidc.id_hash).await, oidc);
    assert_eq!(get_session(store, &signed_out.id_hash).await, signed_out);
    assert_eq!(store.get_session("unknown").await.unwrap(), None);

    let mut taken = session(&oidc.id_hash, "alice", at(5_000));
    taken.source = Some("198.51.100.7".into());
    let again = transact(store, move |tx| {
        Box::pin(async move { tx.create_session(&taken).await })
    })
    .await;
    expect_conflict(again, "a session id that is taken");
    assert_eq!(
        get_session(store, &oidc.id_hash).await,
        oidc,
        "the conflict changes nothing"
    );
    // A unit of work that meets the conflict can carry on and commit.
    let id = oidc.id_hash.clone();
    let taken = session(&oidc.id_hash, "alice", at(5_000));
    let carried_on = commit(store, "conflict, then touch", move |tx| {
        Box::pin(async move {
            let refused = tx.create_session(&taken).await;
            tx.touch_session(&id, at(6_000)).await?;
            Ok(matches!(refused, Err(StoreError::Conflict(_))))
        })
    })
    .await;
    assert!(carried_on, "the second create is refused as Conflict");
    assert_eq!(
        get_session(store, &oidc.id_hash).await.last_seen_at,
        at(6_000)
    );

    let id = oidc.id_hash.clone();
    commit(store, "touch", move |tx| {
        Box::pin(async move {
            tx.touch_session(&id, at(70_000)).await?;
            tx.touch_session("unknown", at(70_000)).await
        })
    })
    .await;
    let touched = get_session(store, &oidc.id_hash).await;
    assert_eq!(
        touched,
        Session {
            last_seen_at: at(70_000),
            ..oidc.clone()
        },
        "touch sets last_seen_at and nothing else"
    );
    assert_eq!(store.get_session("unknown").await.unwrap(), None);

    let revoke = |id: String, when: Timestamp| {
        commit(store, "revoke_session", move |tx| {
            Box::pin(async move { tx.revoke_session(&id, when).await })
        })
    };
    assert!(
        revoke(oidc.id_hash.clone(), at(80_000)).await,
        "revokes a live session"
    );
    assert!(
        !revoke(oidc.id_hash.clone(), at(90_000)).await,
        "a revoked session is not revoked again"
    );
    assert_eq!(
        get_session(store, &oidc.id_hash).await.revoked_at,
        Some(at(80_000)),
        "the first revocation's time is kept"
    );
    assert!(
        !revoke(signed_out.id_hash.clone(), at(90_000)).await,
        "a session stored revoked is not revoked again"
    );
    assert_eq!(
        get_session(store, &signed_out.id_hash).await.revoked_at,
        Some(at(4_000))
    );
    assert!(
        !revoke("unknown".into(), at(90_000)).await,
        "unknown: false"
    );
}

/// `revoke_sessions_of` revokes the user's unrevoked sessions but the one kept, touches no
/// other user's, and counts what it revoked.
pub async fn revoke_sessions_of_keeps_one<S: Store>(store: &S) {
    add_user(store, "alice", None).await;
    add_user(store, "bob", None).await;
    add_session(store, session("a1", "alice", at(1))).await;
    add_session(store, session("a2", "alice", at(2))).await;
    add_session(store, session("a3", "alice", at(3))).await;
    let mut old = session("a4", "alice", at(4));
    old.revoked_at = Some(at(5));
    add_session(store, old).await;
    add_session(store, session("b1", "bob", at(1))).await;

    let revoke_of = |handle: &str, keep: Option<&'static str>, when: Timestamp| {
        let handle = name(handle);
        commit(store, "revoke_sessions_of", move |tx| {
            Box::pin(async move { tx.revoke_sessions_of(&handle, keep, when).await })
        })
    };
    assert_eq!(revoke_of("alice", Some("a1"), at(10)).await, 2);
    let revoked_at = |id: &'static str| async move { get_session(store, id).await.revoked_at };
    assert_eq!(revoked_at("a1").await, None, "the kept session stays");
    assert_eq!(revoked_at("a2").await, Some(at(10)));
    assert_eq!(revoked_at("a3").await, Some(at(10)));
    assert_eq!(
        revoked_at("a4").await,
        Some(at(5)),
        "an old revocation is kept"
    );
    assert_eq!(revoked_at("b1").await, None, "another user's session stays");

    assert_eq!(
        revoke_of("alice", None, at(20)).await,
        1,
        "then the kept one"
    );
    assert_eq!(revoked_at("a1").await, Some(at(20)));
    assert_eq!(revoked_at("a2").await, Some(at(10)));
    assert_eq!(revoke_of("alice", None, at(30)).await, 0, "nothing left");
    assert_eq!(
        revoke_of("bob", Some("unknown"), at(30)).await,
        1,
        "keeping an unknown id keeps nothing"
    );
    assert_eq!(revoke_of("nobody", None, at(30)).await, 0);
}

/// `live_sessions`: the user's sessions that are not revoked and end (idle or absolute) after
/// the instant, newest first.
pub async fn live_sessions_newest_first<S: Store>(store: &S) {
    add_user(store, "alice", None).await;
    add_user(store, "bob", None).await;
    let now = at(10_000_000);
    let old = session("old", "alice", at(0));
    let mid = session("mid", "alice", at(1_000));
    let mut new = session("new", "alice", at(2_000));
    new.method = SignInMethod::Oidc;
    new.last_seen_at = at(9_000_000);
    let mut revoked = session("revoked", "alice", at(3_000));
    revoked.revoked_at = Some(at(3_500));
    // Idle for longer than the idle timeout: it ended a millisecond before `now`.
    let idle = session(
        "idle",
        "alice",
        now - IDLE_TIMEOUT - SignedDuration::from_millis(1),
    );
    // Busy, but its absolute end is `now` itself: it ends at `now`, not after.
    let mut ended = session("ended", "alice", now - ABSOLUTE_TIMEOUT);
    ended.last_seen_at = now - SignedDuration::from_millis(1);
    let other = session("bobs", "bob", at(2_500));
    for s in [&old, &mid, &new, &revoked, &idle, &ended, &other] {
        add_session(store, s.clone()).await;
    }

    let live = store.live_sessions(&name("alice"), now).await.unwrap();
    assert_eq!(
        live,
        vec![new.clone(), mid.clone(), old.clone()],
        "newest first; revoked, idle, ended and other users' sessions left out"
    );
    // Twelve hours after `old` was last seen it has ended; `new` was seen later.
    let later = at(0) + IDLE_TIMEOUT;
    let live = store.live_sessions(&name("alice"), later).await.unwrap();
    assert_eq!(live, vec![new.clone(), mid.clone()]);
    assert_eq!(
        store.live_sessions(&name("bob"), now).await.unwrap(),
        vec![other]
    );
    assert!(
        store
            .live_sessions(&name("nobody"), now)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Invitations: both targets round-trip, a taken token is `Conflict`, lock reads it inside the
/// unit, use marks it used; using or locking an unknown one is `NotFound` or nothing.
pub async fn invitations_lock_and_use<S: Store>(store: &S) {
    add_user(store, "alice", None).await;
    let for_alice = invitation(&"c".repeat(64), InvitationFor::User(name("alice")));
    let mut first_admin = invitation(&"d".repeat(64), InvitationFor::FirstAdmin);
    first_admin.created_by = "firebreak".into();
    for i in [&for_alice, &first_admin] {
        let i = i.clone();
        commit(store, "create_invitation", move |tx| {
            Box::pin(async move { tx.create_invitation(&i).await })
        })
        .await;
    }
    assert_eq!(
        store.get_invitation(&for_alice.token_hash).await.unwrap(),
        Some(for_alice.clone())
    );
    assert_eq!(
        store.get_invitation(&first_admin.token_hash).await.unwrap(),
        Some(first_admin.clone()),
        "the first-admin invitation round-trips"
    );
    assert_eq!(store.get_invitation("unknown").await.unwrap(), None);

    let mut taken = invitation(&for_alice.token_hash, InvitationFor::FirstAdmin);
    taken.created_by = "mallory".into();
    let again = transact(store, move |tx| {
        Box::pin(async move { tx.create_invitation(&taken).await })
    })
    .await;
    expect_conflict(again, "an invitation token that is taken");
    assert_eq!(
        store.get_invitation(&for_alice.token_hash).await.unwrap(),
        Some(for_alice.clone()),
        "the conflict changes nothing"
    );

    let token = first_admin.token_hash.clone();
    let locked = commit(store, "lock and use", move |tx| {
        Box::pin(async move {
            let locked = tx.lock_invitation(&token).await?;
            tx.use_invitation(&token, at(500)).await?;
            Ok(locked)
        })
    })
    .await;
    assert_eq!(locked, Some(first_admin.clone()), "lock reads every field");
    assert_eq!(
        store.get_invitation(&first_admin.token_hash).await.unwrap(),
        Some(Invitation {
            used_at: Some(at(500)),
            ..first_admin.clone()
        }),
        "use sets used_at and nothing else"
    );
    assert_eq!(
        store.get_invitation(&for_alice.token_hash).await.unwrap(),
        Some(for_alice.clone()),
        "the other invitation is untouched"
    );

    let missing = commit(store, "lock unknown", |tx| {
        Box::pin(async move { tx.lock_invitation("unknown").await })
    })
    .await;
    assert_eq!(missing, None);
    let unknown = transact(store, |tx| {
        Box::pin(async move { tx.use_invitation("unknown", at(600)).await })
    })
    .await;
    expect_not_found(unknown, "use of an unknown invitation");

    // Expiring a target's links marks its unused ones used, and only those.
    add_user(store, "bob", None).await;
    let second = invitation(&"e".repeat(64), InvitationFor::User(name("alice")));
    let for_bob = invitation(&"f".repeat(64), InvitationFor::User(name("bob")));
    let other_admin = invitation(&"9".repeat(64), InvitationFor::FirstAdmin);
    for i in [&second, &for_bob, &other_admin] {
        let i = i.clone();
        commit(store, "create_invitation", move |tx| {
            Box::pin(async move { tx.create_invitation(&i).await })
        })
        .await;
    }
    let expired = commit(store, "expire alice's", |tx| {
        Box::pin(async move {
            tx.expire_invitations(&InvitationFor::User(name("alice")), at(700))
                .await
        })
    })
    .await;
    assert_eq!(expired, 2, "both of alice's unused links");
    for t in [&for_alice.token_hash, &second.token_hash] {
        let got = store.get_invitation(t).await.unwrap().unwrap();
        assert_eq!(got.used_at, Some(at(700)));
    }
    assert_eq!(
        store.get_invitation(&for_bob.token_hash).await.unwrap(),
        Some(for_bob.clone()),
        "another user's link is untouched"
    );
    let expired = commit(store, "expire setup links", |tx| {
        Box::pin(async move {
            tx.expire_invitations(&InvitationFor::FirstAdmin, at(800))
                .await
        })
    })
    .await;
    assert_eq!(
        expired, 1,
        "the used setup link keeps its time; the unused one ends"
    );
    assert_eq!(
        store
            .get_invitation(&first_admin.token_hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(at(500))
    );
    assert_eq!(
        store
            .get_invitation(&other_admin.token_hash)
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(at(800))
    );
}

/// Failed sign-ins: each counts one more against its key, starts again from one when the
/// stored failures are older than `forget_before` (not when they are exactly that old), and
/// clearing forgets them; keys are independent.
pub async fn failures_count_forget_and_clear<S: Store>(store: &S) {
    let hour = SignedDuration::from_hours(1);
    let alice = "user:alice";
    let ip = "ip:203.0.113.9";
    assert_eq!(store.get_failures(alice).await.unwrap(), None);
    let counted = |count, last_at| Failures { count, last_at };

    assert_eq!(
        fail(store, alice, at(0), at(0) - hour).await,
        counted(1, at(0))
    );
    assert_eq!(
        fail(store, alice, at(1_000), at(1_000) - hour).await,
        counted(2, at(1_000))
    );
    assert_eq!(
        fail(store, alice, at(2_000), at(2_000) - hour).await,
        counted(3, at(2_000))
    );
    assert_eq!(
        store.get_failures(alice).await.unwrap(),
        Some(counted(3, at(2_000)))
    );
    assert_eq!(
        fail(store, ip, at(2_500), at(2_500) - hour).await,
        counted(1, at(2_500))
    );

    // Exactly as old as `forget_before`: still counted.
    assert_eq!(
        fail(store, alice, at(5_000), at(2_000)).await,
        counted(4, at(5_000))
    );
    // Older: forgotten, and this failure is the first again.
    assert_eq!(
        fail(store, alice, at(9_000), at(5_001)).await,
        counted(1, at(9_000))
    );
    assert_eq!(
        store.get_failures(alice).await.unwrap(),
        Some(counted(1, at(9_000)))
    );
    assert_eq!(
        store.get_failures(ip).await.unwrap(),
        Some(counted(1, at(2_500))),
        "another key is untouched"
    );

    commit(store, "clear_failures", |tx| {
        Box::pin(async move {
            tx.clear_failures("user:alice").await?;
            tx.clear_failures("user:nobody").await
        })
    })
    .await;
    assert_eq!(store.get_failures(alice).await.unwrap(), None);
    assert_eq!(
        store.get_failures(ip).await.unwrap(),
        Some(counted(1, at(2_500)))
    );
    assert_eq!(
        fail(store, alice, at(10_000), at(0)).await,
        counted(1, at(10_000))
    );
}

/// Failures recorded at once against one key are each counted: the upsert is atomic.
pub async fn concurrent_failures_all_count<S: Store + 'static>(store: Arc<S>) {
    let n = 40u32;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(
                async move { fail(&*store, "ip:198.51.100.1", at(i64::from(i)), at(-1)).await },
            )
        })
        .collect();
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.expect("failure task").count);
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=n).collect::<Vec<_>>(),
        "each failure saw its own count"
    );
    let stored = store.get_failures("ip:198.51.100.1").await.unwrap();
    assert_eq!(stored.map(|f| f.count), Some(n));
}

/// A unit of work that fails after sign-in writes leaves none of them: no password, session,
/// invitation or failure, and existing sessions and invitations as they were.
pub async fn failed_account_work_leaves_nothing<S: Store>(store: &S) {
    add_user(store, "alice", None).await;
    let kept = session("kept", "alice", at(0));
    add_session(store, kept.clone()).await;
    let pending = invitation("pending", InvitationFor::User(name("alice")));
    let p = pending.clone();
    commit(store, "create_invitation", move |tx| {
        Box::pin(async move { tx.create_invitation(&p).await })
    })
    .await;
    fail(store, "user:alice", at(0), at(-1)).await;

    let alice: Name = name("alice");
    let err = transact(store, move |tx| {
        Box::pin(async move {
            tx.set_password(&alice, HASH_A, at(1)).await?;
            tx.create_session(&session("new", "alice", at(1))).await?;
            tx.touch_session("kept", at(2)).await?;
            tx.revoke_session("kept", at(3)).await?;
            tx.revoke_sessions_of(&alice, None, at(3)).await?;
            tx.create_invitation(&invitation("fresh", InvitationFor::FirstAdmin))
                .await?;
            tx.use_invitation("pending", at(4)).await?;
            tx.record_failure("user:alice", at(5), at(-1)).await?;
            tx.record_failure("ip:203.0.113.9", at(5), at(-1)).await?;
            Err::<(), _>(StoreError::backend("the engine gave up"))
        })
    })
    .await
    .expect_err("transact returns the work's error");
    assert!(
        matches!(&err, StoreError::Backend(cause) if cause.to_string() == "the engine gave up"),
        "transact returns the work's error unchanged, got {err:?}"
    );
    assert_eq!(store.get_password(&name("alice")).await.unwrap(), None);
    assert_eq!(store.count_passwords().await.unwrap(), 0);
    assert_eq!(store.get_session("new").await.unwrap(), None);
    assert_eq!(
        get_session(store, "kept").await,
        kept,
        "not touched or revoked"
    );
    assert_eq!(store.get_invitation("fresh").await.unwrap(), None);
    assert_eq!(
        store.get_invitation("pending").await.unwrap(),
        Some(pending),
        "not used"
    );
    assert_eq!(
        store.get_failures("user:alice").await.unwrap(),
        Some(Failures {
            count: 1,
            last_at: at(0)
        })
    );
    assert_eq!(store.get_failures("ip:203.0.113.9").await.unwrap(), None);
}

async fn prune<S: Store>(store: &S, p: SignInPrune, limit: u32) -> Pruned {
    commit(store, "prune_sign_ins", move |tx| {
        Box::pin(async move { tx.prune_sign_ins(&p, limit).await })
    })
    .await
}

/// Pruning deletes exactly the sign-in rows the domain's [`SignInPrune`] says are done with:
/// sessions revoked, idle or past their absolute end before the cut-off (one that ended at it
/// stays), invitations used or expired before it, failures no backoff counts; live sessions,
/// pending links and recent failures stay as they were. A batch deletes at most `limit` rows
/// of each table, and batches go on until nothing is left; a later cut-off takes the rest.
pub async fn sign_in_rows_pruned_only_when_due<S: Store>(store: &S) {
    let ms = SignedDuration::from_millis(1);
    let hour = SignedDuration::from_hours(1);
    let now = at(0) + SignedDuration::from_hours(24 * 30);
    let p = SignInPrune::at(now);
    let (ended, seen) = (p.ended_before, p.seen_before);
    add_user(store, "alice", None).await;

    let with = |id: &str, created: Timestamp, seen: Timestamp, revoked: Option<Timestamp>| {
        let mut s = session(id, "alice", created);
        s.last_seen_at = seen;
        s.revoked_at = revoked;
        s
    };
    let sessions = [
        with(
            "revoked-old",
            ended - hour * 2,
            ended - hour * 2,
            Some(ended - ms),
        ),
        with("revoked-edge", ended - hour, ended - hour, Some(ended)),
        with("idle-old", seen - ms, seen - ms, None),
        with("idle-edge", seen, seen, None),
        with(
            "absolute-old",
            ended - ABSOLUTE_TIMEOUT - ms,
            ended - hour,
            None,
        ),
        with(
            "absolute-edge",
            ended - ABSOLUTE_TIMEOUT,
            ended - hour,
            None,
        ),
        with("touched", seen - hour * 5, seen + ms, None),
        with("live", now - hour, now, None),
    ];
    for s in &sessions {
        add_session(store, s.clone()).await;
    }
    let link = |token: &str, target, expires: Timestamp, used: Option<Timestamp>| Invitation {
        token_hash: token.into(),
        target,
        created_by: "root".into(),
        created_at: ended - hour * 100,
        expires_at: expires,
        used_at: used,
    };
    let alice = || InvitationFor::User(name("alice"));
    let invitations = [
        link("used-old", alice(), ended + hour * 70, Some(ended - ms)),
        link("used-edge", alice(), ended + hour * 70, Some(ended)),
        link("expired-old", alice(), ended - ms, None),
        link("expired-edge", alice(), ended, None),
        link(
            "first-admin-old",
            InvitationFor::FirstAdmin,
            ended - ms,
            None,
        ),
        link("pending", alice(), now + hour, None),
    ];
    for i in &invitations {
        let i = i.clone();
        commit(store, "create_invitation", move |tx| {
            Box::pin(async move { tx.create_invitation(&i).await })
        })
        .await;
    }
    let failed = [
        ("user:old", p.failed_before - ms),
        ("user:edge", p.failed_before),
        ("ip:203.0.113.9", now),
    ];
    for (key, when) in failed {
        fail(store, key, when, when - hour).await;
    }

    // What is left after pruning with `p`: the domain's rule, row by row.
    let check = |p: SignInPrune| {
        let sessions = sessions.clone();
        let invitations = invitations.clone();
        async move {
            for s in &sessions {
                let stored = store.get_session(&s.id_hash).await.unwrap();
                let expected = (!p.session(s)).then(|| s.clone());
                assert_eq!(stored, expected, "session {}", s.id_hash);
            }
            for i in &invitations {
                let stored = store.get_invitation(&i.token_hash).await.unwrap();
                let expected = (!p.invitation(i)).then(|| i.clone());
                assert_eq!(stored, expected, "invitation {}", i.token_hash);
            }
            for (key, when) in failed {
                let f = Failures {
                    count: 1,
                    last_at: when,
                };
                let expected = (!p.failures(&f)).then_some(f);
                assert_eq!(store.get_failures(key).await.unwrap(), expected, "{key}");
            }
        }
    };

    // Batches of two: two of each, then the rest, then nothing.
    let first = prune(store, p, 2).await;
    assert_eq!(
        first,
        Pruned {
            sessions: 2,
            invitations: 2,
            failures: 1
        }
    );
    assert!(first.filled(2));
    let second = prune(store, p, 2).await;
    assert_eq!(
        second,
        Pruned {
            sessions: 1,
            invitations: 1,
            failures: 0
        }
    );
    assert!(!second.filled(2));
    assert_eq!(prune(store, p, 2).await, Pruned::default());
    check(p).await;
    for gone in ["revoked-old", "idle-old", "absolute-old"] {
        assert_eq!(store.get_session(gone).await.unwrap(), None, "{gone}");
    }
    for kept in [
        "revoked-edge",
        "idle-edge",
        "absolute-edge",
        "touched",
        "live",
    ] {
        assert!(store.get_session(kept).await.unwrap().is_some(), "{kept}");
    }
    assert_eq!(store.get_invitation("first-admin-old").await.unwrap(), None);
    assert!(store.get_invitation("pending").await.unwrap().is_some());
    assert_eq!(store.get_failures("user:old").await.unwrap(), None);
    assert!(store.get_failures("user:edge").await.unwrap().is_some());

    // A millisecond later the rows that ended at the cut-off go too; the live ones stay.
    let later = SignInPrune::at(now + ms);
    assert_eq!(
        prune(store, later, 100).await,
        Pruned {
            sessions: 3,
            invitations: 2,
            failures: 1
        }
    );
    check(later).await;
    assert!(store.get_session("live").await.unwrap().is_some());
    assert!(store.get_session("touched").await.unwrap().is_some());
    assert_eq!(
        store.live_sessions(&name("alice"), now).await.unwrap(),
        vec![sessions[7].clone()],
        "the live session is still live"
    );
}
