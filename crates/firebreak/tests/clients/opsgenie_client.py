"""The official Opsgenie Python SDK (opsgenie-sdk) against Firebreak: create an alert, learn its
id from the request status, read it, acknowledge it by alias, close it by id, and read what each
request did. Run by crates/firebreak/tests/real_clients.rs with FIREBREAK_URL and
FIREBREAK_GENIE_KEY set; exits non-zero on the first thing that does not match."""

import os
import sys

import opsgenie_sdk

conf = opsgenie_sdk.configuration.Configuration()
conf.api_key["Authorization"] = os.environ["FIREBREAK_GENIE_KEY"]
# A base URL with a trailing slash, as people write it: the SDK then asks for //v2/alerts.
conf.host = os.environ["FIREBREAK_URL"].rstrip("/") + "/"
api = opsgenie_sdk.AlertApi(api_client=opsgenie_sdk.api_client.ApiClient(configuration=conf))


def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


created = api.create_alert(
    create_alert_payload=opsgenie_sdk.CreateAlertPayload(
        message="Disk full on db-1",
        alias="disk-db-1",
        description="/var is at 97%",
        tags=["db", "disk"],
        details={"host": "db-1"},
        priority="P2",
        source="monitor",
    )
)
check("create result", created.result, "Request will be processed")
status = api.get_request_status(request_id=created.request_id)
check("create succeeded", status.data.is_success, True)
check("create action", status.data.action, "Create")
alert_id = status.data.alert_id
check("alert id is a string", isinstance(alert_id, str) and alert_id != "", True)

alert = api.get_alert(identifier=alert_id).data
check("message", alert.message, "Disk full on db-1")
check("status", alert.status, "open")
check("priority", alert.priority, "P2")
check("tags", sorted(alert.tags), ["db", "disk"])
check("alias", alert.alias, "disk-db-1")
check("count", alert.count, 1)

again = api.create_alert(
    create_alert_payload=opsgenie_sdk.CreateAlertPayload(message="Disk full on db-1", alias="disk-db-1")
)
repeat = api.get_request_status(request_id=again.request_id).data
check("a repeat names the same alert", repeat.alert_id, alert_id)
check("count after repeat", api.get_alert(identifier=alert_id).data.count, 2)

ack = api.acknowledge_alert(
    identifier="disk-db-1",
    identifier_type="alias",
    acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(user="alice", note="on it"),
)
check("acknowledge action", api.get_request_status(request_id=ack.request_id).data.action, "Acknowledge")
check("acknowledged", api.get_alert(identifier=alert_id).data.acknowledged, True)

close = api.close_alert(identifier=alert_id, close_alert_payload=opsgenie_sdk.CloseAlertPayload(user="alice"))
closed = api.get_request_status(request_id=close.request_id).data
check("close action", closed.action, "Close")
check("close succeeded", closed.is_success, True)
alert = api.get_alert(identifier="disk-db-1", identifier_type="alias").data
check("closed", alert.status, "closed")

# Closing it again, or acknowledging it now, says that it is closed, not that it is missing.
again = api.close_alert(identifier=alert_id, close_alert_payload=opsgenie_sdk.CloseAlertPayload(user="alice"))
again = api.get_request_status(request_id=again.request_id).data
check("close again", (again.is_success, again.status, again.alert_id), (True, "Alert is already closed", alert_id))
late = api.acknowledge_alert(
    identifier="disk-db-1",
    identifier_type="alias",
    acknowledge_alert_payload=opsgenie_sdk.AcknowledgeAlertPayload(user="alice"),
)
late = api.get_request_status(request_id=late.request_id).data
check("acknowledge a closed alert", (late.is_success, late.alert_id), (False, alert_id))
check("says it is closed", late.status.startswith("Alert is already closed"), True)

try:
    api.get_alert(identifier="999999")
    sys.exit("an unknown alert id was found")
except opsgenie_sdk.exceptions.ApiException as e:
    check("unknown alert", e.status, 404)

print("opsgenie-sdk: create, request status, get, repeat, acknowledge by alias, close: ok")
