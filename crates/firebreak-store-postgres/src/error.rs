//! How PostgreSQL's failures map onto the store's error kinds, decided in one place:
//!
//! - the database cannot be reached (connection refused, a broken socket, the pool timed out
//!   or closed, SQLSTATE class 08, an administrator shutting the server down, no connection
//!   slot left): `Unavailable`, answered with 503 and `Retry-After`;
//! - a serialization failure (`40001`) or a deadlock (`40P01`): `Retryable`, and the engine
//!   runs the work again;
//! - a unique violation (`23505`): `Conflict`, with a message written for people from the
//!   constraint's name, never SQL;
//! - anything else, including text PostgreSQL cannot store (a NUL byte: `22021`, `22P05`):
//!   `Backend`, a bug to log.
//!
//! The cause is kept inside the error for logs.

use firebreak_store::StoreError;

/// What a failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Unavailable,
    Retryable,
    Unique,
    Backend,
}

/// The kind of a failure the server reported with `code` (its SQLSTATE).
pub(crate) fn kind_of_sqlstate(code: &str) -> Kind {
    match code {
        "40001" | "40P01" => Kind::Retryable,
        "23505" => Kind::Unique,
        // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
        "57P01" | "57P02" | "57P03" | "53300" => Kind::Unavailable,
        c if c.starts_with("08") => Kind::Unavailable,
        _ => Kind::Backend,
    }
}

/// The kind of any `sqlx` failure.
pub(crate) fn kind(e: &sqlx::Error) -> Kind {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Kind::Unavailable,
        sqlx::Error::Database(d) => d.code().map_or(Kind::Backend, |c| kind_of_sqlstate(&c)),
        _ => Kind::Backend,
    }
}

/// The SQLSTATE of a failure the server reported, if it was one.
pub(crate) fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// Any database failure, as the store's error kind. A unique violation names what was taken
/// in general terms; use [`db_for`] to name the subject.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    classify(e, "")
}

/// Like [`db`], naming `subject` (the name, handle or id written) in a conflict's message.
pub(crate) fn db_for(subject: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| classify(e, subject)
}

fn classify(e: sqlx::Error, subject: &str) -> StoreError {
    match kind(&e) {
        Kind::Unavailable => StoreError::Unavailable(Box::new(e)),
        Kind::Retryable => StoreError::Retryable(Box::new(e)),
        Kind::Backend => StoreError::Backend(Box::new(e)),
        Kind::Unique => {
            let constraint = e
                .as_database_error()
                .and_then(|d| d.constraint())
                .unwrap_or("");
            StoreError::Conflict(conflict_message(constraint, subject))
        }
    }
}

/// The message for a unique violation of `constraint`, naming `subject` where it helps.
pub(crate) fn conflict_message(constraint: &str, subject: &str) -> String {
    match constraint {
        "services_pkey" => format!("a service named `{subject}` already exists"),
        "users_pkey" => format!("a user with the handle `{subject}` already exists"),
        "schedules_pkey" => format!("a schedule named `{subject}` already exists"),
        "escalation_policies_pkey" => format!("a policy named `{subject}` already exists"),
        "contact_methods_pkey" => format!("a contact method `{subject}` already exists"),
        "contact_methods_user_handle_name_key" => {
            format!("the user already has a contact method named `{subject}`")
        }
        "escalations_pkey" => format!("an escalation `{subject}` already exists"),
        "schedule_overrides_id_key" => format!("an override `{subject}` already exists"),
        "tokens_pkey" => format!("a token with the id `{subject}` already exists"),
        "tokens_hash_key" => "a token with that secret already exists".to_string(),
        "incidents_pkey" => "an incident with that number already exists".to_string(),
        "integrations_pkey" => format!("an integration with the id `{subject}` already exists"),
        "integrations_service_name_key" => {
            format!("the service already has an integration named `{subject}`")
        }
        "integration_keys_pkey" => {
            format!("an integration key with the id `{subject}` already exists")
        }
        "integration_keys_hash_key" => {
            "an integration key with that secret already exists".to_string()
        }
        "alerts_open_dedup" => {
            format!("an unresolved alert with the dedup key `{subject}` already exists")
        }
        "webhook_subscriptions_pkey" => {
            format!("a webhook subscription with the id `{subject}` already exists")
        }
        "ingest_requests_pkey" => format!("a request with the id `{subject}` is already recorded"),
        _ => "that record already exists".to_string(),
    }
}

/// A new error of the same kind as `cause`, for every job of a batch that failed for a reason
/// not its own (the cause itself cannot be shared).
pub(crate) fn same_kind(cause: &StoreError) -> StoreError {
    let text = cause.to_string();
    match cause {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Unavailable(_) => StoreError::Unavailable(text.into()),
        StoreError::Retryable(_) => StoreError::Retryable(text.into()),
        StoreError::Backend(_) => StoreError::Backend(text.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_the_kinds_callers_act_on() {
        let cases = [
            ("40001", Kind::Retryable),
            ("40P01", Kind::Retryable),
            ("23505", Kind::Unique),
            ("08000", Kind::Unavailable),
            ("08003", Kind::Unavailable),
            ("08006", Kind::Unavailable),
            ("08001", Kind::Unavailable),
            ("08P01", Kind::Unavailable),
            ("57P01", Kind::Unavailable),
            ("57P02", Kind::Unavailable),
            ("57P03", Kind::Unavailable),
            ("53300", Kind::Unavailable),
            ("22021", Kind::Backend),
            ("22P05", Kind::Backend),
            ("23503", Kind::Backend),
            ("23502", Kind::Backend),
            ("42P01", Kind::Backend),
            ("25P02", Kind::Backend),
            ("57014", Kind::Backend),
        ];
        for (code, expected) in cases {
            assert_eq!(kind_of_sqlstate(code), expected, "SQLSTATE {code}");
        }
    }

    #[test]
    fn connection_failures_are_unavailable() {
        let refused = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        for e in [refused, sqlx::Error::PoolTimedOut, sqlx::Error::PoolClosed] {
            let shown = e.to_string();
            let mapped = db(e);
            assert!(
                matches!(mapped, StoreError::Unavailable(_)),
                "{shown}: {mapped:?}"
            );
            assert!(mapped.is_transient());
        }
        assert!(matches!(
            db(sqlx::Error::RowNotFound),
            StoreError::Backend(_)
        ));
        assert!(matches!(
            db(sqlx::Error::Protocol("garbled".into())),
            StoreError::Backend(_)
        ));
    }

    #[test]
    fn conflicts_speak_plainly() {
        for constraint in [
            "services_pkey",
            "users_pkey",
            "tokens_pkey",
            "tokens_hash_key",
            "integrations_service_name_key",
            "something_else",
        ] {
            let m = conflict_message(constraint, "checkout");
            assert!(!m.contains("pkey") && !m.contains("_key"), "{m}");
        }
    }

    #[test]
    fn a_batch_failure_keeps_its_kind_for_every_job() {
        let cause = StoreError::Retryable("deadlock detected".into());
        assert!(matches!(same_kind(&cause), StoreError::Retryable(_)));
        let cause = StoreError::unavailable("connection reset");
        assert!(matches!(same_kind(&cause), StoreError::Unavailable(_)));
        let cause = StoreError::backend("odd");
        assert!(matches!(same_kind(&cause), StoreError::Backend(_)));
    }
}
