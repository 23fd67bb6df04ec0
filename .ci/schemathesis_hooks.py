"""Schemathesis hooks for .ci/schemathesis.

A schema says what a well-formed request looks like. It cannot say which services and users
exist, what time it is, whether a matcher's regex compiles or a duration parses, or whether a
URL's host is one Firebreak may call. Firebreak answers
such requests with a 422 naming the field, as its document describes, and schemathesis would
count every one of them as a valid request refused.

So, for the requests schemathesis generates as *valid* (never for the invalid ones, which must
still be refused), these hooks point references at the objects the script seeded and move
instants to where the rules want them, and nothing else. Every other part of the request is
tested as generated. They also keep the seeded objects alive when a generated DELETE removes one.
"""

import datetime
import json
import os
import urllib.request

import schemathesis

# Created by .ci/schemathesis before the run.
SERVICE = "checkout"
OTHER_SERVICE = "payments"
USER = "admin"  # the seeded token's user; an admin, so any token role fits under it
SEEDED_SERVICES = (SERVICE, OTHER_SERVICE)
MATCHERS = ['alertname="DiskFull"', 'instance=~"db-[0-9]+"']
WEBHOOK_URL = "https://hooks.example.com/firebreak"
POLICY = "ops"  # seeded; pages USER
COMPONENT = "Checkout API"  # seeded status page component, in the group GROUP
GROUP = "Shop"
CONTACT_TARGETS = {
    "email": "oncall@example.com",
    "ntfy": "https://ntfy.example.com/oncall-admin",
}

BASE = os.environ.get("FIREBREAK_SCHEMATHESIS_BASE", "")
TOKEN = os.environ.get("FIREBREAK_SCHEMATHESIS_TOKEN", "")


def _at(delta: datetime.timedelta) -> str:
    now = datetime.datetime.now(datetime.timezone.utc) + delta
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _refer(body: dict, field: str, to: str) -> None:
    if isinstance(body.get(field), str):
        body[field] = to


def _refer_all(body: dict, field: str, to: str) -> None:
    if isinstance(body.get(field), list):
        body[field] = [to for _ in body[field]]


def _declare(body: dict) -> None:
    _refer_all(body, "services", SERVICE)
    if isinstance(body.get("detected_at"), str):
        body["detected_at"] = _at(-datetime.timedelta(hours=1))


def _patch_incident(body: dict) -> None:
    _refer_all(body, "services", SERVICE)
    # What resolving posts on the status page goes with resolving; a text one could be a
    # public update on a drill, which is refused.
    if body.get("status") != "resolved" or isinstance(body.get("public_update"), str):
        body.pop("public_update", None)


def _assign(body: dict) -> None:
    _refer(body, "user", USER)


def _token(body: dict) -> None:
    _refer(body, "user", USER)
    if isinstance(body.get("expires_at"), str):
        body["expires_at"] = _at(datetime.timedelta(days=90))


def _silence(body: dict) -> None:
    # Matchers are Alertmanager syntax with regexes; the schema only says they are strings.
    if isinstance(body.get("matchers"), list):
        body["matchers"] = MATCHERS[: max(1, min(len(body["matchers"]), len(MATCHERS)))]
    if isinstance(body.get("starts_at"), str):
        body["starts_at"] = _at(datetime.timedelta(0))
    # The end in the future; a duration that parses, is positive and ends by 2200. (That only
    # one of the two is given, the schema says.)
    if isinstance(body.get("ends_at"), str):
        body["ends_at"] = _at(datetime.timedelta(hours=2))
    if isinstance(body.get("duration"), str):
        body["duration"] = "2h"


def _maintenance(body: dict) -> None:
    _refer(body, "service", OTHER_SERVICE)
    if isinstance(body.get("starts_at"), str):
        body["starts_at"] = _at(datetime.timedelta(0))
    if isinstance(body.get("ends_at"), str):
        body["ends_at"] = _at(datetime.timedelta(hours=1))


def _route(body: dict) -> None:
    _refer(body, "service", OTHER_SERVICE)
    if isinstance(body.get("matchers"), list):
        body["matchers"] = MATCHERS[: min(len(body["matchers"]), len(MATCHERS))]


def _deployment(body: dict) -> None:
    _refer(body, "service", SERVICE)
    if isinstance(body.get("at"), str):
        body["at"] = _at(-datetime.timedelta(minutes=1))
    # No deploy is seeded for a rollback to name as the one it undid. The incident a rollback
    # was run for is the seeded one; a deploy that is not a rollback names none.
    body.pop("rolls_back", None)
    if body.get("rollback") is True:
        _refer(body, "incident", "INC-1")
    else:
        body.pop("incident", None)


def _webhook(body: dict) -> None:
    # A URL whose host is an address Firebreak refuses to call (private, loopback, numeric
    # forms of them) is well formed but refused.
    _refer(body, "url", WEBHOOK_URL)


def _schedule(body: dict) -> None:
    # Members must be users that exist, and layer names unique within the schedule.
    layers = body.get("layers")
    if not isinstance(layers, list):
        return
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            continue
        _refer_all(layer, "members", USER)
        if isinstance(layer.get("name"), str):
            layer["name"] = f"layer {i}"


def _override(body: dict) -> None:
    # Who covers must be a user, and the cover must end after it starts.
    _refer(body, "user", USER)
    if isinstance(body.get("start"), str):
        body["start"] = _at(datetime.timedelta(0))
    if isinstance(body.get("end"), str):
        body["end"] = _at(datetime.timedelta(hours=4))


def _shifts_query(query: dict) -> None:
    # A range that ends after it starts, and short enough that even a layer generated to hand
    # off every second stays under the 10,000 shifts one request may hold.
    query["from"] = _at(datetime.timedelta(0))
    query["to"] = _at(datetime.timedelta(hours=1))


def _service_query(query: dict) -> None:
    # A service named in a query must exist.
    if isinstance(query.get("service"), str):
        query["service"] = SERVICE


def _report_query(query: dict) -> None:
    # A period must start before it ends (and `to` defaults to now): an unordered pair is a
    # 422 the schema cannot state.
    if "from" in query or "to" in query:
        query["from"] = _at(datetime.timedelta(days=-30))
        query["to"] = _at(datetime.timedelta(0))
    _service_query(query)


def _service(body: dict) -> None:
    # A service's policy must exist and its manager must be a user.
    _refer(body, "escalation_policy", POLICY)
    _refer(body, "manager", USER)


def _contact(body: dict) -> None:
    # The target must suit the type (an address, or a URL Firebreak may call); only ntfy
    # takes a token.
    kind = body.get("type")
    if kind == "email":
        # The CI server sends no email (no email.smtp_url), so it refuses email contacts.
        body["type"] = kind = "webhook"
    if isinstance(kind, str) and "target" in body:
        body["target"] = CONTACT_TARGETS.get(kind, WEBHOOK_URL)
    if kind != "ntfy":
        body.pop("token", None)


def _policy(body: dict) -> None:
    # Targets must exist and be distinct within a step: each step pages the seeded user.
    steps = body.get("steps")
    if not isinstance(steps, list):
        return
    for step in steps:
        if isinstance(step, dict) and isinstance(step.get("targets"), list):
            step["targets"] = [{"user": USER}]


def _component(body: dict) -> None:
    # Its services must exist, and a group and a component never share a name.
    _refer_all(body, "services", SERVICE)
    if isinstance(body.get("group"), str):
        body["group"] = GROUP
    if body.get("name") in (GROUP, COMPONENT + "-group"):
        body["name"] = "Web app"


def _subscriber(body: dict) -> None:
    # A URL Firebreak may call, and components on the page.
    _refer(body, "url", WEBHOOK_URL)
    _refer_all(body, "components", COMPONENT)


def _scheduled_maintenance(body: dict) -> None:
    # Its components must exist (at least one), and it must end in the future, within 14 days.
    body["components"] = [COMPONENT]
    if isinstance(body.get("starts_at"), str):
        body["starts_at"] = _at(datetime.timedelta(hours=1))
    if isinstance(body.get("ends_at"), str):
        body["ends_at"] = _at(datetime.timedelta(hours=2))


def _incident_is_drill(incident: str) -> bool:
    try:
        request = urllib.request.Request(
            f"{BASE}/api/v1/incidents/{incident}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return bool(json.loads(answer.read()).get("drill"))
    except Exception:
        return False


def _status_update(body: dict, path: dict) -> None:
    # A body or a template is needed; only public updates have a status and set components,
    # by names on the page; drills never go public.
    if body.get("body") is None and body.get("template") is None:
        body["body"] = "We are investigating."
    if body.get("audience") == "public" and _incident_is_drill(str(path.get("id", ""))):
        body["audience"] = "internal"
    if body.get("audience") == "internal":
        body.pop("status", None)
        body.pop("components", None)
    elif isinstance(body.get("components"), dict):
        body["components"] = {COMPONENT: v for v in list(body["components"].values())[:1]}


def _escalations_query(query: dict) -> None:
    # One of the two filters is needed.
    if query.get("alert") is None and query.get("incident") is None:
        query["alert"] = 1


def _freeze(body: dict) -> None:
    # A window ends after it starts, in the future.
    body.pop("starts_at", None)
    if isinstance(body.get("ends_at"), str):
        body["ends_at"] = _at(datetime.timedelta(hours=1))
    _refer_all(body, "services", SERVICE)


def _exemption(body: dict) -> None:
    _refer(body, "incident", "INC-1")
    _refer(body, "service", SERVICE)


def _break_glass(body: dict) -> None:
    # A duration the server reads, within break_glass.max. (The seeded caller is an admin, so
    # the answer is 409: there is no higher role to take.)
    if isinstance(body.get("duration"), str):
        body["duration"] = "30m"


def _invitation(body: dict) -> None:
    # A lifetime the server reads, within the 14 days an invitation may last.
    if isinstance(body.get("expires_in"), str):
        body["expires_in"] = "24h"


def _password(body: dict) -> None:
    # A password the rules take (12 or more characters, not one repeated, not the handle).
    # The seeded caller is an admin, so no current password is needed.
    if "password" in body:
        body["password"] = "a long enough passphrase 7"
    body.pop("current_password", None)


def _no_placeholders(text):
    # A {name} the runbook does not declare is refused by the file's rules; the schema cannot
    # say so. Braces become parentheses.
    return text.replace("{", "(").replace("}", ")") if isinstance(text, str) else text


def _runbook(body: dict) -> None:
    if isinstance(body.get("services"), list):
        body["services"] = list(SEEDED_SERVICES[: max(1, min(len(body["services"]), 2))])
    if isinstance(body.get("match"), list):
        body["match"] = MATCHERS[: len(body["match"])]
    # The file's rules want a host in a URL; the document's pattern only the scheme.
    if isinstance(body.get("url"), str):
        body["url"] = "https://wiki.example.com/runbooks/checkout"
    if not isinstance(body.get("body"), str) and not isinstance(body.get("url"), str):
        body["body"] = "Check the dashboard."
    if isinstance(body.get("body"), str) and not body["body"].strip():
        body["body"] = "Check the dashboard."
    actions = body.get("actions")
    if not isinstance(actions, list):
        return
    for n, action in enumerate(actions):
        if not isinstance(action, dict):
            continue
        # Names are unique within a runbook.
        if isinstance(action.get("name"), str):
            action["name"] = f"a{n}"
        if isinstance(action.get("run"), list):
            action["run"] = [_no_placeholders(a) for a in action["run"]]
        if isinstance(action.get("body"), str):
            action["body"] = _no_placeholders(action["body"])
        if isinstance(action.get("url"), str):
            action["url"] = "https://deploy.example.com/api/rollback"
        # Names the file's rules accept; patterns that compile; durations within bounds.
        if isinstance(action.get("params"), dict):
            action["params"] = {f"p{i}": "[a-z]+" for i, _ in enumerate(action["params"])}
        if isinstance(action.get("env"), dict):
            action["env"] = {f"E{i}": v for i, v in enumerate(action["env"].values())}
        if isinstance(action.get("headers"), dict):
            action["headers"] = {f"X-H{i}": v for i, v in enumerate(action["headers"].values())}
        if isinstance(action.get("timeout"), str):
            action["timeout"] = "2m"
        if isinstance(action.get("approval_within"), str):
            action["approval_within"] = "15m"


def _postmortem_sections(body: dict) -> None:
    # Each section at most once, and Markdown the export can read back: no `## ` line (it
    # would start another section) and no code fence left open.
    sections = body.get("sections")
    if not isinstance(sections, list):
        return
    seen, kept = set(), []
    for section in sections:
        if not isinstance(section, dict) or section.get("key") in seen:
            continue
        seen.add(section.get("key"))
        if isinstance(section.get("markdown"), str):
            section["markdown"] = (
                section["markdown"].replace("#", "").replace("`", "'").replace("~", "-")
            )
        kept.append(section)
    body["sections"] = kept


def _action_item(body: dict) -> None:
    # The owner must be a user and the incident must exist; the due date must not have passed.
    _refer(body, "owner", USER)
    _refer(body, "incident", "INC-1")
    if isinstance(body.get("due"), str):
        body["due"] = (
            datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7)
        ).strftime("%Y-%m-%d")


def _change_action_item(body: dict) -> None:
    _refer(body, "owner", USER)


def _heartbeat(body: dict) -> None:
    # The service must exist; a period under a minute or over 366 days, and a grace over 366
    # days, fit the pattern (a number and one unit) but are refused.
    _refer(body, "service", SERVICE)
    if isinstance(body.get("period"), str):
        body["period"] = "1h"
    if isinstance(body.get("grace"), str):
        body["grace"] = "5m"


def _customer_report(body: dict) -> None:
    # A report names a component or a service that exists (at least one of them); the
    # seeded component stands for the seeded service.
    _refer(body, "component", COMPONENT)
    _refer(body, "service", SERVICE)
    if not isinstance(body.get("component"), str) and not isinstance(body.get("service"), str):
        body["service"] = SERVICE
    # A game day must be running to take reports: its own tests cover that.
    if "gameday" in body:
        body["gameday"] = None


def _uptime_check(body: dict) -> None:
    # The service must exist; the target must pass the SSRF guard without DNS (which the CI
    # machine may not have), so a public address; durations must parse and fit (the timeout
    # under the interval, the latency limit within the timeout); a regex must compile, a CA
    # file must exist on the host, and a component must exist.
    _refer(body, "service", SERVICE)
    if body.get("kind") == "tcp":
        body["target"] = "1.1.1.1:443"
    else:
        body["kind"] = "http"
        body["target"] = "https://1.1.1.1/healthz"
    if isinstance(body.get("method"), str):
        body["method"] = "GET"
    body["interval"] = "30s"
    body["timeout"] = "5s"
    if "component" in body:
        body["component"] = None
    expect = body.get("expect")
    if isinstance(expect, dict):
        if isinstance(expect.get("status"), int):
            expect["status"] = 200
        if isinstance(expect.get("body"), str):
            expect["body"] = "ok"
        if isinstance(expect.get("body_regex"), str):
            expect["body_regex"] = "ok"
        if isinstance(expect.get("max_latency"), str):
            expect["max_latency"] = "2s"
    tls = body.get("tls")
    if isinstance(tls, dict):
        if isinstance(tls.get("warn_before"), str):
            tls["warn_before"] = "14d"
        if "ca_file" in tls:
            tls["ca_file"] = None


def _gameday(body: dict) -> None:
    # The service and severity must exist, and a game day needs at least one target.
    _refer(body, "service", SERVICE)
    _refer(body, "severity", "SEV1")
    # A name is one printable line, which the schema cannot state.
    _refer(body, "name", "Failed deploy drill")
    targets = body.get("targets")
    if isinstance(targets, dict):
        for key, value in list(targets.items()):
            if isinstance(value, str):
                targets[key] = "5m"
        targets["acknowledged_within"] = "5m"


def _runbook_path(body: dict, path: dict) -> None:
    _runbook(body)
    if isinstance(body.get("name"), str):
        path["name"] = body["name"]


QUERY_FIXES = {
    ("GET", "/api/v1/escalations"): _escalations_query,
    ("GET", "/api/v1/schedules/{name}/shifts"): _shifts_query,
    ("GET", "/api/v1/reports/incidents"): _report_query,
    ("GET", "/api/v1/reports/dora"): _report_query,
    ("GET", "/api/v1/gamedays"): _report_query,
    ("GET", "/api/v1/freeze"): _service_query,
}

FIXES = {
    ("POST", "/api/v1/schedules"): _schedule,
    ("PUT", "/api/v1/schedules/{name}"): _schedule,
    ("POST", "/api/v1/schedules/{name}/overrides"): _override,
    ("POST", "/api/v1/incidents"): _declare,
    ("PATCH", "/api/v1/incidents/{id}"): _patch_incident,
    ("PUT", "/api/v1/incidents/{id}/roles/{role}"): _assign,
    ("POST", "/api/v1/tokens"): _token,
    ("POST", "/api/v1/silences"): _silence,
    ("POST", "/api/v1/maintenance-windows"): _maintenance,
    ("POST", "/api/v1/routing-rules"): _route,
    ("POST", "/api/v1/deployments"): _deployment,
    ("POST", "/api/v1/webhooks"): _webhook,
    ("POST", "/api/v1/services"): _service,
    ("PATCH", "/api/v1/services/{name}"): _service,
    ("POST", "/api/v1/users/{handle}/contact-methods"): _contact,
    ("POST", "/api/v1/escalation-policies"): _policy,
    ("PUT", "/api/v1/escalation-policies/{name}"): _policy,
    ("POST", "/api/v1/status-page/components"): _component,
    ("PATCH", "/api/v1/status-page/components/{id}"): _component,
    ("POST", "/api/v1/scheduled-maintenances"): _scheduled_maintenance,
    ("POST", "/api/v1/status-page/subscribers"): _subscriber,
    ("POST", "/api/v1/freezes"): _freeze,
    ("POST", "/api/v1/freeze/exemptions"): _exemption,
    ("POST", "/api/v1/incidents/{id}/break-glass"): _break_glass,
    ("POST", "/api/v1/runbooks"): _runbook,
    ("POST", "/api/v1/users/{handle}/invitations"): _invitation,
    ("PUT", "/api/v1/users/{handle}/password"): _password,
    ("PUT", "/api/v1/incidents/{id}/postmortem"): _postmortem_sections,
    ("POST", "/api/v1/incidents/{id}/postmortem/check"): _postmortem_sections,
    ("POST", "/api/v1/action-items"): _action_item,
    ("PATCH", "/api/v1/action-items/{id}"): _change_action_item,
    ("POST", "/api/v1/heartbeats"): _heartbeat,
    ("POST", "/api/v1/reports"): _customer_report,
    ("POST", "/api/v1/checks"): _uptime_check,
    ("POST", "/api/v1/gamedays"): _gameday,
}

PATH_FIXES = {
    ("PUT", "/api/v1/runbooks/{name}"): _runbook_path,
    ("POST", "/api/v1/incidents/{id}/status-updates"): _status_update,
}


def _is_valid_case(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


@schemathesis.hook
def before_call(ctx, case, kwargs):
    if not _is_valid_case(case):
        return
    key = (case.method.upper(), case.operation.path)
    query_fix = QUERY_FIXES.get(key)
    if query_fix is not None and isinstance(case.query, dict):
        query_fix(case.query)
    if not isinstance(case.body, dict):
        return
    fix = FIXES.get(key)
    if fix is not None:
        fix(case.body)
    path_fix = PATH_FIXES.get(key)
    if path_fix is not None:
        path_fix(case.body, case.path_parameters or {})


def _post(path: str, body: str) -> None:
    request = urllib.request.Request(
        f"{BASE}{path}",
        data=body.encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()


@schemathesis.hook
def after_call(ctx, case, response):
    # A generated DELETE may remove a seeded service or policy; put it back so the
    # references above keep pointing at something.
    if case.method.upper() != "DELETE" or response.status_code != 204 or not BASE:
        return
    name = (case.path_parameters or {}).get("name")
    if case.operation.path == "/api/v1/services/{name}" and name in SEEDED_SERVICES:
        _post("/api/v1/services", f'{{"name":"{name}"}}')
    if case.operation.path == "/api/v1/status-page/components/{id}":
        try:
            _post(
                "/api/v1/status-page/components",
                f'{{"name":"{COMPONENT}","group":"{GROUP}","services":["{SERVICE}"]}}',
            )
        except Exception:
            pass  # it was another component, and the seeded one is still there
    if case.operation.path == "/api/v1/escalation-policies/{name}" and name == POLICY:
        _post(
            "/api/v1/escalation-policies",
            f'{{"name":"{POLICY}","steps":[{{"delay":"5m","targets":[{{"user":"{USER}"}}]}}]}}',
        )


@schemathesis.hook
def filter_failure(ctx, failure, case, response):
    # An incident's postmortem exists once the incident is resolved or someone drafts one
    # (POST /api/v1/incidents/{id}/postmortem); until then its postmortem operations answer
    # 404 with a problem saying how to start one, by design. The stateful phase runs its
    # checks from the run's registry, so the per-operation setting in schemathesis.toml does
    # not reach it: drop exactly that finding here, and keep every other.
    if (
        type(failure).__name__ == "EnsureResourceAvailability"
        and response.status_code == 404
        and case.operation.path.startswith("/api/v1/incidents/{id}/postmortem")
        and b"has no postmortem yet" in (response.content or b"")
    ):
        return False
    return True
