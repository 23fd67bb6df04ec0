//! `/api/v1/schedules`: on-call schedules, who is on call, the final shifts, and overrides.
//! Everyone may read; admins add and remove schedules; responders add and remove overrides,
//! so people can swap shifts at night without waiting for an admin.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_domain::Name;
use firebreak_domain::instant::ACCEPTED_LATEST;
use firebreak_domain::schedule::{
    Every, Layer, Restriction, Rotation, Schedule, Shift, WeekdayKey, format_local_start,
    format_time_of_day, parse_local_start, parse_time_of_day,
};
use firebreak_engine::Firebreak;
use firebreak_store::{OverrideRecord, ScheduleRecord};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Admin, ApiJson, ApiQuery, Caller, Responder, Viewer};
use crate::fields::{
    LayerName, LocalDateTime, NameText, RotationEvery, Time, TimeOfDay, TimeZoneName,
};
use crate::problem::{ApiError, Problem};
use crate::wire::ListBody;

fn schedule_name(name: &str) -> Result<Name, ApiError> {
    Name::parse(name)
        .map_err(|_| ApiError::not_found(format!("there is no schedule named `{name}`")))
}

/// A day of the week.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn key(self) -> WeekdayKey {
        WeekdayKey(self as i8 + 1)
    }

    fn of(key: WeekdayKey) -> Day {
        [
            Day::Mon,
            Day::Tue,
            Day::Wed,
            Day::Thu,
            Day::Fri,
            Day::Sat,
            Day::Sun,
        ][(key.0.clamp(1, 7) - 1) as usize]
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationRequest {
    pub every: RotationEvery,
    pub start: LocalDateTime,
}

/// Limits a layer to a window of local time on some days. A `to` not after `from` runs past
/// midnight (`22:00` to `06:00`); `00:00` to `00:00` is the whole day.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestrictionRequest {
    #[schema(min_items = 1, max_items = 7)]
    pub days: Vec<Day>,
    pub from: TimeOfDay,
    pub to: TimeOfDay,
}

/// One layer: its members take turns. Where layers overlap the later one in the list wins;
/// where it has nobody, the one before it shows.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerRequest {
    /// Unique within the schedule.
    pub name: LayerName,
    /// Known user handles, in rotation order.
    #[schema(min_items = 1, max_items = 500)]
    pub members: Vec<NameText>,
    pub rotation: RotationRequest,
    /// No restrictions: the layer always has someone on call.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub restrict: Vec<RestrictionRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    pub name: NameText,
    pub time_zone: TimeZoneName,
    #[schema(min_items = 1, max_items = 20)]
    pub layers: Vec<LayerRequest>,
}

/// A schedule's new time zone and layers; its name and overrides stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleUpdate {
    pub time_zone: TimeZoneName,
    #[schema(min_items = 1, max_items = 20)]
    pub layers: Vec<LayerRequest>,
}

impl ScheduleRequest {
    fn into_schedule(self) -> Result<Schedule, ApiError> {
        // The list bounds the document states, held here as well.
        let count = |field: String, n: usize, min: usize, max: usize| {
            if n < min || n > max {
                Err(ApiError::invalid(
                    field,
                    format!("must have {min} to {max} items"),
                ))
            } else {
                Ok(())
            }
        };
        count("layers".into(), self.layers.len(), 1, 20)?;
        for (i, l) in self.layers.iter().enumerate() {
            count(format!("layers[{i}].members"), l.members.len(), 1, 500)?;
            count(format!("layers[{i}].restrict"), l.restrict.len(), 0, 20)?;
            for (j, r) in l.restrict.iter().enumerate() {
                count(
                    format!("layers[{i}].restrict[{j}].days"),
                    r.days.len(),
                    1,
                    7,
                )?;
            }
        }
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.into_iter().enumerate() {
            let at = |f: &str| format!("layers[{i}].{f}");
            let every = Every::parse(&l.rotation.every.0).ok_or_else(|| {
                ApiError::invalid(at("rotation.every"), "is not a rotation length")
            })?;
            let start = parse_local_start(&l.rotation.start.0).ok_or_else(|| {
                ApiError::invalid(at("rotation.start"), "is not a local date and time")
            })?;
            let mut restrict = Vec::with_capacity(l.restrict.len());
            for (j, r) in l.restrict.into_iter().enumerate() {
                let time = |t: &TimeOfDay, f: &str| {
                    parse_time_of_day(&t.0).ok_or_else(|| {
                        ApiError::invalid(
                            format!("layers[{i}].restrict[{j}].{f}"),
                            "is not a time of day",
                        )
                    })
                };
                restrict.push(Restriction {
                    days: r.days.iter().map(|d| d.key()).collect(),
                    from: time(&r.from, "from")?,
                    to: time(&r.to, "to")?,
                });
            }
            layers.push(Layer {
                name: l.name.0,
                members: l.members.into_iter().map(|m| m.0).collect(),
                rotation: Rotation { every, start },
                restrict,
            });
        }
        Schedule::new(self.name.0, &self.time_zone.0, layers)
            .map_err(|e| ApiError::invalid(e.field, e.message))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotationBody {
    pub every: String,
    pub start: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RestrictionBody {
    pub days: Vec<Day>,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LayerBody {
    pub name: String,
    pub members: Vec<String>,
    pub rotation: RotationBody,
    pub restrict: Vec<RestrictionBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleBody {
    pub name: String,
    pub time_zone: String,
    pub layers: Vec<LayerBody>,
    /// Declared in `firebreak.yaml` (the file wins at the next start).
    pub from_config: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<ScheduleRecord> for ScheduleBody {
    fn from(r: ScheduleRecord) -> Self {
        let s = r.schedule;
        ScheduleBody {
            name: s.name.to_string(),
            time_zone: s.time_zone_name,
            layers: s
                .layers
                .into_iter()
                .map(|l| LayerBody {
                    name: l.name,
                    members: l.members.iter().map(ToString::to_string).collect(),
                    rotation: RotationBody {
                        every: l.rotation.every.to_string(),
                        start: format_local_start(l.rotation.start),
                    },
                    restrict: l
                        .restrict
                        .iter()
                        .map(|r| RestrictionBody {
                            days: r.days.iter().map(|d| Day::of(*d)).collect(),
                            from: format_time_of_day(r.from),
                            to: format_time_of_day(r.to),
                        })
                        .collect(),
                })
                .collect(),
            from_config: r.from_config,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShiftBody {
    pub user: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// The layer that put them on call, or `override`.
    pub layer: String,
}

impl From<Shift> for ShiftBody {
    fn from(s: Shift) -> Self {
        ShiftBody {
            user: s.user.to_string(),
            start: s.start,
            end: s.end,
            layer: s.layer,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShiftsBody {
    pub items: Vec<ShiftBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OnCallBody {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Who is on call then: one handle, or none where every layer is empty or restricted.
    pub users: Vec<String>,
    /// The layer that put them there, or `override`.
    pub layer: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideBody {
    pub id: String,
    pub schedule: String,
    pub user: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub created_by: String,
}

impl From<OverrideRecord> for OverrideBody {
    fn from(o: OverrideRecord) -> Self {
        OverrideBody {
            id: o.cover.id,
            schedule: o.schedule.to_string(),
            user: o.cover.user.to_string(),
            start: o.cover.start,
            end: o.cover.end,
            created_at: o.created_at,
            created_by: o.created_by,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/schedules", tag = "schedules",
    security(("bearer" = ["viewer"])), responses((status = 200, body = ListBody<ScheduleBody>)))]
pub async fn list_schedules(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
) -> Result<Json<ListBody<ScheduleBody>>, ApiError> {
    let all = app.schedules().await?;
    Ok(Json(ListBody::keyed(
        all.into_iter().map(Into::into).collect(),
        None,
    )))
}

#[utoipa::path(post, path = "/api/v1/schedules", tag = "schedules", request_body = ScheduleRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = ScheduleBody),
        (status = 409, body = Problem, description = "A schedule with that name exists")))]
pub async fn create_schedule(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> Result<(StatusCode, Json<ScheduleBody>), ApiError> {
    let schedule = req.into_schedule()?;
    let stored = app.create_schedule(&caller.principal, schedule).await?;
    Ok((StatusCode::CREATED, Json(stored.into())))
}

#[utoipa::path(get, path = "/api/v1/schedules/{name}", tag = "schedules",
    params(("name" = NameText, Path)), security(("bearer" = ["viewer"])),
    responses((status = 200, body = ScheduleBody), (status = 404, body = Problem)))]
pub async fn show_schedule(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
) -> Result<Json<ScheduleBody>, ApiError> {
    Ok(Json(app.schedule(&schedule_name(&name)?).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/schedules/{name}", tag = "schedules",
    params(("name" = NameText, Path)), request_body = ScheduleUpdate, security(("bearer" = ["admin"])),
    responses((status = 200, body = ScheduleBody, description = "Replaced; its overrides stay"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The schedule is declared in firebreak.yaml")))]
pub async fn replace_schedule(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<ScheduleUpdate>,
) -> Result<Json<ScheduleBody>, ApiError> {
    let schedule = ScheduleRequest {
        name: NameText(schedule_name(&name)?),
        time_zone: req.time_zone,
        layers: req.layers,
    }
    .into_schedule()?;
    Ok(Json(
        app.replace_schedule(&caller.principal, schedule)
            .await?
            .into(),
    ))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{name}", tag = "schedules",
    params(("name" = NameText, Path)), security(("bearer" = ["admin"])),
    responses((status = 204, description = "Removed, with its overrides"), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The schedule is declared in firebreak.yaml, or an escalation policy pages it")))]
pub async fn delete_schedule(
    caller: Caller<Admin>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_schedule(&caller.principal, &schedule_name(&name)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OnCallQuery {
    /// The instant to ask about; now if left out.
    pub at: Option<Time>,
}

#[utoipa::path(get, path = "/api/v1/schedules/{name}/on-call", tag = "schedules",
    params(("name" = NameText, Path), OnCallQuery), security(("bearer" = ["viewer"])),
    responses((status = 200, body = OnCallBody), (status = 404, body = Problem)))]
pub async fn on_call(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<OnCallQuery>,
) -> Result<Json<OnCallBody>, ApiError> {
    let name = schedule_name(&name)?;
    let at = q.at.map(|t| t.0).unwrap_or_else(|| app.clock.now());
    let found = app.on_call(&name, at).await?;
    Ok(Json(OnCallBody {
        at: found.at,
        users: found.shift.iter().map(|s| s.user.to_string()).collect(),
        layer: found.shift.map(|s| s.layer),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShiftsQuery {
    /// The start of the range; now if left out.
    pub from: Option<Time>,
    /// The end of the range, at most 366 days after `from`; a week after `from` if left out.
    pub to: Option<Time>,
}

#[utoipa::path(get, path = "/api/v1/schedules/{name}/shifts", tag = "schedules",
    params(("name" = NameText, Path), ShiftsQuery), security(("bearer" = ["viewer"])),
    responses((status = 200, body = ShiftsBody), (status = 404, body = Problem)))]
pub async fn shifts(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<ShiftsQuery>,
) -> Result<Json<ShiftsBody>, ApiError> {
    let name = schedule_name(&name)?;
    let now = app.clock.now();
    let from = q.from.map(|t| t.0).unwrap_or(now);
    if q.from.is_none()
        && let Some(to) = &q.to
        && to.0 <= now
    {
        return Err(ApiError::invalid(
            "to",
            "must be after from, which is now when left out; give `from` to ask about the past",
        ));
    }
    // A week by default, ending at the last instant Firebreak keeps to at the latest.
    let to = q.to.map(|t| t.0).unwrap_or_else(|| {
        from.checked_add(jiff::SignedDuration::from_hours(24 * 7))
            .unwrap_or(ACCEPTED_LATEST)
            .min(ACCEPTED_LATEST)
    });
    let items = app.shifts(&name, from, to).await?;
    Ok(Json(ShiftsBody {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// A known user's handle: who covers.
    pub user: NameText,
    pub start: Time,
    /// After `start`.
    pub end: Time,
}

#[utoipa::path(post, path = "/api/v1/schedules/{name}/overrides", tag = "schedules",
    params(("name" = NameText, Path)), request_body = OverrideRequest,
    security(("bearer" = ["responder"])),
    responses((status = 201, body = OverrideBody), (status = 404, body = Problem)))]
pub async fn add_override(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<OverrideRequest>,
) -> Result<(StatusCode, Json<OverrideBody>), ApiError> {
    let name = schedule_name(&name)?;
    let added = app
        .add_override(&caller.principal, &name, req.user.0, req.start.0, req.end.0)
        .await?;
    Ok((StatusCode::CREATED, Json(added.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverridesQuery {
    /// Only overrides that have not ended by then; now if left out.
    pub from: Option<Time>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverridesBody {
    /// In the order they were added (a later one wins where two overlap).
    pub items: Vec<OverrideBody>,
}

#[utoipa::path(get, path = "/api/v1/schedules/{name}/overrides", tag = "schedules",
    params(("name" = NameText, Path), OverridesQuery), security(("bearer" = ["viewer"])),
    responses((status = 200, body = OverridesBody, description = "Overrides now or to come, with their ids"),
        (status = 404, body = Problem)))]
pub async fn list_overrides(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<OverridesQuery>,
) -> Result<Json<OverridesBody>, ApiError> {
    let name = schedule_name(&name)?;
    let items = app.list_overrides(&name, q.from.map(|t| t.0)).await?;
    Ok(Json(OverridesBody {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{name}/overrides/{id}", tag = "schedules",
    params(("name" = NameText, Path), ("id" = String, Path)),
    security(("bearer" = ["responder"])),
    responses((status = 204, description = "Removed"), (status = 404, body = Problem)))]
pub async fn remove_override(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let name = schedule_name(&name)?;
    app.remove_override(&caller.principal, &name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
