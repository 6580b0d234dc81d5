import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { silentLogger } from '../../../common/log.ts';
import { backoffDelay } from '../../../agent/backoff.ts';
import { ReportClient } from '../../../agent/report-client.ts';

// Against a real HTTP server on loopback that can play dead for a while.

interface Call {
  method: string;
  path: string;
  auth: string | undefined;
  body: unknown;
  agent?: string | undefined;
}

let server: Server | null = null;
let client: ReportClient | null = null;

afterEach(async () => {
  client?.close();
  client = null;
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
});

async function body(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : undefined;
}

/** A server that fails the first `down` requests with 503, then answers with `answer`. */
async function startServer(opts: { down?: number; answer?: (path: string, n: number) => unknown; refuse?: string } = {}): Promise<{ url: string; calls: Call[] }> {
  const calls: Call[] = [];
  let seen = 0;
  server = createServer(async (req, res) => {
    const b = await body(req);
    if (seen++ < (opts.down ?? 0)) {
      res.writeHead(503).end('not yet');
      return;
    }
    calls.push({ method: req.method!, path: req.url!, auth: req.headers.authorization, body: b, ...(req.url === '/api/v1/agent/step' ? { agent: req.headers['user-agent'] } : {}) });
    if (req.url === opts.refuse) return void res.writeHead(409, { 'content-type': 'application/json' }).end('{"error":{"code":"BOOT_DIGEST_MISMATCH","message":"no"}}');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(opts.answer?.(req.url!, calls.length) ?? {}));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, calls };
}

const fast = { initialMs: 10, maxMs: 40, jitter: 0.5 };

test('step reports reach the server in order after an outage, without blocking the caller', async () => {
  const { url, calls } = await startServer({ down: 4 });
  client = new ReportClient({ server: url, token: 'tok', agentVersion: '0.1.0+abc', log: silentLogger, backoff: fast });
  // Queued, not sent: nothing has reached the server when reportStep returns.
  expect(client.reportStep({ step: 'wipe', status: 'running' })).toBeUndefined();
  client.reportStep({ step: 'wipe', status: 'succeeded', durationMs: 5 });
  client.reportStep({ step: 'partition', status: 'running' });
  expect(calls).toEqual([]);
  expect(await client.drain(5000)).toBe(true);
  expect(calls.map((c) => `${c.method} ${c.path} ${(c.body as { step: string; status: string }).step}:${(c.body as { status: string }).status}`)).toEqual([
    'POST /api/v1/agent/step wipe:running',
    'POST /api/v1/agent/step wipe:succeeded',
    'POST /api/v1/agent/step partition:running',
  ]);
  expect(calls.every((c) => c.auth === 'Bearer tok' && c.agent === 'rackcast-agent/0.1.0+abc')).toBe(true);
});

test('the completion report goes out after the step reports queued before it, and resolves once delivered', async () => {
  const { url, calls } = await startServer({ down: 3 });
  client = new ReportClient({ server: url, token: 'tok', log: silentLogger, backoff: fast });
  client.reportStep({ step: 'hooks', status: 'succeeded' });
  client.reportStep({ step: 'finish', status: 'succeeded' });
  await client.reportComplete({ durationMs: 42, image: { bytes: 7, sha256: 'ab'.repeat(32) } });
  expect(calls.map((c) => c.path)).toEqual(['/api/v1/agent/step', '/api/v1/agent/step', '/api/v1/agent/complete']);
  expect(calls[2]!.body).toEqual({ durationMs: 42, image: { bytes: 7, sha256: 'ab'.repeat(32) } });
});

test('a completion report the server refuses (409) is rejected at once, not sent again', async () => {
  const { url, calls } = await startServer({ refuse: '/api/v1/agent/complete' });
  client = new ReportClient({ server: url, token: 'tok', log: silentLogger, backoff: fast });
  await expect(client.reportComplete({ durationMs: 1 })).rejects.toMatchObject({ code: 'AGENT_SERVER_ERROR', status: 409 });
  expect(calls.filter((c) => c.path === '/api/v1/agent/complete')).toHaveLength(1);
});

test('a completion report the server never takes is rejected when the client closes', async () => {
  const { url } = await startServer({ down: 1_000_000 });
  client = new ReportClient({ server: url, token: 'tok', log: silentLogger, backoff: fast });
  const pending = client.reportComplete({ durationMs: 1 });
  client.close();
  await expect(pending).rejects.toMatchObject({ code: 'AGENT_SERVER_UNREACHABLE' });
});

test('log lines go out in batches about every second', async () => {
  const { url, calls } = await startServer();
  client = new ReportClient({ server: url, token: 't', log: silentLogger, logFlushMs: 100 });
  for (const msg of ['a', 'b', 'c']) client.pushLog({ time: '2026-01-01T00:00:00.000Z', level: 'info', msg });
  await new Promise((r) => setTimeout(r, 400));
  expect(calls).toEqual([{ method: 'POST', path: '/api/v1/agent/log', auth: 'Bearer t', body: { lines: ['a', 'b', 'c'].map((msg) => ({ time: '2026-01-01T00:00:00.000Z', level: 'info', msg })) } }]);
});

test('while the server is away the log buffer keeps the newest lines and says how many it dropped', async () => {
  const { url, calls } = await startServer({ down: 1 });
  client = new ReportClient({ server: url, token: 't', log: silentLogger, logFlushMs: 60_000, logBufferLines: 3 });
  for (let i = 0; i < 5; i++) client.pushLog({ time: 't', level: 'info', msg: `line ${i}` });
  await client.flushLogs(); // the 503
  await client.flushLogs();
  const lines = (calls[0]!.body as { lines: { msg: string }[] }).lines.map((l) => l.msg);
  expect(lines).toEqual(['agent: 2 log lines dropped while the server was unreachable', 'line 2', 'line 3', 'line 4']);
});

test('waitForNext polls through "wait" until the server decides', async () => {
  const { url, calls } = await startServer({ answer: (_p, n) => ({ action: n < 3 ? 'wait' : 'reboot' }) });
  client = new ReportClient({ server: url, token: 't', log: silentLogger, backoff: fast });
  expect(await client.waitForNext(10_000)).toBe('reboot');
  expect(calls.map((c) => c.path)).toEqual(['/api/v1/agent/next', '/api/v1/agent/next', '/api/v1/agent/next']);
});

test('with no answer in time the node powers off instead of rebooting blindly', async () => {
  client = new ReportClient({ server: 'http://127.0.0.1:9', token: 't', log: silentLogger, backoff: fast, requestTimeoutMs: 200 });
  expect(await client.waitForNext(300)).toBe('poweroff');
});

test('the plan is retried until the server has one, and an unreachable server is a coded error', async () => {
  const { url } = await startServer({ down: 3, answer: () => ({ image: { name: 'x' } }) });
  client = new ReportClient({ server: url, token: 't', log: silentLogger, backoff: fast });
  expect(await client.getPlan(5000)).toEqual({ image: { name: 'x' } });
  const dead = new ReportClient({ server: 'http://127.0.0.1:9', token: 't', log: silentLogger, backoff: fast, requestTimeoutMs: 200 });
  await expect(dead.getPlan(200)).rejects.toMatchObject({ code: 'AGENT_SERVER_UNREACHABLE', details: { path: '/api/v1/agent/plan' } });
  dead.close();
});

test('backoff doubles up to the cap and jitter only shortens', () => {
  const o = { initialMs: 100, maxMs: 1000, jitter: 0.5 };
  expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, o, () => 0))).toEqual([100, 200, 400, 800, 1000, 1000]);
  expect(backoffDelay(2, o, () => 1)).toBe(200);
});
