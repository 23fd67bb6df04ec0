//! On-call schedules: who is on call now or at any instant, the final shifts over a range, and
//! overrides (someone covering for a while). The rules live in `firebreak_domain::schedule`;
//! this reads the schedule and its overrides from the store and asks them.

use firebreak_domain::Name;
use firebreak_domain::instant::in_accepted_range;
use firebreak_domain::schedule::{Override, Schedule, Shift};
use firebreak_store::{OverrideRecord, ScheduleRecord, StoreError};
use jiff::{SignedDuration, Timestamp};

use crate::{EngineError, Firebreak, Principal, invalid, short_id};

/// The longest range one shifts request may cover.
pub const MAX_SHIFTS_RANGE: SignedDuration = SignedDuration::from_hours(24 * 366);
/// The most shifts one layer may produce in one request.
pub const MAX_SHIFTS: usize = 10_000;

/// Who is on call at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    pub at: Timestamp,
    pub shift: Option<Shift>,
}

/// An instant a caller gave must lie in the range Firebreak keeps to.
fn check_instant(field: &str, t: Timestamp) -> Result<(), EngineError> {
    if in_accepted_range(t) {
        Ok(())
    } else {
        Err(invalid(
            field,
            "must be between 2000-01-01T00:00:00Z and 2200-12-31T23:59:59Z",
        ))
    }
}

impl Firebreak {
    pub async fn schedules(&self) -> Result<Vec<ScheduleRecord>, EngineError> {
        Ok(self.store.list_schedules().await?)
    }

    pub async fn schedule(&self, name: &Name) -> Result<ScheduleRecord, EngineError> {
        self.store.get_schedule(name).await?.ok_or_else(|| {
            EngineError::NotFound(format!(
                "there is no schedule named `{name}`; `firebreak schedule list` shows them"
            ))
        })
    }

    /// Adds a schedule (admins). Every member must be a known user.
    pub async fn create_schedule(
        &self,
        who: &Principal,
        schedule: Schedule,
    ) -> Result<ScheduleRecord, EngineError> {
        self.check_members(&schedule).await?;
        let now = self.clock.now();
        let record = ScheduleRecord {
            schedule,
            from_config: false,
            created_at: now,
            updated_at: now,
        };
        let audit = self.audit(
            who,
            "schedule.create",
            format!("schedule {}", record.schedule.name),
        );
        let stored = record.clone();
        self.write(1, || {
            let (stored, audit) = (stored.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.create_schedule(&stored).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        self.paging_changed().await;
        Ok(record)
    }

    /// Replaces a schedule's time zone and layers (admins); its overrides stay. One declared in
    /// `firebreak.yaml` is changed there: the file would bring it back at the next start.
    pub async fn replace_schedule(
        &self,
        who: &Principal,
        schedule: Schedule,
    ) -> Result<ScheduleRecord, EngineError> {
        let name = schedule.name.clone();
        let existing = self.schedule(&name).await?;
        if existing.from_config {
            return Err(EngineError::Conflict(format!(
                "schedule `{name}` is declared in firebreak.yaml; change it there instead"
            )));
        }
        self.check_members(&schedule).await?;
        let record = ScheduleRecord {
            schedule,
            from_config: false,
            created_at: existing.created_at,
            updated_at: self.clock.now(),
        };
        let audit = self.audit(who, "schedule.replace", format!("schedule {name}"));
        let stored = record.clone();
        self.write(1, || {
            let (stored, audit) = (stored.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.replace_schedule(&stored).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                EngineError::NotFound(format!("there is no schedule named `{name}`"))
            }
            other => other.into(),
        })?;
        self.paging_changed().await;
        Ok(record)
    }

    /// Removes a schedule and its overrides (admins). One declared in `firebreak.yaml` is
    /// removed there: the file would bring it back at the next start.
    pub async fn delete_schedule(&self, who: &Principal, name: &Name) -> Result<(), EngineError> {
        if self.schedule(name).await?.from_config {
            return Err(EngineError::Conflict(format!(
                "schedule `{name}` is declared in firebreak.yaml; remove it there instead"
            )));
        }
        // A policy that pages a deleted schedule would page nobody, and say so nowhere.
        let users: Vec<String> = self
            .store
            .list_policies()
            .await?
            .into_iter()
            .filter(|p| p.policy.schedules().contains(&name))
            .map(|p| p.policy.name.to_string())
            .collect();
        if !users.is_empty() {
            return Err(EngineError::Conflict(format!(
                "schedule `{name}` is paged by escalation policy {}; take it out of their steps first (PUT /api/v1/escalation-policies/{{name}})",
                users.join(", ")
            )));
        }
        let audit = self.audit(who, "schedule.delete", format!("schedule {name}"));
        let target = name.clone();
        self.write(1, || {
            let (target, audit) = (target.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.delete_schedule(&target).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                EngineError::NotFound(format!("there is no schedule named `{name}`"))
            }
            other => other.into(),
        })?;
        self.paging_changed().await;
        Ok(())
    }

    /// Who is on call on `name` at `at`.
    pub async fn on_call(&self, name: &Name, at: Timestamp) -> Result<OnCall, EngineError> {
        let record = self.schedule(name).await?;
        check_instant("at", at)?;
        let end = at
            .checked_add(SignedDuration::from_millis(1))
            .map_err(|_| invalid("at", "is out of range"))?;
        let overrides = self.overrides(name, at, end).await?;
        Ok(OnCall {
            at,
            shift: record.schedule.on_call(at, &overrides),
        })
    }

    /// The final shifts of `name` between `from` and `to`: layers and overrides resolved, in
    /// time order.
    pub async fn shifts(
        &self,
        name: &Name,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Shift>, EngineError> {
        let record = self.schedule(name).await?;
        check_instant("from", from)?;
        check_instant("to", to)?;
        if to <= from {
            return Err(invalid("to", "must be after from"));
        }
        if to.duration_since(from) > MAX_SHIFTS_RANGE {
            return Err(invalid(
                "to",
                "a range is at most 366 days; ask for the next range after this one",
            ));
        }
        let overrides = self.overrides(name, from, to).await?;
        record
            .schedule
            .shifts(from, to, &overrides, MAX_SHIFTS)
            .map_err(|e| invalid(&e.field, e.message))
    }

    /// The overrides of schedule `name` that have not ended by `from` (now, by default), in
    /// the order they were added: what `remove_override` takes ids from.
    pub async fn list_overrides(
        &self,
        name: &Name,
        from: Option<Timestamp>,
    ) -> Result<Vec<OverrideRecord>, EngineError> {
        self.schedule(name).await?;
        let from = from.unwrap_or_else(|| self.clock.now());
        check_instant("from", from)?;
        Ok(self
            .store
            .overrides_of(name, from, firebreak_domain::instant::ACCEPTED_LATEST)
            .await?)
    }

    /// Overrides of `name` overlapping `from..to`, in the order they were added.
    pub async fn overrides_of(
        &self,
        name: &Name,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<OverrideRecord>, EngineError> {
        Ok(self.store.overrides_of(name, from, to).await?)
    }

    async fn overrides(
        &self,
        name: &Name,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Override>, EngineError> {
        Ok(self
            .overrides_of(name, from, to)
            .await?
            .into_iter()
            .map(|o| o.cover)
            .collect())
    }

    /// `user` covers `name` from `start` to `end` (responders: people swap shifts at night
    /// without waiting for an admin).
    pub async fn add_override(
        &self,
        who: &Principal,
        name: &Name,
        user: Name,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<OverrideRecord, EngineError> {
        self.schedule(name).await?;
        check_instant("start", start)?;
        check_instant("end", end)?;
        if end <= start {
            return Err(invalid("end", "must be after start"));
        }
        if self.store.get_user(&user).await?.is_none() {
            return Err(invalid(
                "user",
                format!("there is no user `{user}`; `firebreak user list` shows them"),
            ));
        }
        let record = OverrideRecord {
            schedule: name.clone(),
            cover: Override {
                id: short_id("ovr")?,
                user,
                start,
                end,
            },
            created_at: self.clock.now(),
            created_by: who.actor.0.clone(),
        };
        let audit = self.audit(
            who,
            "schedule.override.add",
            format!(
                "schedule {name}: {} covers {} to {}",
                record.cover.user, start, end
            ),
        );
        let stored = record.clone();
        self.write(1, || {
            let (stored, audit) = (stored.clone(), audit.clone());
            move |tx| {
                Box::pin(async move {
                    tx.add_override(&stored).await?;
                    tx.audit(audit).await
                })
            }
        })
        .await?;
        self.paging_changed().await;
        Ok(record)
    }

    pub async fn remove_override(
        &self,
        who: &Principal,
        name: &Name,
        id: &str,
    ) -> Result<OverrideRecord, EngineError> {
        let audit = self.audit(
            who,
            "schedule.override.remove",
            format!("schedule {name}: override {id}"),
        );
        let (target, id_owned) = (name.clone(), id.to_string());
        let removed = self
            .write(1, || {
                let (target, id, audit) = (target.clone(), id_owned.clone(), audit.clone());
                move |tx| {
                    Box::pin(async move {
                        let removed = tx.remove_override(&target, &id).await?;
                        tx.audit(audit).await?;
                        Ok(removed)
                    })
                }
            })
            .await
            .map_err(|e| match e {
                StoreError::NotFound => EngineError::NotFound(format!(
                    "schedule `{name}` has no override `{id}`; list them with firebreak schedule override list {name} (GET /api/v1/schedules/{name}/overrides)"
                )),
                other => other.into(),
            });
        if removed.is_ok() {
            self.paging_changed().await;
        }
        removed
    }

    /// Every member must be a known user: one read of the users, however many members.
    async fn check_members(&self, schedule: &Schedule) -> Result<(), EngineError> {
        let users: std::collections::HashSet<Name> = self
            .store
            .list_users()
            .await?
            .into_iter()
            .map(|u| u.handle)
            .collect();
        for (i, layer) in schedule.layers.iter().enumerate() {
            for (j, member) in layer.members.iter().enumerate() {
                if !users.contains(member) {
                    return Err(invalid(
                        &format!("layers[{i}].members[{j}]"),
                        format!("there is no user `{member}`; add them first"),
                    ));
                }
            }
        }
        Ok(())
    }
}
