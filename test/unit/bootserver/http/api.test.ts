import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest, Agent } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { silentLogger } from '../../../../common/log.ts';
import type { InstallStatus, NodeDetail, NodeSummary, ServerStatus } from '../../../../bootserver/api-types.ts';
import type { InstallPlan } from '../../../../contract/index.ts';
import { parseConfig, type BootConfig } from '../../../../bootserver/config.ts';
import { BootServer } from '../../../../bootserver/server.ts';
import { collect } from '../../../../scripts/lab/netns.ts';

// The HTTP side for real on loopback: iPXE scripts from state, installer files, the
// admin API and CLI, and the agent calls of docs/agent-api.md. DHCP and TFTP are off here.

const CLI = resolve(import.meta.dirname, '../../../../cli/main.ts');
const N1 = '52:54:00:78:00:10';
const PORTBASE = 20000 + 2 * Math.floor(Math.random() * 10000);
let dir: string;
let cfg: BootConfig;
let server: BootServer;
let base: string;

function makeConfig(port: number): BootConfig {
  return parseConfig(join(dir, 'rackcast.yaml'), {
    server: { interface: 'lo', address: '127.0.0.1', httpBind: '127.0.0.1', httpPort: port, publicUrl: `http://127.0.0.1:${port}` },
    paths: { stateDir: join(dir, 'state') },
    dhcp: { mode: 'off' },
    tftp: { enabled: false, root: join(dir, 'tftp') },
    installer: { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), cmdline: 'console=ttyS0' },
    // The sessions' senders really listen (on lo, ports of their own) but no receiver comes.
    images: { img: { dir: join(dir, 'image') }, gone: { dir: join(dir, 'no-such-image') } },
    cast: { portbase: PORTBASE },
    defaults: { image: 'img' },
    nodes: [
      { mac: N1, hostname: 'n001', ip: '10.78.0.11' },
      { mac: '52:54:00:78:00:11', hostname: 'n002' },
      { mac: '52:54:00:78:00:12', hostname: 'n003' },
      { mac: '52:54:00:78:00:13', hostname: 'n004', image: 'gone' },
    ],
  });
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await new Promise((ok) => s.once('listening', ok));
  const port = (s.address() as AddressInfo).port;
  await new Promise((ok) => s.close(ok));
  return port;
}

async function start(port?: number): Promise<void> {
  cfg = makeConfig(port ?? (await freePort()));
  server = await BootServer.start({ cfg, log: silentLogger });
  base = cfg.server.publicUrl;
}

/** One request on its own connection (no pool that could hold a socket across a server restart). */
/** One request; reads of the admin API carry the read token unless the test names another ('' for none). */
function call(path: string, opts: { method?: string; body?: unknown; raw?: string; token?: string } = {}): Promise<{ status: number; json: any; text: string; headers: Record<string, unknown> }> {
  const payload = opts.body !== undefined ? JSON.stringify(opts.body) : opts.raw;
  const token = opts.token ?? (path.startsWith('/api/v1/') && !path.startsWith('/api/v1/agent/') ? server.readToken : '');
  return new Promise((ok, fail) => {
    const req = httpRequest(base + path, {
      method: opts.method ?? 'GET',
      agent: false,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        ok({ status: res.statusCode!, json, text, headers: res.headers });
      });
    });
    req.on('error', fail);
    req.end(payload);
  });
}

/** What a node's firmware does: fetch its script, which carries a fresh token (and revokes the one before). */
async function tokenOf(mac: string): Promise<string> {
  const script = await call(`/boot/${mac.replace(/:/g, '-')}.ipxe`);
  return /rackcast\.token=([0-9a-f]{64})/.exec(script.text)![1]!;
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return collect(spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RACKCAST_SERVER: '', RACKCAST_ADMIN_TOKEN: '' } }), 30_000);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rcapi-'));
  writeFileSync(join(dir, 'vmlinuz'), Buffer.alloc(3 * 1024 * 1024, 7));
  writeFileSync(join(dir, 'initrd.img'), Buffer.alloc(5 * 1024 * 1024 + 3, 9));
  mkdirSync(join(dir, 'tftp'));
  mkdirSync(join(dir, 'image'));
  symlinkSync('/etc/passwd', join(dir, 'tftp', 'escape.efi'));
  writeFileSync(join(dir, 'tftp', 'inside.efi'), 'x');
  await start();
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('iPXE scripts and files', () => {
  test('a configured node gets the installer with its token; any MAC spelling in the URL works', async () => {
    const r = await call('/boot/52-54-00-78-00-10.ipxe');
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/rackcast\.token=[0-9a-f]{64} /);
    expect(r.text).toContain(`rackcast.server=${base}`);
    expect((await call('/boot/525400780010.ipxe')).text).toContain('rackcast.mode=install BOOTIF=01-52-54-00-78-00-10');
  });

  test('an unknown MAC (unknownNodes: ignore) gets a script that hands back to the firmware; a bad one a 400', async () => {
    const r = await call('/boot/02-00-00-00-00-99.ipxe');
    expect(r.text).toContain('not booting this machine');
    expect(r.text).toContain('exit 1');
    expect((await call('/boot/not-a-mac.ipxe')).status).toBe(400);
  });

  test('/boot.ipxe chains to the per-MAC script', async () => {
    expect((await call('/boot.ipxe')).text).toContain('chain ' + base + '/boot/${net0/mac:hexhyp}.ipxe');
  });

  test('kernel and initrd stream with their length over one kept-alive connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ len: number; size: number; port: number; conn: string | undefined }>((ok, fail) => {
        const req = httpRequest(base + path, { agent }, (res) => {
          let size = 0;
          res.on('data', (d: Buffer) => (size += d.length));
          res.on('end', () => ok({ len: Number(res.headers['content-length']), size, port: req.socket!.localPort!, conn: res.headers.connection }));
        });
        req.on('error', fail);
        req.end();
      });
    const k = await get('/installer/vmlinuz');
    const i = await get('/installer/initrd.img');
    agent.destroy();
    expect(k).toMatchObject({ len: 3 * 1024 * 1024, size: 3 * 1024 * 1024, conn: 'keep-alive' });
    expect(i.size).toBe(5 * 1024 * 1024 + 3);
    expect(i.port).toBe(k.port);
  });

  test('/firmware serves configured first stages and refuses links out of the root and ..', async () => {
    const efi = await call('/firmware/ipxe.efi');
    expect(efi.status).toBe(200);
    expect(efi.text.length).toBeGreaterThan(100_000);
    expect((await call('/firmware/inside.efi')).status).toBe(200);
    expect((await call('/firmware/escape.efi')).status).toBe(403);
    expect((await call('/firmware/..%2f..%2f..%2fetc%2fpasswd')).status).toBe(403);
    expect((await call('/firmware/nothere.efi')).status).toBe(404);
  });
});

describe('the agent contract', () => {
  test('plan -> step reports -> completion report -> installed; then the node gets the local-boot script and next says reboot', async () => {
    const token = await tokenOf(N1);
    const plan = await call('/api/v1/agent/plan', { token });
    expect(plan.status).toBe(200);
    const p = plan.json as InstallPlan;
    expect(p.node).toEqual({ mac: N1, hostname: 'n001', ip: '10.78.0.11' });
    expect(p.image).toEqual({ name: 'img', format: 'tar.zst' });
    expect(p.session).toMatchObject({ portbase: PORTBASE });
    expect(p.disk.layout.map((x) => x.role)).toEqual(['bios-boot', 'esp', 'root']);
    expect(server.nodes.get(N1)?.phase).toBe('installing');
    expect((await call('/api/v1/agent/inventory', { method: 'POST', token, body: { cpus: 2, memoryBytes: 2 ** 30, disks: [{ name: 'vda', sizeBytes: 1e9 }], nics: [{ name: 'eth0', mac: N1 }] } })).status).toBe(200);
    expect((await call('/api/v1/agent/step', { method: 'POST', token, body: { step: 'receive', status: 'succeeded', bytes: 1000, durationMs: 5 } })).status).toBe(200);
    expect((await call('/api/v1/agent/log', { method: 'POST', token, body: { lines: [{ time: '2026-01-01T00:00:00Z', level: 'info', msg: 'hello from the agent' }] } })).status).toBe(200);
    expect((await call('/api/v1/agent/next', { token })).json).toEqual({ action: 'wait' });
    expect((await call('/api/v1/agent/step', { method: 'POST', token, body: { step: 'bootloader', status: 'succeeded' } })).status).toBe(200);
    // A bootloader is not the end: hooks and finish still run.
    expect(server.nodes.get(N1)?.phase).toBe('installing');
    expect((await call('/api/v1/agent/complete', { method: 'POST', token, body: { durationMs: 'soon' } })).status).toBe(400);
    // No receiver runs here: the session's delivery of the image is what its sender would report.
    server.lifecycle.sessionEnded(N1, server.nodes.get(N1)!.install.session!, 'img', { ok: true, sha256: 'ab'.repeat(32) });
    expect((await call('/api/v1/agent/complete', { method: 'POST', token, body: { durationMs: 4000, image: { bytes: 1000, sha256: 'ab'.repeat(32) } } })).status).toBe(200);
    expect(server.nodes.get(N1)?.phase).toBe('installed');
    expect((await call('/api/v1/agent/next', { token })).json).toEqual({ action: 'reboot' });
    // Its token may only ask that from now on.
    expect((await call('/api/v1/agent/plan', { token })).json.error.message).toContain('install is complete');
    expect((await call('/api/v1/agent/step', { method: 'POST', token, body: { step: 'finish', status: 'succeeded' } })).status).toBe(401);
    expect((await call('/boot/52-54-00-78-00-10.ipxe')).text).toContain('rackcast: local boot (installed, auto)');
    const detail = (await call('/api/v1/nodes/n001')).json as NodeDetail;
    expect(detail.inventory?.cpus).toBe(2);
    expect(detail.events.map((e) => e.message)).toEqual(expect.arrayContaining(['receive succeeded', 'hello from the agent', 'installing -> installed: install complete']));
    expect(detail.events.find((e) => e.kind === 'complete')!.data).toEqual({ kind: 'complete', report: { durationMs: 4000, image: { bytes: 1000, sha256: 'ab'.repeat(32) } } });
  });

  test('a failed step makes the node failed; the agent waits; after reinstall it is told to retry with the same token', async () => {
    const mac = '52:54:00:78:00:11';
    const token = await tokenOf(mac);
    await call('/api/v1/agent/plan', { token });
    const failed = await call('/api/v1/agent/step', { method: 'POST', token, body: { step: 'mkfs', status: 'failed', error: { code: 'AGENT_MKFS_FAILED', message: 'mkfs.ext4 exited 1', exitCode: 1 } } });
    expect(failed.status).toBe(200);
    expect(server.nodes.get(mac)?.phase).toBe('failed');
    expect((await call('/api/v1/agent/next', { token })).json).toEqual({ action: 'wait' });
    expect((await call('/api/v1/nodes/reinstall', { method: 'POST', token: server.adminToken, body: { nodes: 'n002' } })).json).toEqual({ changed: ['n002'], unchanged: [] });
    expect((await call('/api/v1/agent/next', { token })).json).toEqual({ action: 'retry' });
  });

  test('wrong or missing tokens are 401 with a coded JSON error', async () => {
    const r = await call('/api/v1/agent/plan', { token: 'f'.repeat(64) });
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe('BOOT_API_UNAUTHORIZED');
    expect((await call('/api/v1/agent/plan')).status).toBe(401);
    // The admin token is not a node token and vice versa.
    expect((await call('/api/v1/agent/plan', { token: server.adminToken })).status).toBe(401);
    expect((await call('/api/v1/nodes/localboot', { method: 'POST', token: await tokenOf('52:54:00:78:00:12'), body: { nodes: 'n003' } })).status).toBe(401);
  });

  test('the install status shows each node\'s step and the session it waits in', async () => {
    const status = (await call('/api/v1/installs')).json as InstallStatus;
    const n1 = status.nodes.find((n) => n.hostname === 'n001')!;
    expect(n1).toMatchObject({ phase: 'installed', step: 'bootloader', stepStatus: 'succeeded', stepsDone: 2, session: 1, failure: null, totalBytes: 1000 });
    const n2 = status.nodes.find((n) => n.hostname === 'n002')!;
    expect(n2.phase).toBe('install');
    // Both agents asked from 127.0.0.1: one address is one receiver, the later node holds it.
    expect(status.sessions[0]).toMatchObject({ id: 1, image: 'img', state: 'waiting', portbase: PORTBASE, members: 1, joined: 0, minReceivers: 3 });
  });

  test('a node whose image directory is missing gets a 409 that names it; the node says why it waits', async () => {
    const r = await call('/api/v1/agent/plan', { token: await tokenOf('52:54:00:78:00:13') });
    expect(r.status).toBe(409);
    expect(r.json.error).toMatchObject({ code: 'BOOT_IMAGE_MISSING', message: expect.stringContaining(join(dir, 'no-such-image')), remedy: expect.stringContaining('rackcast node reinstall n004') });
    const n4 = ((await call('/api/v1/installs')).json as InstallStatus).nodes.find((n) => n.hostname === 'n004')!;
    expect(n4).toMatchObject({ phase: 'install', note: expect.stringContaining('does not exist') });
  });

  test('a plan for a node that is not to be installed is a 409 conflict', async () => {
    const token = await tokenOf('52:54:00:78:00:12');
    await call('/api/v1/nodes/localboot', { method: 'POST', token: server.adminToken, body: { nodes: 'n003' } });
    const r = await call('/api/v1/agent/plan', { token });
    expect(r.status).toBe(409);
    expect(r.json.error).toMatchObject({ code: 'BOOT_PHASE', remedy: expect.stringContaining('reinstall') });
  });

  test('malformed bodies are a 400, counted by code, and the server keeps serving', async () => {
    const token = await tokenOf('52:54:00:78:00:11');
    const bad = [
      await call('/api/v1/agent/step', { method: 'POST', token, raw: '{not json' }),
      await call('/api/v1/agent/step', { method: 'POST', token, body: { step: 'x', status: 'maybe' } }),
      await call('/api/v1/agent/step', { method: 'POST', token, body: [1, 2] }),
      await call('/api/v1/agent/inventory', { method: 'POST', token, body: { cpus: 'two' } }),
      await call('/api/v1/agent/log', { method: 'POST', token, body: { lines: [{ level: 'loud' }] } }),
      await call('/api/v1/nodes/reinstall', { method: 'POST', token: server.adminToken, raw: 'x'.repeat(2 * 1024 * 1024) }),
    ];
    expect(bad.map((b) => b.status)).toEqual([400, 400, 400, 400, 400, 400]);
    expect(bad.every((b) => b.json.error.code === 'BOOT_DECODE_HTTP_BODY')).toBe(true);
    const status = (await call('/api/v1/status')).json as ServerStatus;
    expect(status.counters['http.dropped.BOOT_DECODE_HTTP_BODY']).toBeGreaterThanOrEqual(6);
    expect((await call('/api/v1/nodes')).status).toBe(200);
  });

  test('numbers from the agent are checked at the edge: negative bytes, fractional counts and NaN-like values are a 400', async () => {
    const token = await tokenOf('52:54:00:78:00:11');
    const bad = [
      { step: 'receive', status: 'running', bytes: -1 },
      { step: 'receive', status: 'running', bytes: 1.5 },
      { step: 'receive', status: 'running', rateBytesPerSec: -3 },
      { step: 'receive', status: 'running', durationMs: 1e400 },
      { step: 'x'.repeat(65), status: 'running' },
      { step: 'mkfs', status: 'failed', error: { code: 'NOT A CODE', message: 'm' } },
    ];
    for (const body of bad) expect((await call('/api/v1/agent/step', { method: 'POST', token, body })).status, JSON.stringify(body)).toBe(400);
    expect((await call('/api/v1/agent/inventory', { method: 'POST', token, body: { cpus: -2, memoryBytes: 1, disks: [], nics: [] } })).status).toBe(400);
  });

  test('a log flood from one node is cut at its budget with 429 and Retry-After; the server keeps serving', async () => {
    const token = await tokenOf('52:54:00:78:00:11');
    const lines = Array.from({ length: 1000 }, (_, i) => ({ time: '2026-01-01T00:00:00Z', level: 'info', msg: `flood ${i}` }));
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await call('/api/v1/agent/log', { method: 'POST', token, body: { lines } })).status);
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.at(-1)).toBe(429);
    const r = await call('/api/v1/agent/log', { method: 'POST', token, body: { lines } });
    expect(r.json.error.code).toBe('BOOT_API_RATE_LIMITED');
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect((await call('/api/v1/nodes')).status).toBe(200);
  });

  test('API paths are decoded once: a node named by an escaped % is a 404 that names it, not a 500', async () => {
    const r = await call('/api/v1/nodes/%25');
    expect(r.status).toBe(404);
    expect(r.json.error).toMatchObject({ code: 'BOOT_NO_NODE', message: 'no such node: %' });
    expect((await call('/api/v1/nodes/%E0%A4%A')).status).toBe(400);
    expect((await call('/api/v1/nodes/n001', { method: 'POST' })).status).toBe(405);
  });

  test('garbage that is not HTTP is dropped and counted', async () => {
    const { connect } = await import('node:net');
    const sock = connect(server.httpPort, '127.0.0.1');
    await new Promise((ok) => sock.once('connect', ok));
    const reply = new Promise<string>((ok) => {
      let s = '';
      sock.on('data', (d) => (s += d));
      sock.on('close', () => ok(s));
    });
    sock.write('\x16\x03\x01\x02\x00garbage\r\n\r\n');
    expect(await reply).toContain('400');
    expect(((await call('/api/v1/status')).json as ServerStatus).counters['http.dropped.BOOT_DECODE_HTTP_PARSE']).toBeGreaterThanOrEqual(1);
  });
});

describe('tokens and reads', () => {
  test('reads need the read or the admin token; the read token changes nothing', async () => {
    for (const path of ['/api/v1/nodes', '/api/v1/nodes/n001', '/api/v1/installs', '/api/v1/status', '/api/v1/leases']) {
      expect((await call(path, { token: '' })).status, path).toBe(401);
      expect((await call(path, { token: 'f'.repeat(64) })).status, path).toBe(401);
      expect((await call(path, { token: server.readToken })).status, path).toBe(200);
      expect((await call(path, { token: server.adminToken })).status, path).toBe(200);
    }
    const r = await call('/api/v1/nodes/localboot', { method: 'POST', token: server.readToken, body: { nodes: 'n004' } });
    expect(r.status).toBe(401);
    expect(r.json.error.message).toContain('needs the admin token');
  });

  test('each script fetch issues a new token and revokes the one before; a call with a revoked one is a conflict the admin sees', async () => {
    const first = await tokenOf('52:54:00:78:00:13');
    expect((await call('/api/v1/agent/next', { token: first })).status).toBe(200);
    // The same node netboots again: its old agent is gone, and so is its token.
    const second = await tokenOf('52:54:00:78:00:13');
    expect(second).not.toBe(first);
    expect((await call('/api/v1/agent/next', { token: second })).status).toBe(200);
    const stale = await call('/api/v1/agent/next', { token: first });
    expect(stale.status).toBe(401);
    expect(stale.json.error.message).toContain('revoked');
    const n4 = ((await call('/api/v1/installs')).json as InstallStatus).nodes.find((n) => n.hostname === 'n004')!;
    expect(n4.conflict).toBe('a revoked token of this node was used from 127.0.0.1');
    const events = ((await call('/api/v1/nodes/n004')).json as NodeDetail).events;
    expect(events.filter((e) => e.kind === 'token').at(-1)!.data).toEqual({ kind: 'token', address: '127.0.0.1', replaced: true });
    expect(events.some((e) => e.kind === 'conflict')).toBe(true);
  });

  test('the database keeps no token: only hashes', async () => {
    const token = await tokenOf('52:54:00:78:00:13');
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(join(cfg.paths.stateDir, 'rackcast.db'), { readOnly: true });
    const rows = db.prepare('SELECT token, prev_token FROM nodes').all() as { token: string | null; prev_token: string | null }[];
    db.close();
    expect(rows.some((r) => r.token === token || r.prev_token === token)).toBe(false);
    expect(rows.some((r) => r.token !== null)).toBe(true);
    const { statSync } = await import('node:fs');
    expect(statSync(join(cfg.paths.stateDir, 'rackcast.db')).mode & 0o777).toBe(0o600);
  });
});

describe('admin API and CLI', () => {
  test('rackcast nodes prints a table of every node with its phase', async () => {
    expect((await cli(['nodes', '--server', base])).stderr).toContain('needs the read or the admin token');
    const r = await cli(['nodes', '--server', base, '--token', server.readToken]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HOSTNAME\s+MAC\s+IP\s+PHASE/);
    expect(r.stdout).toMatch(/n001\s+52:54:00:78:00:10\s+10\.78\.0\.11\s+installed/);
    expect(r.stdout).toContain('4 node(s)');
  });

  test('rackcast node show takes a MAC in any spelling or a host name', async () => {
    const r = await cli(['node', 'show', '52-54-00-78-00-10', '--server', base, '--token', server.readToken]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('phase installed');
    expect(r.stdout).toContain('bootloader succeeded');
  });

  test('rackcast node reinstall with a range needs the admin token, which the CLI finds through the config', async () => {
    const noToken = await cli(['node', 'reinstall', 'n[001-003]', '--server', base]);
    expect(noToken.code).toBe(3);
    expect(noToken.stderr).toContain('admin token');
    writeFileSync(cfg.file, JSON.stringify({ server: { interface: 'lo', address: '127.0.0.1', httpBind: '127.0.0.1', httpPort: server.httpPort }, paths: { stateDir: join(dir, 'state') }, dhcp: { mode: 'off' } }));
    const r = await cli(['node', 'reinstall', 'n[001-003]', '--config', cfg.file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('3 node(s) changed');
    const nodes = (await call('/api/v1/nodes')).json as NodeSummary[];
    expect(nodes.map((n) => n.phase)).toEqual(['install', 'install', 'install', 'install']);
    const missing = await cli(['node', 'localboot', 'n[001-009]', '--config', cfg.file]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('no such node: n005');
  });

  test('a server stop sends nodes waiting in a session back to install, to join the next one: no reinstall needed', async () => {
    await call('/api/v1/nodes/reinstall', { method: 'POST', token: server.adminToken, body: { nodes: 'n002' } });
    const token = await tokenOf('52:54:00:78:00:11');
    expect((await call('/api/v1/agent/plan', { token })).status).toBe(200);
    expect(server.nodes.get('52:54:00:78:00:11')?.phase).toBe('installing');
    const port = server.httpPort;
    await server.stop();
    await start(port);
    const n2 = ((await call('/api/v1/installs')).json as InstallStatus).nodes.find((n) => n.hostname === 'n002')!;
    expect(n2).toMatchObject({ phase: 'install', note: expect.stringContaining('the boot server stopped during session') });
    expect((await call('/api/v1/agent/next', { token })).json).toEqual({ action: 'retry' });
    const plan = await call('/api/v1/agent/plan', { token });
    expect(plan.status).toBe(200);
    // A new session, with an id past the one that was stopped.
    expect(server.nodes.get('52:54:00:78:00:11')!.install.session).toBeGreaterThan(1);
    await call('/api/v1/nodes/reinstall', { method: 'POST', token: server.adminToken, body: { nodes: 'n002' } });
  });

  test('a server restart loses nothing', async () => {
    await call('/api/v1/nodes/localboot', { method: 'POST', token: server.adminToken, body: { nodes: 'n003' } });
    const before = ((await call('/api/v1/nodes')).json as NodeSummary[]).map((n) => [n.hostname, n.phase]);
    const events = ((await call('/api/v1/nodes/n001')).json as NodeDetail).events.length;
    const port = server.httpPort;
    await server.stop();
    await start(port);
    expect(((await call('/api/v1/nodes')).json as NodeSummary[]).map((n) => [n.hostname, n.phase])).toEqual(before);
    expect(((await call('/api/v1/nodes/n001')).json as NodeDetail).events.length).toBe(events);
  });
});
