#!/usr/bin/env python3
"""SMTP sink for the voicemail-to-email tests: a real SMTP server (aiosmtpd) on 127.0.0.1:PORT.

Usage: sink.py PORT OUTDIR [CERT KEY USER PASSWORD]. With a certificate and key it requires
STARTTLS, then AUTH with USER/PASSWORD, before a mail. Prints "ready" once listening. Each mail received is written as
OUTDIR/N.eml (as received), OUTDIR/N-FILENAME per attachment (decoded) and, last, OUTDIR/N.json
(envelope, headers, text, attachments) so a reader never sees a half-written mail.
"""
import email
import json
import os
import ssl
import sys
import threading
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out):
        self.out = out
        self.n = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            n = self.n
        raw = envelope.original_content or envelope.content
        with open(os.path.join(self.out, f"{n}.eml"), "wb") as f:
            f.write(raw)
        msg = email.message_from_bytes(raw, policy=policy.default)
        attachments = []
        for part in msg.iter_attachments():
            name = part.get_filename()
            data = part.get_payload(decode=True)
            path = os.path.join(self.out, f"{n}-{name}")
            with open(path, "wb") as f:
                f.write(data)
            attachments.append(
                {"filename": name, "content_type": part.get_content_type(), "path": path}
            )
        body = msg.get_body(preferencelist=("plain",))
        info = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "subject": str(msg["subject"]),
            "text": body.get_content() if body is not None else "",
            "attachments": attachments,
        }
        tmp = os.path.join(self.out, f"{n}.json.tmp")
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.rename(tmp, os.path.join(self.out, f"{n}.json"))
        return "250 OK"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    options = {}
    if len(sys.argv) > 3:
        cert, key, user, password = sys.argv[3:7]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok)

        options = dict(
            tls_context=context,
            require_starttls=True,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=True,
        )
    controller = Controller(Sink(out), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the test closes stdin or kills us
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
