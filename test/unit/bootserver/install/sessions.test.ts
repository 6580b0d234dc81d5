import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { CastReceiver } from '../../../../cast/index.ts';
import { silentLogger } from '../../../../common/log.ts';
import { parseConfig, type BootConfig } from '../../../../bootserver/config.ts';
import { Lifecycle } from '../../../../bootserver/install/lifecycle.ts';
import { SessionManager } from '../../../../bootserver/install/sessions.ts';
import { openStateDb } from '../../../../bootserver/state/db.ts';
import { describeEvent } from '../../../../bootserver/state/events.ts';
import { NodeStore } from '../../../../bootserver/state/node-store.ts';
import { SessionStore } from '../../../../bootserver/state/session-store.ts';

// Session assignment with real senders on loopback: one receiver is served point-to-point,
// which loopback carries. Two images wait side by side on their own ports; a node that
// asks while its image streams is given the next session and told why.

const PORTBASE = 20000 + 2 * Math.floor(Math.random() * 10000);
const A = '52:54:00:78:00:10';
const B = '52:54:00:78:00:11';
const C = '52:54:00:78:00:12';
let dir: string;
let cfg: BootConfig;
let nodes: NodeStore;
let life: Lifecycle;
let sessions: SessionManager;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcsess-'));
  for (const img of ['big', 'small']) mkdirSync(join(dir, img));
  // Incompressible, so the stream lasts long enough to ask during it.
  writeFileSync(join(dir, 'big', 'blob'), randomBytes(48 * 1024 * 1024));
  writeFileSync(join(dir, 'small', 'hello'), 'hello\n');
  cfg = parseConfig(join(dir, 'r.yaml'), {
    server: { interface: 'lo', address: '127.0.0.1' },
    paths: { stateDir: join(dir, 'state') },
    dhcp: { mode: 'off' },
    images: { big: { dir: join(dir, 'big'), minReceivers: 1 }, small: { dir: join(dir, 'small') } },
    cast: { portbase: PORTBASE, startTimeoutSec: 60 },
    nodes: [
      { mac: A, hostname: 'n001', image: 'big' },
      { mac: B, hostname: 'n002', image: 'big' },
      { mac: C, hostname: 'n003', image: 'small' },
    ],
  });
  const db = openStateDb(cfg.paths.stateDir);
  nodes = new NodeStore(db);
  life = new Lifecycle(nodes);
  life.configure(cfg.nodes);
  sessions = new SessionManager({ cfg, lifecycle: life, sessions: new SessionStore(db), log: silentLogger });
});

afterAll(async () => {
  await sessions?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('two images wait side by side; a node asking while its image streams waits for the next session and is told so', async () => {
  const a = sessions.assign(cfg.nodes[0]!, nodes.get(A)!, '127.0.0.1');
  const c = sessions.assign(cfg.nodes[2]!, nodes.get(C)!, '127.0.0.2');
  expect(a.session).toMatchObject({ id: 1, image: 'big', state: 'waiting', portbase: PORTBASE, minReceivers: 1 });
  // minReceivers defaults to the nodes marked for that image.
  expect(c.session).toMatchObject({ id: 2, image: 'small', portbase: PORTBASE + 2, minReceivers: 1 });
  expect(await a.tarBytes).toBeGreaterThan(48 * 1024 * 1024);

  life.planFetched(nodes.get(A)!, a.session.id, a.note);
  const out = new PassThrough();
  let got = 0;
  out.on('data', (d: Buffer) => (got += d.length));
  const receiving = new CastReceiver({ interface: 'lo', portbase: PORTBASE, startTimeoutMs: 20_000, receiveTimeoutMs: 20_000 }).receive(out);
  const deadline = Date.now() + 20_000;
  while (sessions.list().find((s) => s.id === 1)!.state !== 'streaming' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(sessions.list().find((s) => s.id === 1)!.state).toBe('streaming');

  const b = sessions.assign(cfg.nodes[1]!, nodes.get(B)!, '127.0.0.3');
  expect(b.session).toMatchObject({ id: 3, image: 'big', state: 'waiting', portbase: PORTBASE + 4 });
  expect(b.note).toBe('session 1 of big was already streaming; this node waits for session 3');
  expect(nodes.events(B).at(-1)!.data).toEqual({ kind: 'session', session: 3, image: 'big', what: 'waits', note: b.note });

  const result = await receiving;
  expect(result.stats.bytes).toBe(got);
  const until = Date.now() + 10_000;
  while (sessions.list().find((s) => s.id === 1)!.state === 'streaming' && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const done = sessions.list().find((s) => s.id === 1)!;
  expect(done).toMatchObject({ state: 'done', joined: 1, bytes: got, estimatedBytes: got });
  expect(nodes.events(A).map((e) => e.data)).toEqual(expect.arrayContaining([
    { kind: 'session', session: 1, image: 'big', what: 'joined', note: 'joined session 1 from 127.0.0.1' },
    { kind: 'session', session: 1, image: 'big', what: 'received' },
  ]));
  expect(describeEvent({ kind: 'session', session: 1, image: 'big', what: 'received' })).toBe('received session 1 of big');
});
