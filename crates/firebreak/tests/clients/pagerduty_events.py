"""The official PagerDuty Python client (`pagerduty` from PyPI, the python-pagerduty project)
against Firebreak over HTTPS, used the way its README shows: an EventsApiV2Client with the
integration's routing key, its base URL pointed at Firebreak. The client refuses any base URL
that is not https://, so this only works with TLS on.

Run by crates/firebreak/tests/tls.rs with FIREBREAK_URL (https://...), FIREBREAK_PD_KEY,
FIREBREAK_NOW (the test server's clock, for the change event's time) and SSL_CERT_FILE (the
test's CA, which the client's HTTP library trusts) set; exits non-zero on the
first thing that does not match."""

import os
import sys

import pagerduty

url = os.environ["FIREBREAK_URL"]
key = os.environ["FIREBREAK_PD_KEY"]


def check(what, got, want):
    if got != want:
        sys.exit(f"{what}: got {got!r}, want {want!r}")


# Without TLS the client cannot be pointed at Firebreak at all.
try:
    pagerduty.EventsApiV2Client(key, base_url=url.replace("https://", "http://", 1))
    sys.exit("the client took an http:// base URL")
except pagerduty.UrlError:
    print("http refused: ok")

events = pagerduty.EventsApiV2Client(key, base_url=url)
dedup = events.trigger(
    "Disk full on db-1",
    "db-1",
    dedup_key="tls/disk-db-1",
    severity="error",
    custom_details={"free": "2%"},
)
check("trigger's dedup key", dedup, "tls/disk-db-1")
print("trigger: ok")
check("acknowledge's dedup key", events.acknowledge(dedup), dedup)
print("acknowledge: ok")
check("resolve's dedup key", events.resolve(dedup), dedup)
print("resolve: ok")
# The change event names its time: the client's own default is broken in 7.2.0, and the test
# server runs on a clock of its own.
events.submit(
    "Deployed storage v9.9.9",
    source="ci",
    custom_details={"version": "v9.9.9"},
    timestamp=os.environ["FIREBREAK_NOW"],
)
print("change event: ok")
