import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, test } from 'vitest';
import { BatchReader, BatchWriter, ipToInt, mmsgAddon, type Peer, type ReaderStats } from '../../../udp/index.ts';
import { socketFd } from '../../../udp/socket-fd.ts';
import { loopbackSockets, noOverflow, packet } from '../../helpers/loopback-udp.ts';

// udp/native/mmsg.c's receive side through BatchReader, on real loopback sockets (and a peer
// in a child process, for busy-polling). `make test-unit` builds the addon first.

const { bound } = loopbackSockets();

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

describe("a reader's native handle", () => {
  const handlers = { datagram: () => {}, truncated: () => expect.fail('truncated'), error: (e: Error) => expect.fail(e.message) };
  /** Until libuv has closed the receiver's poll handle, and the addon freed the receiver. */
  const released = () => new Promise((r) => setTimeout(r, 20));

  test('stats() answers with the final numbers, before and after the addon freed the receiver', async () => {
    const rx = await bound();
    const tx = await bound();
    let seen = 0;
    const reader = BatchReader.start(rx, { ...handlers, datagram: () => seen++ })!;
    for (let i = 0; i < 3; i++) tx.send(packet(i), rx.address().port, '127.0.0.1');
    for (let t = 0; t < 100 && seen < 3; t++) await new Promise((r) => setTimeout(r, 20));
    const last = reader.stats();
    expect(last.wakeups).toBeGreaterThanOrEqual(1);
    reader.stop();
    expect(reader.stats()).toEqual(last);
    await released();
    expect(reader.stats()).toEqual(last);
  });

  test('busyPoll() throws UDP_ADDON_STOPPED instead of writing into the freed receiver; stop() again does nothing', async () => {
    const reader = BatchReader.start(await bound(), handlers)!;
    reader.busyPoll(100);
    reader.stop();
    expect(() => reader.busyPoll(100)).toThrow(expect.objectContaining({ code: 'UDP_ADDON_STOPPED', message: 'busyPoll: the receiver is stopped' }));
    await released();
    expect(() => reader.busyPoll(100)).toThrow(expect.objectContaining({ code: 'UDP_ADDON_STOPPED' }));
    reader.stop();
  });

  test("the addon's own handle: stats and busyPoll throw once stopped, stop is harmless, whether or not the receiver is freed yet", async () => {
    const addon = mmsgAddon()!;
    const handle = addon.receive(socketFd(await bound())!.fd, Buffer.alloc(64), new Uint32Array(3), () => {});
    addon.stop(handle);
    for (const when of ['stopped', 'freed']) {
      expect(() => addon.stats(handle), when).toThrow(expect.objectContaining({ code: 'UDP_ADDON_STOPPED', message: 'stats: the receiver is stopped' }));
      expect(() => addon.busyPoll(handle, 10), when).toThrow(expect.objectContaining({ code: 'UDP_ADDON_STOPPED' }));
      addon.stop(handle);
      await released();
    }
  });

  test('a handle nobody stopped and nobody holds is stopped when collected: its fd is closed and the process can exit', async () => {
    // In a child with --expose-gc; the callback does not reach the handle, so nothing holds it.
    const udp = new URL('../../../udp/', import.meta.url).href;
    const script = `
      import { createSocket } from 'node:dgram';
      import { readdirSync } from 'node:fs';
      import { mmsgAddon } from '${udp}index.ts';
      import { socketFd } from '${udp}socket-fd.ts';
      const fds = () => readdirSync('/proc/self/fd').length;
      const s = createSocket('udp4');
      s.bind(0, '127.0.0.1', async () => {
        const before = fds();
        mmsgAddon().receive(socketFd(s).fd, Buffer.alloc(64), new Uint32Array(3), () => {});
        const opened = fds() - before;
        for (let i = 0; i < 50 && fds() > before; i++) {
          globalThis.gc();
          await new Promise((r) => setTimeout(r, 10));
        }
        console.log(JSON.stringify({ opened, left: fds() - before }));
        s.close();
      });`;
    const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    expect(JSON.parse(line.toString())).toEqual({ opened: 1, left: 0 });
    const exited = await Promise.race([once(child, 'exit').then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
    expect(exited, 'a receiver left running keeps the event loop alive').toBe(true);
  });
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
