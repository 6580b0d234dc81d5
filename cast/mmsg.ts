import dgram from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { getRawAsset, isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { intToIp } from '../udp/index.ts';

// The data path through cast/native/mmsg.c: sendmmsg and recvmmsg, up to 64 datagrams per
// system call and per JavaScript callback, on sockets that dgram opened and configured.
// When the addon is missing (a checkout without `make native`, the arm64 agent) or a
// socket does not expose its fd, callers keep plain dgram: same wire, slower.

/** How a sender or receiver moves its data: the addon's batches, or one datagram per call. */
export type CastIo = 'mmsg' | 'dgram';

interface Addon {
  send(fd: number, packets: Buffer[], start: number, count: number, to: Uint32Array | null, port: number): number;
  sendRun(fd: number, buf: Buffer, off: number, count: number, stride: number, last: number, to: number, port: number): number;
  receive(fd: number, staging: Buffer, meta: Uint32Array, onBatch: (n: number) => void): object;
  stop(handle: object): void;
  busyPoll(handle: object, us: number): void;
  stats(handle: object): [wakeups: number, answered: number, missed: number];
}

/** The agent carries the addon as an asset of its single executable, under this name. */
export const MMSG_ASSET = 'mmsg.node';
const CHECKOUT_ADDON = fileURLToPath(new URL('../build/native/mmsg.node', import.meta.url));

/** How mmsgSelfCheck describes a build without the addon. */
export const MMSG_ABSENT = 'absent';

let loaded: { addon: Addon | null; error?: string } | undefined;

function load(): { addon: Addon | null; error?: string } {
  if (!loaded) {
    try {
      loaded = { addon: loadAddon() };
    } catch (err) {
      loaded = { addon: null, error: (err as Error).message };
    }
  }
  return loaded;
}

/** The addon, loaded once; null when this build has none or it failed to load. */
export function mmsgAddon(): Addon | null {
  return load().addon;
}

/** Why the addon this build has could not be loaded. */
export function mmsgLoadError(): string | undefined {
  return load().error;
}

/** Why a socket meant for batched I/O got none: for a warning; undefined if it has it or the build has no addon. */
export function unbatchedReason(batched: boolean): string | undefined {
  if (batched) return undefined;
  return mmsgLoadError() ?? (mmsgAddon() ? "this Node's dgram sockets do not expose their fd" : undefined);
}

function loadAddon(): Addon | null {
  if (isSea()) {
    let bytes: ArrayBuffer;
    try {
      bytes = getRawAsset(MMSG_ASSET);
    } catch {
      return null; // built without it
    }
    // dlopen needs a file; once loaded the file can go.
    const dir = mkdtempSync(join(os.tmpdir(), 'rackcast-mmsg-'));
    try {
      writeFileSync(join(dir, MMSG_ASSET), new Uint8Array(bytes));
      return dlopen(join(dir, MMSG_ASSET));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return existsSync(CHECKOUT_ADDON) ? dlopen(CHECKOUT_ADDON) : null;
}

function dlopen(file: string): Addon {
  const m = { exports: {} as Addon };
  try {
    process.dlopen(m, file);
  } catch (err) {
    throw new Error(`cannot load ${file} (${(err as Error).message}): rebuild it with \`make native\`, or delete it`, { cause: err });
  }
  return m.exports;
}

interface UdpHandle {
  fd: number;
  recvStop(): number;
}

/** dgram keeps its libuv handle behind a symbol; its fd is what the addon works on. */
function handleOf(sock: dgram.Socket): UdpHandle | null {
  const state = Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol');
  const handle = state && (sock as unknown as Record<symbol, { handle?: Partial<UdpHandle> }>)[state]?.handle;
  return handle && typeof handle.fd === 'number' && handle.fd >= 0 && typeof handle.recvStop === 'function' ? (handle as UdpHandle) : null;
}

/** Where a batch writer hands what the socket cannot take now: dgram, which queues it. */
export interface Overflow {
  /** dgram sends not completed yet; while there are any, everything queues behind them. */
  pending(): number;
  send(pkt: Buffer): void;
  error(err: Error): void;
}

/**
 * Collects packets for one socket and sends them with sendmmsg on flush: each to the
 * socket's connected peer, or to an IPv4 address it names (on the writer's port; on an
 * unconnected socket every packet names one).
 */
export class BatchWriter {
  private readonly packets: Buffer[] = [];
  /** Per packet: an address as a host-order number, 0 for the connected peer. */
  private to = new Uint32Array(256);
  private addressed = false;
  private readonly addon: Addon;
  private readonly fd: number;
  private readonly port: number;
  private readonly overflow: Overflow;

  private constructor(addon: Addon, fd: number, port: number, overflow: Overflow) {
    this.addon = addon;
    this.fd = fd;
    this.port = port;
    this.overflow = overflow;
  }

  /** `port`: where packets with their own address go. */
  static open(sock: dgram.Socket, port: number, overflow: Overflow): BatchWriter | null {
    const a = mmsgAddon();
    const handle = a && handleOf(sock);
    return a && handle ? new BatchWriter(a, handle.fd, port, overflow) : null;
  }

  push(pkt: Buffer, to = 0): void {
    const i = this.packets.push(pkt) - 1;
    if (i >= this.to.length) {
      const grown = new Uint32Array(this.to.length * 2);
      grown.set(this.to);
      this.to = grown;
    }
    this.to[i] = to;
    if (to) this.addressed = true;
  }

  /**
   * Sends `count` datagrams that lie back to back in buf from off (`stride` bytes each, the
   * last `last`) after what was pushed before, as GSO runs: one call, no view per datagram.
   */
  sendRun(buf: Buffer, off: number, count: number, stride: number, last: number, to = 0): void {
    this.flush();
    let done = 0;
    if (this.overflow.pending() === 0) {
      const n = this.addon.sendRun(this.fd, buf, off, count, stride, last, to, this.port);
      if (n > 0) done = n;
      else {
        const code = getSystemErrorName(n);
        if (code !== 'EAGAIN' && code !== 'ENOBUFS') this.overflow.error(new Error(`sendmmsg: ${code}`));
      }
    }
    for (let i = done; i < count; i++) this.push(buf.subarray(off + i * stride, off + i * stride + (i === count - 1 ? last : stride)), to);
    this.flush();
  }

  flush(): void {
    const p = this.packets;
    const to = this.addressed ? this.to : null;
    let at = 0;
    while (at < p.length && this.overflow.pending() === 0) {
      const n = this.addon.send(this.fd, p, at, p.length - at, to, this.port);
      if (n > 0) {
        at += n;
        continue;
      }
      const code = getSystemErrorName(n);
      if (code === 'EAGAIN' || code === 'ENOBUFS') break;
      // Lost, as a failed dgram send is: reported, and recovered by the protocol.
      this.overflow.error(new Error(`sendmmsg: ${code}`));
      at++;
    }
    // dgram cannot address a connected socket's datagram elsewhere: what overflows goes to
    // the connected peer (for cast, the group, which the addressee is part of).
    for (; at < p.length; at++) this.overflow.send(p[at]!);
    p.length = 0;
    this.addressed = false;
  }
}

export interface Peer {
  address: string;
  port: number;
}

export interface BatchHandlers {
  datagram: (buf: Buffer, from: Peer) => void;
  /** A datagram longer than a staging slot: not ours to parse. */
  truncated: (from: Peer) => void;
  error: (err: Error) => void;
}

const MAX_BATCH = 64;
/** Largest datagram taken whole: a 8,972-byte block (--blocksize' cap) and its header. */
const SLOT_BYTES = 9216;
const META_FIELDS = 3;
const TRUNCATED = 0xffffffff;

/** What a reader did: times the event loop woke it with datagrams, and busy-polls its peer answered within the budget or not. */
export interface ReaderStats {
  wakeups: number;
  spinsAnswered: number;
  spinsMissed: number;
}

/**
 * Reads a bound socket's datagrams in batches, in place of dgram's 'message' events.
 * Each datagram is a view into a staging buffer, valid only during the call: the
 * consumer copies what it keeps.
 */
export class BatchReader {
  private stopped = false;
  private native: object | null = null;
  private lastIp = -1;
  private lastAddress = '';
  private final: ReaderStats | null = null;

  private readonly addon: Addon;
  private readonly handle: UdpHandle;
  private readonly on: BatchHandlers;

  private constructor(addon: Addon, handle: UdpHandle, on: BatchHandlers) {
    this.addon = addon;
    this.handle = handle;
    this.on = on;
  }

  static start(sock: dgram.Socket, on: BatchHandlers): BatchReader | null {
    const a = mmsgAddon();
    const handle = a && handleOf(sock);
    if (!a || !handle) return null;
    const r = new BatchReader(a, handle, on);
    r.run();
    return r;
  }

  private run(): void {
    const staging = Buffer.allocUnsafe(MAX_BATCH * SLOT_BYTES);
    const meta = new Uint32Array(MAX_BATCH * META_FIELDS);
    this.native = this.addon.receive(this.handle.fd, staging, meta, (n) => {
      if (n < 0) return this.on.error(new Error(`recvmmsg: ${getSystemErrorName(n)}`));
      for (let i = 0; i < n && !this.stopped; i++) {
        const len = meta[i * META_FIELDS]!;
        const from = { address: this.addressOf(meta[i * META_FIELDS + 1]!), port: meta[i * META_FIELDS + 2]! };
        if (len === TRUNCATED) this.on.truncated(from);
        else this.on.datagram(staging.subarray(i * SLOT_BYTES, i * SLOT_BYTES + len), from);
      }
    });
    // From now on the addon reads; dgram would race it for the same datagrams.
    this.handle.recvStop();
  }

  /**
   * After each batch it delivered, the reader reads on for up to `us` microseconds before it
   * sleeps (0: never), so a lockstep peer's next datagram costs neither side a wake-up. The
   * addon spins only while nothing else waits for the event loop (no other socket ready, no
   * callback due), and skips 16 batches after a spin its peer left unanswered.
   */
  busyPoll(us: number): void {
    this.addon.busyPoll(this.native!, us);
  }

  /** So far; final once stopped. */
  stats(): ReaderStats {
    if (this.final) return { ...this.final };
    const [wakeups, spinsAnswered, spinsMissed] = this.addon.stats(this.native!);
    return { wakeups, spinsAnswered, spinsMissed };
  }

  /** Nearly every datagram comes from the same sender: format its address once. */
  private addressOf(ip: number): string {
    if (ip !== this.lastIp) {
      this.lastIp = ip;
      this.lastAddress = intToIp(ip);
    }
    return this.lastAddress;
  }

  stop(): void {
    if (this.stopped) return;
    this.final = this.stats();
    this.stopped = true;
    if (this.native) this.addon.stop(this.native);
  }
}

/** Three datagrams from a BatchWriter to a BatchReader over loopback: the addon loads and works here. */
export async function mmsgSelfCheck(): Promise<{ ok: boolean; detail: string }> {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket('udp4');
  let reader: BatchReader | null = null;
  try {
    if (!mmsgAddon()) {
      const error = mmsgLoadError();
      return error ? { ok: false, detail: error } : { ok: true, detail: `${MMSG_ABSENT}: cast sends and receives through plain dgram` };
    }
    rx.bind(0, '127.0.0.1');
    await once(rx, 'listening');
    tx.connect(rx.address().port, '127.0.0.1');
    await once(tx, 'connect');
    const got: string[] = [];
    let arrived!: () => void;
    let failed!: (err: Error) => void;
    const done = new Promise<void>((resolve, reject) => ((arrived = resolve), (failed = reject)));
    reader = BatchReader.start(rx, {
      datagram: (buf) => {
        got.push(buf.toString());
        if (got.length === 3) arrived();
      },
      truncated: () => failed(new Error('a datagram came back truncated')),
      error: failed,
    });
    const writer = BatchWriter.open(tx, 0, { pending: () => 0, send: () => {}, error: (err) => { throw err; } });
    if (!reader || !writer) return { ok: false, detail: unbatchedReason(false)! };
    const timer = setTimeout(() => failed(new Error(`${got.length} of 3 datagrams arrived within 2 s`)), 2000);
    for (const word of ['one', 'two', 'three']) writer.push(Buffer.from(word));
    writer.flush();
    await done.finally(() => clearTimeout(timer));
    const ok = got.join(' ') === 'one two three';
    return { ok, detail: ok ? 'sendmmsg/recvmmsg round trip over loopback' : `round trip garbled: ${got.join(' ')}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    reader?.stop();
    rx.close();
    tx.close();
  }
}
