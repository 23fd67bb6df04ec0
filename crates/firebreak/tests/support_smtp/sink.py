"""A real SMTP server for Firebreak's email tests (aiosmtpd from PyPI).

Usage: sink.py PORT OUTDIR. Every message accepted is written to OUTDIR as
<n>.eml, with its envelope recipients on the first line ("To: a@x, b@y"). Recipients whose
local part starts with `flaky` are refused once with 451 (try again later) and accepted after;
those starting with `bounce` are refused with 550 (no such user). Prints "ready" when it
listens and stops when its stdin closes.
"""

import os
import sys
import threading

from aiosmtpd.controller import Controller

port = int(sys.argv[1])
outdir = sys.argv[2]
seen = {}
count = 0
lock = threading.Lock()


class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        with lock:
            seen[address] = seen.get(address, 0) + 1
            times = seen[address]
        if local.startswith("bounce"):
            return "550 5.1.1 No such user here"
        if local.startswith("flaky") and times == 1:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        global count
        with lock:
            count += 1
            n = count
        path = os.path.join(outdir, f"{n}.eml")
        with open(path + ".part", "wb") as f:
            f.write(("To: " + ", ".join(envelope.rcpt_tos) + "\n").encode())
            f.write(envelope.content)
        os.rename(path + ".part", path)
        return "250 2.0.0 Message accepted for delivery"


controller = Controller(Sink(), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
