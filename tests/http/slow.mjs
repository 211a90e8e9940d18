// A slowloris client for tests/http/status.sh: opens COUNT connections from LOCAL_ADDR,
// sends the start of a request and then one header byte per second, never finishing it.
// Prints one line per connection, in the order they were opened:
//   <index> <ms from its open to its close, or -1 if still open at the end> <bytes received>
//   [<HTTP status of an answer, if one came>]
// and exits when every connection is closed or after SECONDS. MODE "body" sends whole
// headers of a POST announcing 1000 bytes instead, then one body byte per second.
// MODE "idle" sends a whole GET /healthz, waits IDLE_S seconds after its answer on the
// kept-alive connection, then sends a second whole one; "idle-drip" drips the second
// one's headers a byte a second instead. For these two the line is
//   <index> <ms from the second request's start to the close, or -1> <bytes> <answers>
// (answers: how many HTTP/1.1 status lines came back).
//
//   node slow.mjs HOST PORT LOCAL_ADDR COUNT SECONDS [MODE] [IDLE_S]
import net from 'node:net';

const [host, port, local, count, seconds, mode, idleS] = process.argv.slice(2);
const conns = [];
const keepAlive = mode === 'idle' || mode === 'idle-drip';
const GET = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n';

function done() {
  for (const c of conns) {
    const status = /^HTTP\/1\.1 (\d+)/.exec(c.text || '');
    const answers = ((c.text || '').match(/HTTP\/1\.1 \d+/g) || []).length;
    process.stdout.write(keepAlive
      ? `${c.i} ${c.closed < 0 || !c.second ? -1 : c.closed - c.second} ${c.bytes} ${answers}\n`
      : `${c.i} ${c.closed < 0 ? -1 : c.closed - c.opened} ${c.bytes}${status ? ' ' + status[1] : ''}\n`);
    c.sock.destroy();
  }
  process.exit(0);
}

function secondRequest(c) {
  c.second = Date.now();
  if (mode === 'idle') {
    c.sock.write(GET + '\r\n');
    return;
  }
  c.sock.write(GET + 'X-Slow: ');
  c.timer = setInterval(() => c.sock.writable && c.sock.write('a'), 1000);
}

for (let i = 0; i < Number(count); i++) {
  const c = { i, opened: Date.now(), closed: -1, bytes: 0 };
  c.sock = net.connect({ host, port: Number(port), localAddress: local });
  c.sock.on('connect', () => {
    c.opened = Date.now();
    if (keepAlive) {
      c.sock.write(GET + '\r\n');
      return;
    }
    c.sock.write(mode === 'body'
      ? 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        'Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{'
      : 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    c.timer = setInterval(() => c.sock.writable && c.sock.write('a'), 1000);
  });
  c.sock.on('data', (d) => {
    c.bytes += d.length;
    c.text = (c.text || '') + d;
    if (keepAlive && !c.waiting && /\r\n\r\n/.test(c.text)) { /* the first answer is in */
      c.waiting = setTimeout(() => secondRequest(c), Number(idleS) * 1000);
    }
  });
  c.sock.on('error', () => {});
  c.sock.on('close', () => {
    clearInterval(c.timer);
    clearTimeout(c.waiting);
    if (c.closed < 0) c.closed = Date.now();
    if (conns.every((x) => x.closed >= 0)) done();
  });
  conns.push(c);
}
setTimeout(done, Number(seconds) * 1000);
