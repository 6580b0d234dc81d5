import type dgram from 'node:dgram';
import { getSystemErrorName } from 'node:util';
import { mmsgAddon, type Addon } from './addon.ts';
import { UdpError } from './errors.ts';
import { socketFd } from './socket-fd.ts';

/** Where a batch writer hands what the socket cannot take now: dgram, which queues it. */
export interface Overflow {
  /** dgram sends not completed yet; while there are any, everything queues behind them. */
  pending(): number;
  send(pkt: Buffer): void;
  error(err: Error): void;
}

/**
 * Collects packets for one socket and sends them with sendmmsg on flush, up to 64 datagrams
 * per system call: each to the socket's connected peer, or to an IPv4 address it names (on
 * the writer's port; on an unconnected socket every packet names one).
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

  /** `port`: where packets with their own address go. Null without the addon or the socket's fd: send through dgram then. */
  static open(sock: dgram.Socket, port: number, overflow: Overflow): BatchWriter | null {
    const a = mmsgAddon();
    const s = a && socketFd(sock);
    return a && s ? new BatchWriter(a, s.fd, port, overflow) : null;
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
      else if (!socketFull(n)) this.overflow.error(sendError(n));
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
      if (socketFull(n)) break;
      // Lost, as a failed dgram send is: reported, and recovered by the protocol.
      this.overflow.error(sendError(n));
      at++;
    }
    // dgram cannot address a connected socket's datagram elsewhere: what overflows goes to
    // the connected peer (for cast, the group, which the addressee is part of).
    for (; at < p.length; at++) this.overflow.send(p[at]!);
    p.length = 0;
    this.addressed = false;
  }
}

/** The socket buffer is full for now: what is left goes to dgram's queue. */
function socketFull(errno: number): boolean {
  const code = getSystemErrorName(errno);
  return code === 'EAGAIN' || code === 'ENOBUFS';
}

function sendError(errno: number): UdpError {
  const code = getSystemErrorName(errno);
  return new UdpError('UDP_SEND', `sendmmsg: ${code}`, { details: { errno: code } });
}
