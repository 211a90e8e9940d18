// A slowloris client for tests/http/status.sh: opens COUNT connections from LOCAL_ADDR,
// sends the start of a request and then one header byte per second, never finishing it.
// Prints one line per connection, in the order they were opened:
//   <index> <ms from its open to its close, or -1 if still open at the end> <bytes received>
//   [<HTTP status of an answer, if one came>]
// and exits when every connection is closed or after SECONDS. MODE "body" sends whole
// headers of a POST announcing 1000 bytes instead, then one body byte per second.
//
//   node slow.mjs HOST PORT LOCAL_ADDR COUNT SECONDS [MODE]
import net from 'node:net';

const [host, port, local, count, seconds, mode] = process.argv.slice(2);
const conns = [];

function done() {
  for (const c of conns) {
    const status = /^HTTP\/1\.1 (\d+)/.exec(c.text || '');
    process.stdout.write(`${c.i} ${c.closed < 0 ? -1 : c.closed - c.opened} ${c.bytes}${status ? ' ' + status[1] : ''}\n`);
    c.sock.destroy();
  }
  process.exit(0);
}

for (let i = 0; i < Number(count); i++) {
  const c = { i, opened: Date.now(), closed: -1, bytes: 0 };
  c.sock = net.connect({ host, port: Number(port), localAddress: local });
  c.sock.on('connect', () => {
    c.opened = Date.now();
    c.sock.write(mode === 'body'
      ? 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        'Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{'
      : 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    c.timer = setInterval(() => c.sock.writable && c.sock.write('a'), 1000);
  });
  c.sock.on('data', (d) => { c.bytes += d.length; c.text = (c.text || '') + d; });
  c.sock.on('error', () => {});
  c.sock.on('close', () => {
    clearInterval(c.timer);
    if (c.closed < 0) c.closed = Date.now();
    if (conns.every((x) => x.closed >= 0)) done();
  });
  conns.push(c);
}
setTimeout(done, Number(seconds) * 1000);
