import { expect, test } from 'vitest';
import type { InstallStatus, NodeDetail } from '../../../bootserver/api-types.ts';
import { NODE_MAC, useBootLab, type BootLab } from '../../helpers/boot-lab.ts';

// A hostile host on the boot network claims a node that is installing: it fetches the
// node's installer script (which any host can: PXE has no node identity), reads what it
// can, and reports the install complete. The node is never recorded installed with bytes
// the server did not send, the claim is a conflict the admin sees, the real agent's
// now-revoked token is refused and noted, and reads need a token.

const NODE = { role: 'node', cidr: '10.78.0.11/24' };
const ROGUE = { role: 'rogue', cidr: '10.78.0.66/24' };
const BASE = 'http://10.78.0.1:8080';
const lab = useBootLab({ hosts: [NODE, ROGUE] });

/** curl from a lab host: status and body. */
async function curl(bl: BootLab, role: string, path: string, opts: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: string }> {
  const args = ['curl', '-s', '-o', '-', '-w', '\n%{http_code}'];
  if (opts.token) args.push('-H', `Authorization: Bearer ${opts.token}`);
  if (opts.body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(opts.body));
  const r = await bl.lab.exec(role, [...args, BASE + path]);
  const cut = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

async function tokenFrom(bl: BootLab, role: string): Promise<string> {
  const script = await curl(bl, role, `/boot/${NODE_MAC.replace(/:/g, '-')}.ipxe`);
  return /rackcast\.token=([0-9a-f]{64})/.exec(script.body)![1]!;
}

test('a stolen token installs nothing, shows as a conflict, and the real agent\'s revoked token is refused and noted', async () => {
  const bl = lab();
  // The real node boots and its agent starts: plan, a step under way.
  const real = await tokenFrom(bl, 'node');
  expect((await curl(bl, 'node', '/api/v1/agent/plan', { token: real })).status).toBe(200);
  expect((await curl(bl, 'node', '/api/v1/agent/step', { token: real, body: { step: 'wipe', status: 'running' } })).status).toBe(200);

  // The rogue: no reads without a token, then it claims the node.
  for (const path of ['/api/v1/nodes', '/api/v1/installs', `/api/v1/nodes/${NODE_MAC}`, '/api/v1/leases']) expect((await curl(bl, 'rogue', path)).status, path).toBe(401);
  const stolen = await tokenFrom(bl, 'rogue');
  expect(stolen).not.toBe(real);
  const claim = await curl(bl, 'rogue', '/api/v1/agent/complete', { token: stolen, body: { durationMs: 1, image: { bytes: 1, sha256: 'e'.repeat(64) } } });
  expect(claim.status).toBe(409);
  expect(JSON.parse(claim.body).error.code).toBe('BOOT_DIGEST_MISMATCH');

  // The real agent goes on with its token: refused, and noted.
  const refused = await curl(bl, 'node', '/api/v1/agent/step', { token: real, body: { step: 'wipe', status: 'succeeded' } });
  expect(refused.status).toBe(401);
  expect(JSON.parse(refused.body).error.message).toContain('revoked');

  const status = JSON.parse((await bl.http('/api/v1/installs')).body) as InstallStatus;
  const n = status.nodes.find((x) => x.mac === NODE_MAC)!;
  expect(n.phase).not.toBe('installed');
  expect(n).toMatchObject({ phase: 'failed', failure: { code: 'BOOT_DIGEST_MISMATCH' } });
  expect(n.conflict).toContain('10.78.0.11');
  const detail = JSON.parse((await bl.http(`/api/v1/nodes/${NODE_MAC}`)).body) as NodeDetail;
  const tokenEvents = detail.events.filter((e) => e.kind === 'token' || e.kind === 'conflict').map((e) => e.message);
  expect(tokenEvents.some((m) => m.includes('10.78.0.66') && m.includes('CONFLICT'))).toBe(true);
  expect(tokenEvents.some((m) => m.includes('revoked token of this node was used from 10.78.0.11'))).toBe(true);
  const view = await bl.cli(['status']);
  expect(view.stdout).toMatch(/CONFLICT: .*10\.78\.0\.66/);
  // The server answers on.
  expect((await curl(bl, 'rogue', '/boot.ipxe')).status).toBe(200);
});

test('a log flood with a node token is cut at the node\'s budget and does not grow the database past its retention', async () => {
  const bl = lab();
  expect((await bl.cli(['node', 'reinstall', 'n001'])).code).toBe(0);
  const token = await tokenFrom(bl, 'rogue');
  // 20,000 lines in 200 posts, as fast as the rogue can send them.
  const flood = `
    const lines = Array.from({ length: 100 }, (_, i) => ({ time: '2026-01-01T00:00:00Z', level: 'info', msg: 'x'.repeat(200) + i }));
    const codes = {};
    for (let i = 0; i < 200; i++) {
      const r = await fetch('${BASE}/api/v1/agent/log', { method: 'POST', headers: { authorization: 'Bearer ${token}', 'content-type': 'application/json' }, body: JSON.stringify({ lines }) });
      codes[r.status] = (codes[r.status] ?? 0) + 1;
      await r.text();
    }
    console.log(JSON.stringify(codes));`;
  const r = await bl.lab.exec('rogue', [process.execPath, '--input-type=module', '-e', flood], { timeoutMs: 120_000 });
  const codes = JSON.parse(r.stdout) as Record<string, number>;
  expect(codes['429']).toBeGreaterThan(100);
  expect(codes['200']).toBeGreaterThan(0);
  expect((await bl.http(`/api/v1/nodes/${NODE_MAC}`)).status).toBe(200);
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(`${bl.config.paths.stateDir}/rackcast.db`, { readOnly: true });
  const rows = (db.prepare('SELECT COUNT(*) AS n FROM events WHERE mac = ?').get(NODE_MAC) as { n: number }).n;
  db.close();
  // The retention (1,000 by default) plus at most one trim interval.
  expect(rows).toBeLessThanOrEqual(1100);
  expect((await curl(bl, 'rogue', '/boot.ipxe')).status).toBe(200);
});
