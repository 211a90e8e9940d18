// Speaks MCP over stdio to mcp-remote (the bridge Claude Desktop runs), the way a stdio
// client does: initialize, notifications/initialized, tools/list, tools/call list_my_notes.
// Prints one JSON line per answer; exits 1 when an answer does not come within the time.
// Usage: node mcp-remote.mjs URL [mcp-remote flags...]   (env: MCP_REMOTE_CONFIG_DIR, BROWSER)
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.join(here, 'node_modules', 'mcp-remote', 'dist', 'proxy.js');
const child = spawn(process.execPath, [bin, ...process.argv.slice(2)], { stdio: ['pipe', 'pipe', 'inherit'] });
const waiting = new Map();
createInterface({ input: child.stdout }).on('line', (line) => {
  let msg;
  try { msg = JSON.parse(line); } catch { return; }
  if (msg.id !== undefined && waiting.has(msg.id)) { waiting.get(msg.id)(msg); waiting.delete(msg.id); }
});
let next = 1;
function request(method, params, ms) {
  const id = next++;
  child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
  return new Promise((resolve, reject) => {
    waiting.set(id, resolve);
    setTimeout(() => reject(new Error(`no answer to ${method} within ${ms} ms`)), ms).unref();
  });
}
try {
  // the first request waits for the whole OAuth flow (the browser script signs in)
  const init = await request('initialize', { protocolVersion: '2025-06-18', capabilities: {},
    clientInfo: { name: 'teamnotes-stdio-test', version: '1.0.0' } }, Number(process.env.TN_INIT_MS || 90000));
  console.log(JSON.stringify({ step: 'initialize', result: init.result, error: init.error }));
  child.stdin.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n');
  const list = await request('tools/list', {}, 30000);
  console.log(JSON.stringify({ step: 'tools/list', result: list.result, error: list.error }));
  const notes = await request('tools/call', { name: 'list_my_notes', arguments: {} }, 30000);
  console.log(JSON.stringify({ step: 'list_my_notes', result: notes.result, error: notes.error }));
  child.kill('SIGTERM');
  process.exit(0);
} catch (e) {
  console.log(JSON.stringify({ step: 'failed', error: String(e.message) }));
  child.kill('SIGKILL');
  process.exit(1);
}
