import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, test } from 'vitest';
import { BatchReader, BatchWriter, ipToInt, mmsgAddon, mmsgSelfCheck, type Peer, type ReaderStats } from '../../../udp/index.ts';

// udp/native/mmsg.c through its TypeScript side, on real loopback sockets. `make test-unit`
// builds the addon first; without it these fail on purpose, since cast and TFTP would
// silently run their slower dgram path.

const sockets: dgram.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

async function bound(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  sockets.push(s);
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

async function connectedPair(): Promise<{ tx: dgram.Socket; rx: dgram.Socket }> {
  const rx = await bound();
  const tx = await bound();
  tx.connect(rx.address().port, '127.0.0.1');
  await once(tx, 'connect');
  return { tx, rx };
}

function packet(i: number): Buffer {
  // Sizes from 1 to 1,500 bytes, content tied to the index.
  return Buffer.alloc(1 + ((i * 37) % 1500), i % 251);
}

const noOverflow = { pending: () => 0, send: () => expect.fail('nothing should overflow'), error: (e: Error) => expect.fail(e.message) };

test('the addon is built and round-trips over loopback', async () => {
  expect(mmsgAddon(), 'build/native/mmsg.node is missing: run `make native`').not.toBeNull();
  expect(await mmsgSelfCheck()).toEqual({ ok: true, detail: 'sendmmsg/recvmmsg round trip over loopback' });
});

test('a writer sends 300 packets of mixed sizes in one flush, in order and whole', async () => {
  const { tx, rx } = await connectedPair();
  rx.setRecvBufferSize(4 << 20);
  const got: Buffer[] = [];
  rx.on('message', (m) => got.push(m));
  const w = BatchWriter.open(tx, 0, noOverflow)!;
  for (let i = 0; i < 300; i++) w.push(packet(i));
  w.flush();
  for (let t = 0; t < 100 && got.length < 300; t++) await new Promise((r) => setTimeout(r, 20));
  expect(got.length).toBe(300);
  got.forEach((m, i) => expect(m.equals(packet(i)), `packet ${i}`).toBe(true));
});

test('runs of equal packets (sent as UDP GSO messages) arrive as the same separate datagrams', async () => {
  const { tx, rx } = await connectedPair();
  rx.setRecvBufferSize(4 << 20);
  const got: Buffer[] = [];
  rx.on('message', (m) => got.push(m));
  // Two long runs of 1,468-byte packets, each ended by a shorter one, then a longer one.
  const sent = [...Array(100).fill(1468), 700, ...Array(70).fill(1468), 12, 1500].map((len: number, i) => Buffer.alloc(len, i));
  const w = BatchWriter.open(tx, 0, noOverflow)!;
  for (const p of sent) w.push(p);
  w.flush();
  for (let t = 0; t < 100 && got.length < sent.length; t++) await new Promise((r) => setTimeout(r, 20));
  expect(got.map((m) => m.length)).toEqual(sent.map((p) => p.length));
  got.forEach((m, i) => expect(m.equals(sent[i]!), `packet ${i}`).toBe(true));
});

test('a run of datagrams laid back to back in one buffer arrives as the same separate datagrams, after what was pushed before', async () => {
  const { tx, rx } = await connectedPair();
  rx.setRecvBufferSize(4 << 20);
  const got: Buffer[] = [];
  rx.on('message', (m) => got.push(m));
  // 100 datagrams of a 1,472-byte stride, the last 300 bytes (a slice's short final block).
  const stride = 1472;
  const buf = Buffer.alloc(100 * stride);
  for (let i = 0; i < 100; i++) buf.fill(i, i * stride, (i + 1) * stride);
  const w = BatchWriter.open(tx, 0, noOverflow)!;
  w.push(Buffer.from('before'));
  w.sendRun(buf, 0, 100, stride, 300);
  for (let t = 0; t < 100 && got.length < 101; t++) await new Promise((r) => setTimeout(r, 20));
  expect(got.length).toBe(101);
  expect(got[0]!.toString()).toBe('before');
  got.slice(1).forEach((m, i) => expect(m.equals(buf.subarray(i * stride, i * stride + (i === 99 ? 300 : stride))), `datagram ${i}`).toBe(true));
});

test('a run that does not fit its buffer is refused, not sent', async () => {
  const { tx } = await connectedPair();
  const w = BatchWriter.open(tx, 0, noOverflow)!;
  expect(() => w.sendRun(Buffer.alloc(1000), 0, 2, 600, 500)).toThrow(/does not fit/);
});

test('a packet with its own address goes there, on the same port, and ends a GSO run', async () => {
  const { tx, rx } = await connectedPair();
  const other = dgram.createSocket('udp4');
  sockets.push(other);
  other.bind(rx.address().port, '127.0.0.2');
  await once(other, 'listening');
  const got = { rx: [] as number[], other: [] as number[] };
  rx.on('message', (m) => got.rx.push(m[0]!));
  other.on('message', (m) => got.other.push(m[0]!));
  const w = BatchWriter.open(tx, rx.address().port, noOverflow)!;
  // Ten equal packets: the fifth to 127.0.0.2, the rest to the connected peer.
  for (let i = 0; i < 10; i++) w.push(Buffer.alloc(1000, i), i === 4 ? ipToInt('127.0.0.2') : 0);
  w.flush();
  for (let t = 0; t < 100 && got.rx.length + got.other.length < 10; t++) await new Promise((r) => setTimeout(r, 20));
  expect(got).toEqual({ rx: [0, 1, 2, 3, 5, 6, 7, 8, 9], other: [4] });
});

test('while dgram still has sends queued, a writer queues behind them instead of overtaking', async () => {
  const { tx } = await connectedPair();
  const queued: Buffer[] = [];
  const w = BatchWriter.open(tx, 0, { pending: () => 1, send: (p: Buffer) => queued.push(p), error: (e: Error) => expect.fail(e.message) })!;
  for (let i = 0; i < 5; i++) w.push(packet(i));
  w.flush();
  expect(queued).toEqual([0, 1, 2, 3, 4].map(packet));
});

test('a reader delivers every datagram with its source, flags oversized ones, and stops mid-batch', async () => {
  const rx = await bound();
  rx.setRecvBufferSize(4 << 20);
  const tx = await bound();
  const got: { len: number; from: Peer }[] = [];
  const truncated: Peer[] = [];
  let stopAfter = Infinity;
  const reader = BatchReader.start(rx, {
    datagram: (buf, from) => {
      got.push({ len: buf.length, from });
      if (got.length === stopAfter) reader.stop();
    },
    truncated: (from) => truncated.push(from),
    error: (e) => expect.fail(e.message),
  })!;
  expect(reader).not.toBeNull();
  const to = rx.address().port;
  const send = (b: Buffer) => new Promise((r) => tx.send(b, to, '127.0.0.1', r));
  for (let i = 0; i < 200; i++) await send(packet(i));
  await send(Buffer.alloc(20_000));
  for (let t = 0; t < 100 && got.length + truncated.length < 201; t++) await new Promise((r) => setTimeout(r, 20));
  expect(got.map((g) => g.len)).toEqual(Array.from({ length: 200 }, (_, i) => packet(i).length));
  expect(got.every((g) => g.from.address === '127.0.0.1' && g.from.port === tx.address().port)).toBe(true);
  expect(truncated).toEqual([{ address: '127.0.0.1', port: tx.address().port }]);

  // Ten in the socket at once, one wake-up: stopping after the third drops the rest of the batch.
  got.length = 0;
  stopAfter = 3;
  await Promise.all(Array.from({ length: 10 }, (_, i) => send(packet(i))));
  for (let t = 0; t < 25 && got.length < 3; t++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  expect(got.length).toBe(3);
});

/** A UDP echo peer in a child process (its own event loop): answers each datagram after delayMs. */
async function echoPeer(delayMs: number): Promise<number> {
  const script = `const s=require('node:dgram').createSocket('udp4');s.on('message',(m,r)=>{const back=()=>s.send(m,r.port,r.address);${delayMs ? `setTimeout(back,${delayMs})` : 'back()'}});s.bind(0,'127.0.0.1',()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return Number(line.toString().trim());
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** `rounds` lockstep round trips to a peer, each answer answered at once from inside the reader's callback. */
async function pingPong(peerPort: number, busyPollUs: number, rounds: number): Promise<ReaderStats> {
  const sock = await bound();
  const writer = BatchWriter.open(sock, peerPort, noOverflow)!;
  const to = ipToInt('127.0.0.1');
  const ping = (i: number) => {
    writer.push(packet(i), to);
    writer.flush();
  };
  let seen = 0;
  let done!: () => void;
  let timer!: NodeJS.Timeout;
  const finished = new Promise<void>((ok, fail) => {
    done = ok;
    timer = setTimeout(() => fail(new Error(`${seen} of ${rounds} round trips within 20 s`)), 20_000);
  });
  const reader = BatchReader.start(sock, {
    datagram: (buf) => {
      expect(buf.equals(packet(seen))).toBe(true);
      if (++seen === rounds) return done();
      ping(seen);
    },
    truncated: () => expect.fail('truncated'),
    error: (e) => expect.fail(e.message),
  })!;
  reader.busyPoll(busyPollUs);
  ping(0);
  await finished.finally(() => clearTimeout(timer));
  reader.stop();
  return reader.stats();
}

describe('busy-polling', () => {
  test('a reader that busy-polls is awake when a lockstep peer answers: one wake-up per 16 rounds instead of one per round', async () => {
    const peer = await echoPeer(0);
    const spun = await pingPong(peer, 2000, 320);
    // 20 if every answer came within the budget; a spin that gives way to the test worker's own sockets costs one more.
    expect(spun.wakeups, JSON.stringify(spun)).toBeLessThan(80);
    const slept = await pingPong(peer, 0, 100);
    expect(slept).toEqual({ wakeups: 100, spinsAnswered: 0, spinsMissed: 0 });
  });

  test('a peer slower than the budget: after an unanswered spin the next 16 batches do not spin', async () => {
    const peer = await echoPeer(3);
    const st = await pingPong(peer, 100, 60);
    // Deliveries 1, 17, 33, 49 spin and go unanswered. (On a loaded host a yield inside a
    // spin can outlast the peer's 3 ms: an answered spin, and the next batch spins too.)
    expect(st.spinsMissed, JSON.stringify(st)).toBeGreaterThanOrEqual(1);
    expect(st.spinsMissed, JSON.stringify(st)).toBeLessThanOrEqual(4 + st.spinsAnswered);
    expect(st.spinsAnswered + st.spinsMissed, JSON.stringify(st)).toBeLessThan(15);
  });

  test('a spin gives way to the rest of the event loop: with the peer in this process none runs', async () => {
    const peer = await bound();
    peer.on('message', (m, r) => peer.send(m, r.port, r.address));
    // 10 ms a spin: had one run, it could only have gone unanswered, since the peer answers from this loop.
    expect(await pingPong(peer.address().port, 10_000, 50)).toEqual({ wakeups: 50, spinsAnswered: 0, spinsMissed: 0 });
  });
});
