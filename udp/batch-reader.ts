import type dgram from 'node:dgram';
import { getSystemErrorName } from 'node:util';
import { mmsgAddon, type Addon } from './addon.ts';
import { UdpError } from './errors.ts';
import { intToIp } from './ipv4.ts';
import { socketFd, type SocketFd } from './socket-fd.ts';

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
 * Reads a bound socket's datagrams with recvmmsg, up to 64 per system call and per
 * JavaScript callback, in place of dgram's 'message' events. Each datagram is a view into a
 * staging buffer, valid only during the call: the consumer copies what it keeps.
 */
export class BatchReader {
  private stopped = false;
  private native: object | null = null;
  private lastIp = -1;
  private lastAddress = '';
  private final: ReaderStats | null = null;

  private readonly addon: Addon;
  private readonly socket: SocketFd;
  private readonly on: BatchHandlers;

  private constructor(addon: Addon, socket: SocketFd, on: BatchHandlers) {
    this.addon = addon;
    this.socket = socket;
    this.on = on;
  }

  /** Null without the addon or the socket's fd: dgram's 'message' events stay in charge then. */
  static start(sock: dgram.Socket, on: BatchHandlers): BatchReader | null {
    const a = mmsgAddon();
    const s = a && socketFd(sock);
    if (!a || !s) return null;
    const r = new BatchReader(a, s, on);
    r.run();
    return r;
  }

  private run(): void {
    const staging = Buffer.allocUnsafe(MAX_BATCH * SLOT_BYTES);
    const meta = new Uint32Array(MAX_BATCH * META_FIELDS);
    this.native = this.addon.receive(this.socket.fd, staging, meta, (n) => {
      if (n < 0) {
        const code = getSystemErrorName(n);
        return this.on.error(new UdpError('UDP_RECEIVE', `recvmmsg: ${code}`, { details: { errno: code } }));
      }
      for (let i = 0; i < n && !this.stopped; i++) {
        const len = meta[i * META_FIELDS]!;
        const from = { address: this.addressOf(meta[i * META_FIELDS + 1]!), port: meta[i * META_FIELDS + 2]! };
        if (len === TRUNCATED) this.on.truncated(from);
        else this.on.datagram(staging.subarray(i * SLOT_BYTES, i * SLOT_BYTES + len), from);
      }
    });
    // From now on the addon reads; dgram would race it for the same datagrams.
    this.socket.stopDgramReads();
  }

  /**
   * After each batch it delivered, the reader reads on for up to `us` microseconds before it
   * sleeps (0: never), so a lockstep peer's next datagram costs neither side a wake-up. The
   * addon spins only while nothing else waits for the event loop (no other socket ready, no
   * callback due), and skips 16 batches after a spin its peer left unanswered. Throws
   * UDP_ADDON_STOPPED once the reader is stopped.
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
    this.addon.stop(this.native!);
  }
}
