import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { Lifecycle } from '../../../../bootserver/install/lifecycle.ts';
import { openStateDb } from '../../../../bootserver/state/db.ts';
import { NodeStore } from '../../../../bootserver/state/node-store.ts';

// Bounded state: a node's events are trimmed to its retention, but for the steps, sessions
// and phases of the install it runs now; discovered machines are forgotten after a while.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function rig(eventsPerNode: number) {
  const dir = mkdtempSync(join(tmpdir(), 'rcstore-'));
  dirs.push(dir);
  const clock = { now: 1_000_000 };
  const nodes = new NodeStore(openStateDb(dir), () => clock.now, { eventsPerNode });
  const life = new Lifecycle(nodes, () => clock.now);
  return { nodes, life, clock };
}

const MAC = '52:54:00:78:00:10';
const node = { mac: MAC, hostname: 'n001', groups: [], session: {}, disk: { wipe: false, layout: [] }, bootloader: 'grub' as const, localBoot: 'auto' as const, network: 'dhcp' as const, staging: 'tmpfs' as const, hooks: [] };

test('a log flood is trimmed to the retention; the current install keeps its steps and phases', () => {
  const { nodes, life, clock } = rig(50);
  life.configure([node]);
  for (let i = 0; i < 300; i++) nodes.event(MAC, { kind: 'log', level: 'info', msg: `before ${i}`, agentTime: '' });
  clock.now += 1000;
  life.planFetched(nodes.get(MAC)!, 1, null);
  for (let i = 0; i < 120; i++) {
    clock.now += 10;
    life.stepReported(nodes.get(MAC)!, { step: 'receive', status: 'running', bytes: i });
    for (let j = 0; j < 20; j++) nodes.event(MAC, { kind: 'log', level: 'info', msg: `during ${i}.${j}`, agentTime: '' });
  }
  nodes.trim(MAC);
  const kinds = nodes.events(MAC, 100_000).map((e) => e.data.kind);
  expect(kinds.filter((k) => k === 'step')).toHaveLength(120);
  expect(kinds.filter((k) => k === 'log').length).toBeLessThanOrEqual(50);
  expect(kinds).toContain('phase');
  expect(nodes.events(MAC, 100_000).some((e) => e.data.kind === 'log' && e.data.msg.startsWith('before'))).toBe(false);
  // Once the install is over, its steps count toward the retention like anything else.
  life.reinstall(nodes.get(MAC)!);
  nodes.trim(MAC);
  expect(nodes.events(MAC, 100_000).length).toBeLessThanOrEqual(50);
});

test('discovered machines not seen for the TTL are forgotten with their events; configured and recent ones stay', () => {
  const { nodes, life, clock } = rig(1000);
  life.configure([node]);
  life.discover('02:00:00:00:00:01', 0);
  clock.now += 3600_000;
  life.discover('02:00:00:00:00:02', 0);
  nodes.seen(MAC, {});
  clock.now += 1800_000;
  expect(life.expireDiscovered(3600_000)).toBe(1);
  expect(nodes.get('02:00:00:00:00:01')).toBeNull();
  expect(nodes.events('02:00:00:00:00:01')).toEqual([]);
  expect(nodes.get('02:00:00:00:00:02')?.phase).toBe('discovered');
  expect(nodes.get(MAC)?.phase).toBe('install');
});

test('session ids continue across restarts; sessions a dead server left open are handed over once, marked interrupted', async () => {
  const { SessionStore } = await import('../../../../bootserver/state/session-store.ts');
  const dir = mkdtempSync(join(tmpdir(), 'rcsess-'));
  dirs.push(dir);
  const first = new SessionStore(openStateDb(dir));
  first.add({ id: first.nextId(), image: 'img', portbase: 9000 });
  first.add({ id: first.nextId(), image: 'img', portbase: 9002 });
  first.streaming(2);
  first.add({ id: first.nextId(), image: 'other', portbase: 9004 });
  first.ended(3, 'done');
  // kill -9: nothing more is written. The next run:
  const again = new SessionStore(openStateDb(dir));
  expect(again.nextId()).toBe(4);
  expect(again.takeOrphans()).toEqual([
    { id: 1, image: 'img', portbase: 9000, state: 'waiting' },
    { id: 2, image: 'img', portbase: 9002, state: 'streaming' },
  ]);
  expect(again.takeOrphans()).toEqual([]);
});

test('after a restart, nodes whose image had not arrived go back to install with a note; those past receive go on', () => {
  const { nodes, life } = rig(1000);
  const other = { ...node, mac: '52:54:00:78:00:11', hostname: 'n002' };
  life.configure([node, other]);
  life.planFetched(nodes.get(MAC)!, 5, null);
  life.planFetched(nodes.get(other.mac)!, 5, null);
  life.stepReported(nodes.get(other.mac)!, { step: 'receive', status: 'succeeded', bytes: 10 });
  life.sessionEnded(other.mac, 5, 'img', { ok: true, sha256: 'c'.repeat(64) });
  expect(life.recover()).toBe(1);
  expect(nodes.get(MAC)).toMatchObject({ phase: 'install', install: { note: 'the boot server restarted before its image arrived; it joins the next session' } });
  expect(nodes.get(other.mac)?.phase).toBe('installing');
  life.installCompleted(nodes.get(other.mac)!, { durationMs: 1, image: { bytes: 10, sha256: 'c'.repeat(64) } });
  expect(nodes.get(other.mac)?.phase).toBe('installed');
});
