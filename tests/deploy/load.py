#!/usr/bin/env python3
"""Load for tests/deploy/proxy.sh's rolling stop: THREADS clients, each on one kept-alive
HTTPS connection to the proxy, call list_my_notes over and over for SECONDS and print one
line "200=N other=M" and then each other status or error with its count (a connection that
fails is replaced by a new one).
Usage: load.py URL TOKEN CAFILE SECONDS THREADS"""
import collections
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse

url, token, cafile = urllib.parse.urlparse(sys.argv[1]), sys.argv[2], sys.argv[3]
seconds, threads = float(sys.argv[4]), int(sys.argv[5])
ctx = ssl.create_default_context(cafile=cafile)
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "list_my_notes", "arguments": {}}})
headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "MCP-Protocol-Version": "2025-11-25", "Authorization": "Bearer " + token}
counts = collections.Counter()
lock = threading.Lock()
stop = time.monotonic() + seconds


def connect():
    return http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=10)


def client():
    conn = connect()
    while time.monotonic() < stop:
        try:
            conn.request("POST", url.path, body, headers)
            resp = conn.getresponse()
            data = resp.read()
            key = resp.status if resp.status != 200 or b'"isError":true' not in data else "tool error"
        except (OSError, http.client.HTTPException) as e:
            key = type(e).__name__
            conn.close()
            conn = connect()
        with lock:
            counts[key] += 1


workers = [threading.Thread(target=client) for _ in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
ok = counts.pop(200, 0)
print(f"200={ok} other={sum(counts.values())}")
for k, n in counts.most_common():
    print(f"  {k}: {n}")
