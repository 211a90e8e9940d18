#!/usr/bin/python3
"""A real SMTP server on loopback for tests/mail/smtp.sh, built on Debian's python3-aiosmtpd.

    smtpd.py MODE CERT KEY OUTDIR PORTFILE

MODE  starttls   STARTTLS offered and required before MAIL; AUTH (PLAIN, LOGIN) offered
                 only after TLS and required
      smtps      implicit TLS from the first byte; AUTH required
      plain      no TLS at all and no AUTH (what a client that insists on STARTTLS must
                 refuse to talk to)
      blackhole  accepts TCP connections and never says a word (timeouts)

The bound port is written to PORTFILE once the server listens. Each message received
becomes OUTDIR/N.eml (the DATA exactly as received) and OUTDIR/N.json (the envelope, whether
the session was encrypted and how, and who authenticated with which mechanism).
"""
import asyncio
import json
import os
import socket
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER = b"mailer"
PASSWORD = b"s3cret-pass"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER and auth_data.password == PASSWORD
    # a failure not "handled" makes aiosmtpd answer 535 itself
    return AuthResult(success=ok, handled=ok,
                      auth_data={"login": auth_data.login.decode(), "mechanism": mechanism} if ok else None)


class Recorder:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        implicit = server.transport.get_extra_info("ssl_object") is not None and session.ssl is None
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "starttls": session.ssl is not None,
            "implicit_tls": implicit,
            "authenticated": bool(session.authenticated),
            "auth": session.auth_data,
            "ehlo": session.host_name,
        }
        with open(os.path.join(self.out, "%d.eml" % self.n), "wb") as f:
            f.write(envelope.original_content)
        with open(os.path.join(self.out, "%d.json.tmp" % self.n), "w") as f:
            json.dump(rec, f)
        os.rename(os.path.join(self.out, "%d.json.tmp" % self.n), os.path.join(self.out, "%d.json" % self.n))
        return "250 2.0.0 accepted as message %d" % self.n


def main():
    mode, cert, key, out, portfile = sys.argv[1:6]
    if mode == "blackhole":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        with open(portfile + ".tmp", "w") as f:
            f.write(str(s.getsockname()[1]))
        os.rename(portfile + ".tmp", portfile)
        while True:
            time.sleep(3600)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    handler = Recorder(out)
    if mode == "starttls":
        kw = dict(tls_context=ctx, require_starttls=True, auth_required=True, auth_require_tls=True,
                  authenticator=authenticator)
    elif mode == "smtps":
        kw = dict(auth_required=True, auth_require_tls=False, authenticator=authenticator)
    elif mode == "plain":
        kw = dict()
    else:
        sys.exit("unknown mode " + mode)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return SMTP(handler, hostname="mx.test.example", loop=loop, **kw)

    server = loop.run_until_complete(
        loop.create_server(factory, "127.0.0.1", 0, ssl=ctx if mode == "smtps" else None))
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    loop.run_forever()


if __name__ == "__main__":
    main()
