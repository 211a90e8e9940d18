#!/usr/bin/env python3
"""Many concurrent subscriptions/listen streams against one teamnotes server, for
bench/scale.sh. Standard library only (asyncio, raw sockets).

    scale_listen.py HOST PORT PATH TOKENS_FILE STREAMS USERS SERVER_PID

TOKENS_FILE has one bearer token per line, line i for subject user<i % USERS> (what
`mint ES256 USERS COUNT AUD` writes); stream i uses line i (modulo the file's length),
so the streams spread evenly over the users. Steps:
  1. a few tools/call list_my_notes, one at a time: baseline latency; then the server's RSS
  2. open STREAMS listen streams (2026-07-28 era), at most WINDOW unacknowledged at once;
     each must answer 200 text/event-stream and send notifications/subscriptions/acknowledged
     granting resourcesListChanged
  3. the server's RSS with all of them open and acknowledged
  4. tools/call list_my_notes latency again, with the streams open
  5. save_note as user0 (token 0); count notifications/resources/list_changed on every
     stream during the next second (only that user's streams may get one)
Prints "key value" lines on stdout; progress on stderr.
"""
import asyncio
import json
import resource
import sys
import time

WINDOW = 256
OPEN_TIMEOUT_S = 120
ACK = "notifications/subscriptions/acknowledged"
CHANGED = "notifications/resources/list_changed"
META = ('"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
        '"io.modelcontextprotocol/clientCapabilities":{}}')


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def request(host, port, path, token, method, name, params, rid):
    body = ('{"jsonrpc":"2.0","id":%s,"method":"%s","params":{%s%s}}'
            % (json.dumps(rid), method, params + "," if params else "", META)).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\n"
            "MCP-Protocol-Version: 2026-07-28\r\n"
            f"Mcp-Method: {method}\r\n" + (f"Mcp-Name: {name}\r\n" if name else "") +
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


class Stream(asyncio.Protocol):
    """One listen stream: parses the response head, de-chunks the body and reads the SSE
    data lines as JSON-RPC messages."""

    def __init__(self, req, user, acked):
        self.req, self.user, self.acked = req, user, acked
        self.buf = b""
        self.head = None
        self.chunked = False
        self.chunk_left = 0
        self.sse = b""
        self.ack_ok = False
        self.changed = []  # arrival times of list_changed
        self.error = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.req)

    def fail(self, why):
        if self.error is None:
            self.error = why
        if not self.acked.done():
            self.acked.set_result(False)

    def connection_lost(self, exc):
        self.fail("closed by the server" + (f": {exc}" if exc else ""))

    def data_received(self, data):
        self.buf += data
        if self.head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.head = self.buf[:end].decode("latin-1")
            self.buf = self.buf[end + 4:]
            lines = self.head.split("\r\n")
            hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
            if lines[0].split()[1:2] != ["200"] or \
                    not hdrs.get("content-type", "").startswith("text/event-stream"):
                self.fail(f"{lines[0]} {hdrs.get('content-type')} {self.buf[:200]!r}")
                return
            self.chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
        if self.chunked:
            self.dechunk()
        else:
            self.sse += self.buf
            self.buf = b""
        self.read_events()

    def dechunk(self):
        while self.buf:
            if self.chunk_left == 0:
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                size = self.buf[:end].split(b";")[0].strip()
                if size == b"":  # the CRLF that ends the previous chunk
                    self.buf = self.buf[end + 2:]
                    continue
                self.chunk_left = int(size, 16)
                self.buf = self.buf[end + 2:]
                if self.chunk_left == 0:
                    self.fail("stream ended")
                    return
            take = self.buf[:self.chunk_left]
            self.sse += take
            self.buf = self.buf[len(take):]
            self.chunk_left -= len(take)

    def read_events(self):
        while True:
            end = self.sse.find(b"\n\n")
            if end < 0:
                return
            event, self.sse = self.sse[:end], self.sse[end + 2:]
            data = b"\n".join(l[5:].lstrip() for l in event.split(b"\n") if l.startswith(b"data:"))
            if not data:
                continue  # a heartbeat comment
            try:
                msg = json.loads(data)
            except ValueError:
                self.fail(f"not JSON: {data[:200]!r}")
                continue
            method = msg.get("method")
            if method == ACK:
                granted = msg.get("params", {}).get("notifications", {})
                if granted.get("resourcesListChanged") is True:
                    self.ack_ok = True
                    if not self.acked.done():
                        self.acked.set_result(True)
                else:
                    self.fail(f"acknowledged without resourcesListChanged: {data[:200]!r}")
            elif method == CHANGED:
                self.changed.append(time.perf_counter())
            elif "error" in msg:
                self.fail(f"refused: {data[:200]!r}")


async def call(host, port, req):
    """One request on a fresh connection; returns (seconds, status line, body)."""
    t0 = time.perf_counter()
    r, w = await asyncio.open_connection(host, port)
    w.write(req)
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await r.readexactly(length)
    dt = time.perf_counter() - t0
    w.close()
    return dt, head.split(b"\r\n")[0].decode(), body


async def latencies(host, port, req, n):
    out = []
    for _ in range(n):
        dt, status, body = await call(host, port, req)
        if " 200 " not in status + " " or b'"result"' not in body or b'"isError":true' in body:
            raise RuntimeError(f"tools/call failed: {status} {body[:200]!r}")
        out.append(dt * 1000)
    out.sort()
    return out


async def main():
    host, port, path, tokens_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    n, nusers, pid = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tokens = [t for t in open(tokens_file).read().split("\n") if t]
    loop = asyncio.get_running_loop()
    out = {}

    list_req = request(host, port, path, tokens[1], "tools/call", "list_my_notes",
                       '"name":"list_my_notes","arguments":{}', 1)
    await latencies(host, port, list_req, 20)  # warm-up: token cache, statements, pages
    base = await latencies(host, port, list_req, 50)
    out["call_before_p50_ms"] = f"{base[len(base) // 2]:.2f}"
    out["call_before_max_ms"] = f"{base[-1]:.2f}"
    await asyncio.sleep(0.5)
    out["rss_before_kib"] = rss_kib(pid)

    listen = ('"notifications":{"toolsListChanged":true,"resourcesListChanged":true}')
    streams = []
    window = asyncio.Semaphore(WINDOW)
    t0 = time.perf_counter()

    async def open_one(i):
        async with window:
            acked = loop.create_future()
            req = request(host, port, path, tokens[i % len(tokens)], "subscriptions/listen", None,
                          listen, f"sub-{i}")
            st = Stream(req, (i % len(tokens)) % nusers, acked)
            streams.append(st)
            try:
                await loop.create_connection(lambda: st, host, port)
                await asyncio.wait_for(acked, 30)
            except (OSError, asyncio.TimeoutError) as e:
                st.fail(f"{type(e).__name__}: {e}")

    await asyncio.wait_for(asyncio.gather(*(open_one(i) for i in range(n))), OPEN_TIMEOUT_S)
    open_s = time.perf_counter() - t0
    await asyncio.sleep(1.0)  # let the server settle (freed request memory, heartbeat)
    acked = sum(1 for s in streams if s.ack_ok and s.error is None)
    errors = [s.error for s in streams if s.error]
    out["streams"] = n
    out["open_s"] = f"{open_s:.1f}"
    out["acknowledged"] = acked
    out["failed"] = len(errors)
    if errors:
        out["first_error"] = errors[0].replace("\n", " ")[:300]
    out["rss_open_kib"] = rss_kib(pid)
    out["kib_per_stream"] = f"{(out['rss_open_kib'] - out['rss_before_kib']) / max(1, acked):.1f}"

    during = await latencies(host, port, list_req, 50)
    out["call_open_p50_ms"] = f"{during[len(during) // 2]:.2f}"
    out["call_open_max_ms"] = f"{during[-1]:.2f}"

    # One note change for the user of token 0: only that user's streams hear of it.
    who = 0
    mine = [s for s in streams if s.user == who]
    save = request(host, port, path, tokens[who], "tools/call", "save_note",
                   '"name":"save_note","arguments":{"title":"Scale","content":"One change for '
                   'the listen streams."}', 2)
    t_send = time.perf_counter()
    dt, status, body = await call(host, port, save)
    if " 200 " not in status + " " or b'"version":1' not in body:
        raise RuntimeError(f"save_note failed: {status} {body[:200]!r}")
    await asyncio.sleep(1.0)
    got = [s for s in mine if s.changed]
    others = [s for s in streams if s.user != who and s.changed]
    out["save_ms"] = f"{dt * 1000:.2f}"
    out["user_streams"] = len(mine)
    out["user_streams_notified"] = len(got)
    out["other_streams_notified"] = len(others)
    if got:
        last = max(s.changed[0] for s in got) - t_send
        out["last_notified_ms"] = f"{last * 1000:.1f}"
    out["still_open"] = sum(1 for s in streams if s.error is None)
    for s in streams:
        if s.transport:
            s.transport.close()
    for k, v in out.items():
        print(k, v)


if __name__ == "__main__":
    asyncio.run(main())
