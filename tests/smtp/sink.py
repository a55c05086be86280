#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd), started by tests/common/smtp.rs.

Each accepted message is written to OUT as NNNNNN.json (envelope, TLS or not,
the raw message in base64), atomically (temp file, then rename), so a test
polling the directory never reads half a message. Recipients whose local part
starts with "refuse" get a permanent 550 reply at RCPT, as a real server
answers for an unknown user. Prints "ready" once it accepts connections.

    sink.py --port P --out DIR [--mode plain|starttls|smtps --cert C --key K]
            [--auth USER:PASSWORD]
"""
import argparse
import base64
import itertools
import json
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out, implicit_tls):
        self.out = out
        self.implicit_tls = implicit_tls
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].startswith("refuse"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = next(self.counter)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": self.implicit_tls or session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "data": base64.b64encode(envelope.original_content).decode("ascii"),
        }
        path = os.path.join(self.out, f"{n:06d}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(path + ".tmp", path)
        return f"250 OK queued as {n}"


def authenticator_for(expected):
    user, password = expected.split(":", 1)

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # handled=False: aiosmtpd answers the failure with 535 itself.
        return AuthResult(success=ok, handled=False)

    return check


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=["plain", "starttls", "smtps"], default="plain")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth")
    args = p.parse_args()

    kwargs = {}
    if args.mode != "plain":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
        if args.mode == "starttls":
            kwargs["tls_context"] = ctx
            kwargs["require_starttls"] = True
        else:
            kwargs["ssl_context"] = ctx
    if args.auth:
        kwargs["authenticator"] = authenticator_for(args.auth)
        kwargs["auth_required"] = True
        if args.mode == "smtps":
            # aiosmtpd only counts STARTTLS as TLS when deciding to offer AUTH;
            # an implicit-TLS connection is encrypted from the first byte.
            kwargs["auth_require_tls"] = False
    controller = Controller(
        Sink(args.out, args.mode == "smtps"),
        hostname="127.0.0.1",
        port=args.port,
        **kwargs,
    )
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The test holds our stdin: when it exits (even killed), EOF stops us.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
