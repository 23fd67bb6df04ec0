//! Game days. `POST /api/v1/gamedays` starts one (responders and admins), `GET
//! /api/v1/gamedays/{id}` shows its live score, `POST /api/v1/gamedays/{id}/finish` ends it
//! and stores its score card, and `GET /api/v1/gamedays` lists them with their scores (any
//! role). `firebreak gameday run` drives all of it; events are injected through the real
//! ingest paths with `?gameday=ID` (see `ingest`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use firebreak_domain::gameday::{ScoreCard, TargetResult, Targets};
use firebreak_domain::heartbeat::parse_span;
use firebreak_engine::Firebreak;
use firebreak_engine::gamedays::NewGameDay;
use firebreak_store::GameDayRecord;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{ApiJson, ApiQuery, Caller, Responder, Viewer};
use crate::fields::{GameDayName, HeartbeatSpan, Limit, NameText, SeverityName, Time};
use crate::problem::{ApiError, Problem};
use crate::wire::ListBody;

/// The targets a game day sets. Spans are written `30s`, `5m`, `1h`: 1 second to 1 day.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetsRequest {
    /// Score the severity's `respond_within`: from the first injected alert to the first
    /// acknowledgement.
    pub response_time: Option<bool>,
    pub acknowledged_within: Option<HeartbeatSpan>,
    pub declared_within: Option<HeartbeatSpan>,
    pub ic_assigned_within: Option<HeartbeatSpan>,
    pub first_status_update_within: Option<HeartbeatSpan>,
    pub mitigated_within: Option<HeartbeatSpan>,
    /// A postmortem drafted before the game day finishes.
    pub postmortem_drafted: Option<bool>,
}

impl TargetsRequest {
    fn targets(self) -> Result<Targets, ApiError> {
        let span = |field: &'static str, v: Option<HeartbeatSpan>| {
            v.map(|s| parse_span(field, &s.0))
                .transpose()
                .map_err(|e| ApiError::invalid(e.field, e.message))
        };
        Ok(Targets {
            response_time: self.response_time.unwrap_or(false),
            acknowledged_within: span("targets.acknowledged_within", self.acknowledged_within)?,
            declared_within: span("targets.declared_within", self.declared_within)?,
            ic_assigned_within: span("targets.ic_assigned_within", self.ic_assigned_within)?,
            first_status_update_within: span(
                "targets.first_status_update_within",
                self.first_status_update_within,
            )?,
            mitigated_within: span("targets.mitigated_within", self.mitigated_within)?,
            postmortem_drafted: self.postmortem_drafted.unwrap_or(false),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GameDayRequest {
    /// What is rehearsed: `Failed deploy that needs a rollback`.
    pub name: GameDayName,
    /// A service that exists: the one the scenario's events are about.
    pub service: NameText,
    /// A severity of the configuration; its `respond_within` is the response time target.
    pub severity: SeverityName,
    /// At least one target.
    pub targets: TargetsRequest,
}

/// A game day with its score: live while it runs, final once finished.
#[derive(Debug, Serialize, ToSchema)]
pub struct GameDayBody {
    pub id: i64,
    pub name: String,
    pub service: String,
    pub severity: String,
    /// `running` or `finished`.
    #[schema(example = "running")]
    pub status: &'static str,
    pub started_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// Targets passed so far (final once finished).
    pub passed: usize,
    pub total: usize,
    /// True once every target passed or failed: nothing the team does changes the score.
    pub settled: bool,
    /// The drill incident the score card was attached to, once finished.
    pub incident: Option<String>,
    /// Each target: `pending`, `passed`, `failed` or `not met`, with its measured time.
    #[schema(value_type = Object)]
    pub card: ScoreCard,
    /// The score card in Markdown, as attached to the drill incident.
    pub markdown: String,
}

impl GameDayBody {
    fn new(g: GameDayRecord, card: ScoreCard) -> Self {
        GameDayBody {
            id: g.id,
            name: g.name,
            service: g.service.to_string(),
            severity: g.severity,
            status: if g.finished_at.is_some() {
                "finished"
            } else {
                "running"
            },
            started_by: g.started_by,
            started_at: g.started_at,
            finished_at: g.finished_at,
            passed: card.passed(),
            total: card.total(),
            settled: card.settled(),
            incident: g.incident.map(|n| n.to_string()),
            markdown: card.markdown(),
            card,
        }
    }
}

/// A game day in the history.
#[derive(Debug, Serialize, ToSchema)]
pub struct GameDaySummary {
    pub id: i64,
    pub name: String,
    pub service: String,
    pub severity: String,
    #[schema(example = "finished")]
    pub status: &'static str,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// Targets passed, once finished.
    pub passed: Option<usize>,
    pub total: Option<usize>,
    pub incident: Option<String>,
    /// Each target's result, once finished.
    #[schema(value_type = Option<Vec<Object>>)]
    pub targets: Option<Vec<TargetResult>>,
}

impl From<GameDayRecord> for GameDaySummary {
    fn from(g: GameDayRecord) -> Self {
        GameDaySummary {
            id: g.id,
            name: g.name,
            service: g.service.to_string(),
            severity: g.severity,
            status: if g.finished_at.is_some() {
                "finished"
            } else {
                "running"
            },
            started_at: g.started_at,
            finished_at: g.finished_at,
            passed: g.card.as_ref().map(ScoreCard::passed),
            total: g.card.as_ref().map(ScoreCard::total),
            incident: g.incident.map(|n| n.to_string()),
            targets: g.card.map(|c| c.targets),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/gamedays", tag = "gamedays", request_body = GameDayRequest,
    security(("bearer" = ["responder"])),
    responses((status = 201, body = GameDayBody, description = "Started: inject its events with `?gameday=ID` on the ingest, deploy and report URLs"),
        (status = 422, body = Problem, description = "An unknown service or severity, or no target")))]
pub async fn start_gameday(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    ApiJson(req): ApiJson<GameDayRequest>,
) -> Result<(StatusCode, Json<GameDayBody>), ApiError> {
    let new = NewGameDay {
        name: req.name.into_inner(),
        service: req.service.0.to_string(),
        severity: req.severity.0.to_string(),
        targets: req.targets.targets()?,
    };
    let (g, card) = app.start_gameday(&caller.principal, new).await?;
    Ok((StatusCode::CREATED, Json(GameDayBody::new(g, card))))
}

#[utoipa::path(get, path = "/api/v1/gamedays/{id}", tag = "gamedays",
    params(("id" = i64, Path, description = "The game day's id")),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = GameDayBody, description = "The live score while it runs, the final card once finished"),
        (status = 404, body = Problem)))]
pub async fn show_gameday(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<GameDayBody>, ApiError> {
    let (g, card) = app.gameday_score(gameday_id(&id)?).await?;
    Ok(Json(GameDayBody::new(g, card)))
}

#[utoipa::path(post, path = "/api/v1/gamedays/{id}/finish", tag = "gamedays",
    params(("id" = i64, Path, description = "The game day's id")),
    security(("bearer" = ["responder"])),
    responses((status = 200, body = GameDayBody, description = "Finished: targets still pending are `not met`; the card is stored and attached to the drill incident. Finishing again answers the same card"),
        (status = 404, body = Problem)))]
pub async fn finish_gameday(
    caller: Caller<Responder>,
    State(app): State<Firebreak>,
    Path(id): Path<String>,
) -> Result<Json<GameDayBody>, ApiError> {
    let (g, card) = app
        .finish_gameday(&caller.principal, gameday_id(&id)?)
        .await?;
    Ok(Json(GameDayBody::new(g, card)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GameDayQuery {
    /// Only game days started at or after this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Time>,
    /// Only game days started before this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Time>,
    pub limit: Option<Limit>,
}

#[utoipa::path(get, path = "/api/v1/gamedays", tag = "gamedays", params(GameDayQuery),
    security(("bearer" = ["viewer"])),
    responses((status = 200, body = ListBody<GameDaySummary>, description = "Newest first, with each finished game day's score")))]
pub async fn list_gamedays(
    _c: Caller<Viewer>,
    State(app): State<Firebreak>,
    ApiQuery(q): ApiQuery<GameDayQuery>,
) -> Result<Json<ListBody<GameDaySummary>>, ApiError> {
    let list = app
        .list_gamedays(
            q.from.map(|t| t.0),
            q.to.map(|t| t.0),
            Limit::or_default(q.limit),
        )
        .await?;
    Ok(Json(ListBody::new(
        list.into_iter().map(Into::into).collect(),
        None,
    )))
}

/// A game day id in a path: a positive whole number.
fn gameday_id(text: &str) -> Result<i64, ApiError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "there is no game day `{text}`; ids are whole numbers"
            ))
        })
}

/// How a sender's URL asks for drill mode: `?drill=true`, or `?gameday=ID` (always a drill).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DrillQuery {
    /// Mark what this request opens as a drill: it groups only with drills, pages say
    /// `[DRILL]`, and nothing reaches the status page or subscribers.
    pub drill: Option<bool>,
    /// The game day this request belongs to (a drill); it must still run.
    pub gameday: Option<i64>,
}

impl DrillQuery {
    /// Reads `drill` and `gameday` from a URL's query, ignoring other parameters (some senders
    /// add their own). A value that is not understood is a 422 naming it.
    pub fn parse(query: Option<&str>) -> Result<DrillQuery, ApiError> {
        let mut out = DrillQuery::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "drill" => {
                    out.drill = Some(match v.as_ref() {
                        "true" | "1" | "" => true,
                        "false" | "0" => false,
                        _ => return Err(ApiError::invalid("drill", "must be true or false")),
                    })
                }
                "gameday" => {
                    out.gameday =
                        Some(v.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                            ApiError::invalid("gameday", "must be a game day's id (a whole number)")
                        })?)
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The mode it names, checked against the game days.
    pub async fn mode(&self, app: &Firebreak) -> Result<firebreak_domain::Drill, ApiError> {
        Ok(app.drill_mode(self.drill, self.gameday).await?)
    }
}
