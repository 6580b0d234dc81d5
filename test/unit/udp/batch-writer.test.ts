import { expect, test } from 'vitest';
import { BatchWriter, ipToInt } from '../../../udp/index.ts';
import { loopbackSockets, noOverflow, packet } from '../../helpers/loopback-udp.ts';

// udp/native/mmsg.c's send side through BatchWriter, on real loopback sockets. `make
// test-unit` builds the addon first; without it these fail on purpose, since cast and TFTP
// would silently run their slower dgram path.

const { bound, connectedPair } = loopbackSockets();

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
  const other = await bound(rx.address().port, '127.0.0.2');
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
