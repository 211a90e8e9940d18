#!/usr/bin/env python3
"""A small MCP resource server + authorization server with the faults tests/cli/doctor.sh
asks for, to check that `teamnotes doctor --url` names each one.

Usage: doctor_fixture.py PORT [--resource URL] [--meta-issuer URL] [--relative]
       [--no-s256] [--no-registration] [--skew SECONDS] [--keep-client]
Without options it is a correct deployment (PRM resource = http://127.0.0.1:PORT/mcp,
issuer = the origin, DCR with RFC 7592 deletion). Prints "fixture ready" when listening.
"""
import argparse
import email.utils
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("--resource")
ap.add_argument("--meta-issuer")
ap.add_argument("--relative", action="store_true")
ap.add_argument("--no-s256", action="store_true")
ap.add_argument("--no-registration", action="store_true")
ap.add_argument("--keep-client", action="store_true", help="no RFC 7592 registration_client_uri")
ap.add_argument("--skew", type=int, default=0)
args = ap.parse_args()

origin = f"http://127.0.0.1:{args.port}"
prm_path = "/.well-known/oauth-protected-resource/mcp"
# a P-256 public key (only its shape matters: doctor counts usable keys)
JWK = {"kty": "EC", "crv": "P-256", "kid": "fixture-1", "use": "sig", "alg": "ES256",
       "x": "URj-gEyaKkXlm-9RnLzY3CNbfS9jkQqBVSaKVfMBGnE",
       "y": "Yq6oUPQNZYKHOj9tJJKh9tCxM8Jj34_0r1os8fEQV_A"}
deleted = []


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def date_time_string(self, timestamp=None):
        return email.utils.formatdate(time.time() + args.skew, usegmt=True)

    def send_json(self, status, doc, extra=()):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path in (prm_path, "/.well-known/oauth-protected-resource"):
            self.send_json(200, {"resource": args.resource or origin + "/mcp",
                                 "authorization_servers": [origin],
                                 "scopes_supported": ["notes:read", "notes:write"]})
        elif self.path == "/.well-known/oauth-authorization-server":
            m = {"issuer": args.meta_issuer or origin,
                 "authorization_endpoint": origin + "/authorize",
                 "token_endpoint": origin + "/token",
                 "jwks_uri": origin + "/jwks",
                 "response_types_supported": ["code"],
                 "code_challenge_methods_supported": ["plain"] if args.no_s256 else ["S256"]}
            if not args.no_registration:
                m["registration_endpoint"] = origin + "/register"
            self.send_json(200, m)
        elif self.path == "/jwks":
            self.send_json(200, {"keys": [JWK]})
        else:
            self.send_json(404, {"error": "not_found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        if self.path == "/mcp":
            rm = prm_path if args.relative else origin + prm_path
            self.send_json(401, {"error": "unauthorized"},
                           [("WWW-Authenticate", f'Bearer resource_metadata="{rm}", scope="notes:read"')])
        elif self.path == "/register" and not args.no_registration:
            doc = dict(body, client_id="fixture-client")
            if not args.keep_client:
                doc.update(registration_client_uri=origin + "/register/fixture-client",
                           registration_access_token="fixture-token")
            self.send_json(201, doc)
        else:
            self.send_json(404, {"error": "not_found"})

    def do_DELETE(self):
        if self.path == "/register/fixture-client" and \
                self.headers.get("Authorization") == "Bearer fixture-token":
            deleted.append(self.path)
            self.send_response(204)
            self.end_headers()
        else:
            self.send_json(401, {"error": "invalid_token"})


srv = ThreadingHTTPServer(("127.0.0.1", args.port), H)
print("fixture ready", flush=True)
srv.serve_forever()
