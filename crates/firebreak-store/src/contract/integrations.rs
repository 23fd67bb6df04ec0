//! Contract checks of integrations: creating and listing them with their keys, rotating and
//! revoking keys, and syncing the config file's integrations.

use super::{at, audit, audit_count, expect_conflict, expect_not_found, name};
use crate::{IntegrationKey, IntegrationRecord, Store, StoreError, StoreWrites};

pub(super) fn key(id: &str, hash_char: char, created: i64) -> IntegrationKey {
    IntegrationKey {
        id: id.into(),
        hash: hash_char.to_string().repeat(64),
        hint: format!("{id:.4}"),
        created_at: at(created),
        revoked_at: None,
    }
}

pub(super) fn integration(
    id: &str,
    service: &str,
    n: &str,
    keys: Vec<IntegrationKey>,
) -> IntegrationRecord {
    IntegrationRecord {
        id: id.into(),
        service: name(service),
        name: n.into(),
        from_config: false,
        created_at: at(7),
        keys,
    }
}

/// Integrations: create, list by service then name with keys oldest first, duplicate name or
/// key is `Conflict`, add and revoke keys (revoked keys stay listed with `revoked_at`).
pub async fn integrations_create_list_and_keys<S: Store>(store: &S) {
    let created = store
        .create_integration(
            integration(
                "int_b",
                "checkout",
                "prometheus",
                vec![key("key_b1", 'b', 1)],
            ),
            audit("integration.create", "int_b"),
        )
        .await
        .expect("create_integration");
    assert_eq!(
        created,
        integration(
            "int_b",
            "checkout",
            "prometheus",
            vec![key("key_b1", 'b', 1)]
        ),
        "create_integration returns the stored integration with its keys"
    );
    store
        .create_integration(
            integration("int_a", "checkout", "grafana", vec![key("key_a1", 'a', 1)]),
            audit("integration.create", "int_a"),
        )
        .await
        .expect("create_integration");
    store
        .create_integration(
            integration("int_c", "api", "pagerduty", vec![]),
            audit("integration.create", "int_c"),
        )
        .await
        .expect("create_integration without keys");
    let listed = store.list_integrations().await.expect("list_integrations");
    assert_eq!(
        listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["int_c", "int_a", "int_b"],
        "integrations are listed by service, then name"
    );
    assert_eq!(audit_count(store).await, 3, "each create is audited");

    expect_conflict(
        store
            .create_integration(
                integration("int_d", "checkout", "grafana", vec![key("key_d1", 'd', 1)]),
                audit("integration.create", "int_d"),
            )
            .await,
        "a second integration of the same name on one service",
    );
    expect_conflict(
        store
            .create_integration(
                integration("int_e", "api", "other", vec![key("key_e1", 'a', 1)]),
                audit("integration.create", "int_e"),
            )
            .await,
        "an integration with a key hash that already exists",
    );
    assert_eq!(
        store.list_integrations().await.expect("list").len(),
        3,
        "refused creates store nothing"
    );
    assert_eq!(
        audit_count(store).await,
        3,
        "refused creates are not audited"
    );
    store
        .create_integration(
            integration("int_f", "api", "grafana", vec![]),
            audit("integration.create", "int_f"),
        )
        .await
        .expect("the same name on another service is fine");

    let rotated = store
        .add_integration_key(
            "int_b",
            key("key_b2", 'c', 2),
            audit("integration.key.add", "int_b"),
        )
        .await
        .expect("add_integration_key");
    assert_eq!(
        rotated.keys,
        vec![key("key_b1", 'b', 1), key("key_b2", 'c', 2)],
        "a new key joins the old one, oldest first"
    );
    expect_not_found(
        store
            .add_integration_key("int_zz", key("key_z", 'z', 3), audit("x", "y"))
            .await,
        "adding a key to an unknown integration",
    );
    expect_conflict(
        store
            .add_integration_key("int_c", key("key_c9", 'a', 3), audit("x", "y"))
            .await,
        "adding a key whose hash exists",
    );

    let revoked = store
        .revoke_integration_key(
            "int_b",
            "key_b1",
            at(9),
            audit("integration.key.revoke", "int_b"),
        )
        .await
        .expect("revoke_integration_key");
    let mut old = key("key_b1", 'b', 1);
    old.revoked_at = Some(at(9));
    assert_eq!(
        revoked.keys,
        vec![old.clone(), key("key_b2", 'c', 2)],
        "a revoked key stays listed with revoked_at"
    );
    expect_not_found(
        store
            .revoke_integration_key("int_b", "key_b1", at(10), audit("x", "y"))
            .await,
        "revoking a key twice",
    );
    expect_not_found(
        store
            .revoke_integration_key("int_a", "key_b2", at(10), audit("x", "y"))
            .await,
        "revoking another integration's key",
    );
    expect_not_found(
        store
            .revoke_integration_key("int_zz", "key_b2", at(10), audit("x", "y"))
            .await,
        "revoking a key of an unknown integration",
    );
    let listed = store.list_integrations().await.expect("list");
    let b = listed
        .iter()
        .find(|i| i.id == "int_b")
        .expect("int_b listed");
    assert_eq!(b.keys, vec![old, key("key_b2", 'c', 2)]);
    assert_eq!(
        audit_count(store).await,
        6,
        "create, add key and revoke are audited; refusals are not"
    );
}

/// `sync_integrations` adds what is missing, keeps existing ids, adds new keys, is idempotent and
/// never deletes integrations or keys.
pub async fn sync_integrations_upserts_and_never_deletes<S: Store>(store: &S) {
    store
        .create_integration(
            integration(
                "int_api",
                "checkout",
                "alertmanager",
                vec![key("key_1", '1', 1)],
            ),
            audit("integration.create", "int_api"),
        )
        .await
        .expect("create_integration");
    let mut from_config = vec![
        // Same service and name as the API one, under another id: the stored id wins.
        integration(
            "int_cfg1",
            "checkout",
            "alertmanager",
            vec![key("key_1", '1', 1), key("key_2", '2', 2)],
        ),
        integration("int_cfg2", "search", "grafana", vec![key("key_3", '3', 3)]),
    ];
    for i in &mut from_config {
        i.from_config = true;
    }
    store
        .sync_integrations(from_config.clone())
        .await
        .expect("sync_integrations");
    let first = store.list_integrations().await.expect("list");
    assert_eq!(
        first.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["int_api", "int_cfg2"],
        "an existing integration keeps its id; a new one is added"
    );
    assert_eq!(
        first[0]
            .keys
            .iter()
            .map(|k| k.id.as_str())
            .collect::<Vec<_>>(),
        vec!["key_1", "key_2"],
        "keys not yet present are added, present ones not duplicated"
    );
    assert!(
        first.iter().all(|i| i.from_config),
        "synced integrations are marked from_config"
    );
    assert_eq!(first[1].keys, vec![key("key_3", '3', 3)]);

    store
        .sync_integrations(from_config)
        .await
        .expect("sync_integrations again");
    assert_eq!(
        store.list_integrations().await.expect("list"),
        first,
        "sync_integrations is idempotent"
    );

    store
        .sync_integrations(vec![])
        .await
        .expect("sync_integrations of nothing");
    assert_eq!(
        store.list_integrations().await.expect("list"),
        first,
        "sync_integrations never deletes"
    );
    assert_eq!(audit_count(store).await, 1, "sync is not audited");

    // A config key already held by another integration is refused, and nothing changes.
    let mut stolen = integration(
        "int_cfg3",
        "search",
        "prometheus",
        vec![key("key_9", '3', 9)],
    );
    stolen.from_config = true;
    match store.sync_integrations(vec![stolen]).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a key owned by another integration must be Conflict, got {other:?}"),
    }
    assert_eq!(
        store.list_integrations().await.expect("list"),
        first,
        "a refused sync changes nothing"
    );
}
