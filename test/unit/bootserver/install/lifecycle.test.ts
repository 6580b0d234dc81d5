import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { parseConfig } from '../../../../bootserver/config.ts';
import { renderScript } from '../../../../bootserver/http/ipxe.ts';
import { Lifecycle } from '../../../../bootserver/install/lifecycle.ts';
import { StatePolicy } from '../../../../bootserver/policy.ts';
import { openStateDb } from '../../../../bootserver/state/db.ts';
import { describeEvent } from '../../../../bootserver/state/events.ts';
import { NodeStore } from '../../../../bootserver/state/node-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function cfg(extra: Record<string, unknown> = {}) {
  return parseConfig('t.yaml', {
    server: { interface: 'eth0', address: '10.78.0.1' },
    dhcp: { mode: 'off', unknownNodes: 'discover' },
    installer: { kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0' },
    images: { img: { dir: '/x' } },
    groups: { uefi: { localBoot: 'exit' } },
    nodes: [
      { mac: '52:54:00:78:00:10', hostname: 'n001', image: 'img' },
      { mac: '52:54:00:78:00:11', hostname: 'n002', groups: ['uefi'] },
    ],
    ...extra,
  });
}

function lifecycle(dir = tempDir()): { life: Lifecycle; nodes: NodeStore; dir: string } {
  const nodes = new NodeStore(openStateDb(dir));
  return { life: new Lifecycle(nodes), nodes, dir };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rcstate-'));
  dirs.push(dir);
  return dir;
}

const N1 = '52:54:00:78:00:10';
const N2 = '52:54:00:78:00:11';
const ok = (step: string) => ({ step, status: 'succeeded' as const });
const SHA = 'a'.repeat(64);
/** The node's session sent it the whole image, and its agent reports that image complete. */
function deliverAndComplete(life: Lifecycle, nodes: NodeStore, mac: string): void {
  const session = nodes.get(mac)!.install.session!;
  life.sessionEnded(mac, session, 'img', { ok: true, sha256: SHA });
  life.installCompleted(nodes.get(mac)!, { durationMs: 5, image: { bytes: 10, sha256: SHA } });
}

test('configured nodes start in install, without a token until their script is fetched; the lifecycle refuses what it does not allow', () => {
  const { life, nodes } = lifecycle();
  life.configure(cfg().nodes);
  const n = nodes.get(N1)!;
  expect(n).toMatchObject({ phase: 'install', hostname: 'n001', configured: true, tokenHash: null });
  const token = life.issueToken(n, '10.78.0.11');
  expect(token).toMatch(/^[0-9a-f]{64}$/);
  expect(nodes.get(N1)!.tokenHash).not.toBe(token);
  expect(nodes.byToken(token)?.mac).toBe(N1);
  life.planFetched(nodes.get(N1)!, 1, null);
  deliverAndComplete(life, nodes, N1);
  expect(nodes.get(N1)!.phase).toBe('installed');
  expect(() => life.planFetched(nodes.get(N1)!, 2, null)).toThrow(expect.objectContaining({ code: 'BOOT_PHASE', details: { node: 'n001', from: 'installed', to: 'installing' } }));
  expect(() => life.installCompleted(nodes.get(N2)!, { durationMs: 5 })).toThrow(expect.objectContaining({ code: 'BOOT_PHASE' }));
});

test('a node is installed by the completion report, not by a bootloader step: hooks and finish run inside the install', () => {
  const { life, nodes } = lifecycle();
  life.configure(cfg().nodes);
  life.planFetched(nodes.get(N1)!, 1, null);
  for (const step of ['receive', 'bootloader', 'hooks', 'finish']) life.stepReported(nodes.get(N1)!, ok(step));
  expect(nodes.get(N1)!.phase).toBe('installing');
  expect(nodes.get(N1)!.install).toMatchObject({ step: 'finish', stepStatus: 'succeeded', stepsDone: ['receive', 'bootloader', 'hooks', 'finish'], session: 1 });
  deliverAndComplete(life, nodes, N1);
  expect(nodes.get(N1)!.phase).toBe('installed');
  // A repeated report (its answer was lost) changes nothing.
  life.installCompleted(nodes.get(N1)!, { durationMs: 1234 });
  expect(nodes.events(N1).filter((e) => e.data.kind === 'complete')).toHaveLength(1);
});

test('a completion report without the delivered image, or with another one, fails the install instead', () => {
  const { life, nodes } = lifecycle();
  life.configure(cfg().nodes);
  life.planFetched(nodes.get(N1)!, 1, null);
  expect(() => life.installCompleted(nodes.get(N1)!, { durationMs: 5 })).toThrow(expect.objectContaining({ code: 'BOOT_DIGEST_MISMATCH' }));
  expect(nodes.get(N1)).toMatchObject({ phase: 'failed', install: { failure: { code: 'BOOT_DIGEST_MISMATCH', message: 'reported complete, but no image of this install was delivered to it' } } });
  life.reinstall(nodes.get(N1)!);
  life.planFetched(nodes.get(N1)!, 2, null);
  life.sessionEnded(N1, 2, 'img', { ok: true, sha256: SHA });
  expect(() => life.installCompleted(nodes.get(N1)!, { durationMs: 5, image: { bytes: 10, sha256: 'b'.repeat(64) } })).toThrow(expect.objectContaining({ code: 'BOOT_DIGEST_MISMATCH' }));
  expect(nodes.get(N1)!.install.failure!.message).toBe(`reported an image with sha256 ${'b'.repeat(64)}, but the server sent ${SHA}`);
});

test('a failed step fails the install with the agent\'s error; a report outside an install is kept, not acted on', () => {
  const { life, nodes } = lifecycle();
  life.configure(cfg().nodes);
  life.planFetched(nodes.get(N2)!, 3, null);
  life.stepReported(nodes.get(N2)!, { step: 'mkfs', status: 'failed', error: { code: 'AGENT_MKFS_FAILED', message: 'mkfs.ext4 exited 1', exitCode: 1 } });
  expect(nodes.get(N2)).toMatchObject({ phase: 'failed', install: { failure: { step: 'mkfs', code: 'AGENT_MKFS_FAILED', exitCode: 1 } } });
  expect(life.stepReported(nodes.get(N2)!, ok('finish'))).toBe(false);
  expect(nodes.get(N2)!.phase).toBe('failed');
});

test('session outcomes: a late node goes back to install with a note, a dropped one fails; another session\'s end changes nothing', () => {
  const { life, nodes } = lifecycle();
  life.configure(cfg().nodes);
  life.planFetched(nodes.get(N1)!, 4, null);
  life.sessionEnded(N1, 3, 'img', { ok: false, reason: 'old session' });
  expect(nodes.get(N1)!.phase).toBe('installing');
  life.sessionEnded(N1, 4, 'img', { ok: false, retry: true, reason: 'session 4 started before this node joined' });
  expect(nodes.get(N1)).toMatchObject({ phase: 'install', install: { note: 'session 4 started before this node joined; it joins the next session' } });
  life.planFetched(nodes.get(N1)!, 5, null);
  life.sessionEnded(N1, 5, 'img', { ok: false, reason: 'dropped from session 5 after 1000 bytes' });
  expect(nodes.get(N1)).toMatchObject({ phase: 'failed', install: { failure: { step: null, code: null, message: 'dropped from session 5 after 1000 bytes' } } });
});

test('a failed node keeps its token for its waiting agent across a reinstall; a completed install\'s token may only ask next, and a reinstall drops it', () => {
  const { life, nodes } = lifecycle();
  life.configure(cfg().nodes);
  const token = life.issueToken(nodes.get(N1)!, '10.78.0.11');
  life.planFetched(nodes.get(N1)!, 1, null);
  life.stepReported(nodes.get(N1)!, { step: 'partition', status: 'failed' });
  life.reinstall(nodes.get(N1)!);
  expect(nodes.byToken(token)?.mac).toBe(N1);
  life.planFetched(nodes.get(N1)!, 2, null);
  deliverAndComplete(life, nodes, N1);
  expect(nodes.byToken(token)).toMatchObject({ mac: N1, tokenScope: 'done' });
  life.reinstall(nodes.get(N1)!);
  expect(nodes.byToken(token)).toBeNull();
  expect(nodes.byRevokedToken(token)?.mac).toBe(N1);
});

test('a script fetched again while the node\'s agent still calls is a conflict; a revoked token in use is one too, said once a minute', () => {
  let now = 1_000_000;
  const nodes = new NodeStore(openStateDb(tempDir()), () => now);
  const life = new Lifecycle(nodes, () => now);
  life.configure(cfg().nodes);
  const first = life.issueToken(nodes.get(N1)!, '10.78.0.11');
  life.planFetched(nodes.get(N1)!, 1, null);
  life.agentCalled(nodes.get(N1)!, '10.78.0.11');
  now += 10_000;
  life.issueToken(nodes.get(N1)!, '10.78.0.66');
  expect(nodes.get(N1)!.install.conflict).toBe('its installer was fetched again from 10.78.0.66 while its agent at 10.78.0.11 was running');
  expect(nodes.byToken(first)).toBeNull();
  life.revokedTokenUsed(nodes.byRevokedToken(first)!, '10.78.0.11');
  life.revokedTokenUsed(nodes.byRevokedToken(first)!, '10.78.0.11');
  expect(nodes.events(N1).filter((e) => e.data.kind === 'conflict')).toHaveLength(1);
  // A node that rebooted: its agent went quiet long before the new fetch. No conflict.
  life.configure(cfg().nodes);
  life.issueToken(nodes.get(N2)!, '10.78.0.12');
  life.planFetched(nodes.get(N2)!, 1, null);
  life.agentCalled(nodes.get(N2)!, '10.78.0.12');
  now += 120_000;
  life.issueToken(nodes.get(N2)!, '10.78.0.12');
  expect(nodes.get(N2)!.install).toMatchObject({ conflict: null, netboots: 1 });
  // Its new agent fetches the plan again: a new attempt of the same install, the netboot still counted.
  life.planFetched(nodes.get(N2)!, 2, null);
  expect(nodes.get(N2)!.install).toMatchObject({ session: 2, netboots: 1 });
});

test('phase changes are typed events; a restart loses nothing: phases, tokens, install records, events, discovered machines', () => {
  const { life, nodes, dir } = lifecycle();
  life.configure(cfg().nodes);
  life.planFetched(nodes.get(N1)!, 7, 'waits for session 7');
  life.discover('02:00:00:00:00:01', 7);
  life.stepReported(nodes.get(N1)!, ok('partition'));
  const again = lifecycle(dir);
  again.life.configure(cfg().nodes);
  expect(again.nodes.get(N1)).toMatchObject({ phase: 'installing', install: { session: 7, stepsDone: ['partition'], note: 'waits for session 7' } });
  expect(again.nodes.get('02:00:00:00:00:01')).toMatchObject({ phase: 'discovered', arch: 7, configured: false });
  const events = again.nodes.events(N1).map((e) => e.data);
  expect(events).toEqual([
    { kind: 'phase', from: null, to: 'install', reason: 'in the config' },
    { kind: 'phase', from: 'install', to: 'installing', reason: 'agent fetched the plan' },
    { kind: 'step', report: ok('partition') },
  ]);
  expect(events.map(describeEvent)).toEqual(['new -> install: in the config', 'install -> installing: agent fetched the plan', 'partition succeeded']);
});

test('a discovered machine that is added to the config becomes install; one removed from the config stays, unconfigured', () => {
  const { life, nodes } = lifecycle();
  life.discover('02:00:00:00:00:01', 0);
  const c = cfg({ nodes: [{ mac: '02:00:00:00:00:01', hostname: 'n099' }] });
  life.configure(c.nodes);
  expect(nodes.get('02:00:00:00:00:01')).toMatchObject({ phase: 'install', hostname: 'n099', configured: true });
  life.configure([]);
  expect(nodes.get('02:00:00:00:00:01')).toMatchObject({ phase: 'install', configured: false });
});

test('the policy turns phases into boot decisions', () => {
  const { life, nodes } = lifecycle();
  const c = cfg();
  life.configure(c.nodes);
  const policy = new StatePolicy(life, c);
  expect(policy.decide({ mac: N1, arch: 0 })).toMatchObject({ action: 'install', mode: 'install', hostname: 'n001' });
  life.localboot(nodes.get(N1)!);
  expect(policy.decide({ mac: N1, arch: 0 })).toEqual({ action: 'localboot', method: 'auto', reason: 'localboot' });
  life.planFetched(nodes.get(N2)!, 1, null);
  deliverAndComplete(life, nodes, N2);
  expect(policy.decide({ mac: N2, arch: 7 })).toEqual({ action: 'localboot', method: 'exit', reason: 'installed' });
  life.reinstall(nodes.get(N2)!);
  life.planFetched(nodes.get(N2)!, 2, null);
  life.stepReported(nodes.get(N2)!, { step: 'mkfs', status: 'failed' });
  expect(policy.decide({ mac: N2, arch: 7 }).action).toBe('none');
  // unknownNodes: discover -> inventory mode for a stranger
  expect(policy.decide({ mac: '02:00:00:00:00:05', arch: 0 })).toMatchObject({ action: 'install', mode: 'inventory' });
  expect(nodes.get('02:00:00:00:00:05')?.phase).toBe('discovered');
});

test('a database of schema 0 (events as prose) opens: nodes keep phase and token, old events are set aside', async () => {
  const dir = tempDir();
  const { DatabaseSync } = await import('node:sqlite');
  const old = new DatabaseSync(join(dir, 'rackcast.db'));
  old.exec(`CREATE TABLE nodes (mac TEXT PRIMARY KEY, hostname TEXT, phase TEXT NOT NULL, configured INTEGER NOT NULL DEFAULT 0, token TEXT UNIQUE, arch INTEGER, ip TEXT, inventory TEXT, last_seen INTEGER, updated INTEGER NOT NULL);
    CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, mac TEXT NOT NULL, time INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL, data TEXT);
    CREATE INDEX events_by_mac ON events (mac, id);
    INSERT INTO nodes VALUES ('${N1}', 'n001', 'installed', 1, '${'c'.repeat(64)}', 0, NULL, NULL, NULL, 1);
    INSERT INTO events (mac, time, kind, message) VALUES ('${N1}', 1, 'phase', 'installing -> installed: bootloader installed');`);
  old.close();
  const { life, nodes } = lifecycle(dir);
  life.configure(cfg().nodes);
  expect(nodes.get(N1)).toMatchObject({ phase: 'installed', install: { step: null } });
  // The token it had is kept as its hash: its agent keeps working across the upgrade.
  expect(nodes.byToken('c'.repeat(64))?.mac).toBe(N1);
  expect(nodes.events(N1)).toEqual([]);
  life.reinstall(nodes.get(N1)!);
  expect(nodes.events(N1).map((e) => e.data.kind)).toEqual(['admin', 'phase']);
});

test('install scripts carry the kernel, initrd and rackcast.* parameters; local boot follows the method', () => {
  const c = cfg();
  const install = renderScript('52:54:00:78:00:10', { action: 'install', mode: 'install', token: 'ab'.repeat(32), hostname: 'n001' }, c);
  expect(install).toContain('kernel http://10.78.0.1:8080/installer/vmlinuz initrd=initrd.img console=ttyS0 rackcast.server=http://10.78.0.1:8080 ');
  expect(install).toContain(`rackcast.token=${'ab'.repeat(32)} rackcast.mode=install BOOTIF=01-52-54-00-78-00-10`);
  expect(install).toContain('initrd --name initrd.img http://10.78.0.1:8080/installer/initrd.img');
  expect(install.startsWith('#!ipxe\n')).toBe(true);
  const sanboot = renderScript('52:54:00:78:00:10', { action: 'localboot', method: 'sanboot', reason: 'installed' }, c);
  expect(sanboot).toContain('sanboot --no-describe --drive 0x80');
  expect(sanboot).not.toContain('platform');
  const exit = renderScript('52:54:00:78:00:10', { action: 'localboot', method: 'exit', reason: 'installed' }, c);
  expect(exit).not.toContain('sanboot');
  expect(exit).toContain('exit 1');
  const auto = renderScript('52:54:00:78:00:10', { action: 'localboot', method: 'auto', reason: 'installed' }, c);
  expect(auto).toContain('iseq ${platform} efi && goto exit');
  expect(auto).toContain('sanboot');
});
