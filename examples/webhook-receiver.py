#!/usr/bin/env python3
"""A Firebreak webhook receiver that verifies every delivery (Python 3.9+, standard library only).

    FIREBREAK_WEBHOOK_SECRET=whsec_... python3 webhook-receiver.py [PORT] [ADDRESS]

PORT defaults to $PORT or 9000, ADDRESS to 127.0.0.1 (use 0.0.0.0 to accept other machines).
Each verified event or page is printed as one line: webhook-id, type, and the event's data (or
the page) as JSON. It receives both outgoing event webhooks and pages sent to a `webhook`
contact method.

A delivery is accepted only if
  - webhook-signature holds a "v1,<base64>" signature equal to HMAC-SHA256 of
    "<webhook-id>.<webhook-timestamp>.<raw body>" under the secret (several signatures,
    separated by spaces, are sent while a secret is rotated; any one may match),
  - webhook-timestamp is within 5 minutes of this machine's clock (so a captured delivery
    cannot be replayed later).
A webhook-id seen before is answered 204 and not processed again: Firebreak retries with the
same id, so retries and redeliveries are harmless.

FIREBREAK_WEBHOOK_NOW (Unix seconds) replaces the clock in the 5-minute check; it is for tests.
"""

import base64
import collections
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

TOLERANCE_SECONDS = 5 * 60


def signing_key(secret):
    """The HMAC key: the base64 text after "whsec_", decoded."""
    text = secret.strip().removeprefix("whsec_")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def verify(key, msg_id, timestamp, signatures, body, now):
    """Returns None if the delivery is genuine and fresh, else (HTTP status, why not)."""
    if not (msg_id and timestamp and signatures):
        return 400, "a webhook-id, webhook-timestamp or webhook-signature header is missing"
    if not (timestamp.isascii() and timestamp.isdigit()):
        return 400, "webhook-timestamp is not Unix seconds"
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return 400, "webhook-timestamp is more than 5 minutes away from this clock"
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return None
    return 401, "no signature matches"


class Receiver(BaseHTTPRequestHandler):
    key = b""
    seen = collections.OrderedDict()  # webhook-ids already processed, oldest first

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        msg_id = self.headers.get("webhook-id")
        now = int(os.environ.get("FIREBREAK_WEBHOOK_NOW") or time.time())
        refused = verify(
            self.key,
            msg_id,
            self.headers.get("webhook-timestamp"),
            self.headers.get("webhook-signature"),
            body,
            now,
        )
        if refused:
            # Firebreak does not retry a 4xx; answer 5xx for a fault of your own instead.
            self.send_response(refused[0])
            self.end_headers()
            who = msg_id or "a delivery without webhook-id"
            print(f"rejected {who}: {refused[1]}", file=sys.stderr, flush=True)
            return
        # Answer first and quickly: a slow answer is a timeout, and Firebreak retries timeouts.
        self.send_response(204)
        self.end_headers()
        if msg_id in self.seen:
            print(f"{msg_id} duplicate, already processed", flush=True)
            return
        self.seen[msg_id] = now
        if len(self.seen) > 10_000:  # a real receiver keeps these in its database
            self.seen.popitem(last=False)
        event = json.loads(body)
        # An event webhook carries its object in "data"; a page (a webhook contact method) is
        # the object itself.
        shown = event["data"] if "data" in event else {k: v for k, v in event.items() if k != "type"}
        print(msg_id, event["type"], json.dumps(shown), flush=True)

    def log_message(self, format, *args):
        pass  # one line per event above is enough


def main():
    secret = os.environ.get("FIREBREAK_WEBHOOK_SECRET")
    if not secret:
        sys.exit(
            "set FIREBREAK_WEBHOOK_SECRET to the secret `firebreak webhook add` "
            "or `firebreak contact add --type webhook` printed"
        )
    try:
        Receiver.key = signing_key(secret)
    except ValueError:
        sys.exit("FIREBREAK_WEBHOOK_SECRET is not a secret: expected whsec_ followed by base64")
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "9000"))
    address = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    server = HTTPServer((address, port), Receiver)
    print(f"listening on http://{address}:{server.server_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
