import type { RemoteInfo, Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import tftpPackage from 'tftp/package.json' with { type: 'json' };
import Request from 'tftp/lib/protocol/request.js';
import IncomingRequest from 'tftp/lib/protocol/server/incoming-request.js';
import ServerWriter from 'tftp/lib/protocol/server/writer.js';
import { BatchReader, BatchWriter, ipToInt, type BatchIo, type ReaderStats } from '../udp/index.ts';
import { BootError } from './errors.ts';

// Runtime corrections to the npm `tftp` server (gagle/node-tftp 0.1.2), applied when this
// module is imported. A patch module rather than patch-package or a vendored fork: npm 11
// runs no install scripts unless allow-listed, so a postinstall patch would silently not
// apply after `npm ci`, and a fork would copy 2,500 lines to change 15. The version guard
// refuses any other version, so an upgrade cannot drop the fix unnoticed.
//
// 1. ACK handling of the sending window (Window.resume) is replaced. Upstream issue #16
//    (open since 2016): a duplicate ACK resent the window, advanced it anyway and called the
//    pending callback again (or a null one): the transfer stalled or died with "cb is not a
//    function". Worse under loss: after a partial ACK the unconfirmed blocks stayed in the
//    window while its bounds moved on, so ACKs for them were discarded as out of range and
//    the transfer deadlocked; and a partial ACK of the last window ended the transfer with
//    its final blocks unsent. Now an ACK confirms the blocks up to the one it names; the
//    rest are resent with the next window (or at once in the last window) and only the
//    ACK of the last block ends the transfer. A duplicate ACK changes nothing: the
//    retransmission timer resends (RFC 1123 4.2.3.1: resending on a duplicate ACK would
//    double every later block, the Sorcerer's Apprentice of RFC 1350).
// 2. A datagram from another address or port (RFC 1350: wrong transfer ID) reached the
//    transfer as if the client sent it, and one shorter than 2 bytes threw inside the socket
//    handler and killed the process. Both are now dropped and counted.
// 3. Resends (OACK, window) came at a fixed interval, `retries` times. atftp 0.8 re-ACKs a
//    gap once and then restarts its own timeout on every datagram it receives, so a server
//    resending every timeoutMs kept it silent until the server gave up (a 3 % loss test
//    failed 1 run in 5). Resends now back off: timeoutMs, doubling up to 8 x timeoutMs,
//    `retries` times, from the start again after any progress (RFC 1123 4.2.3.2: adaptive
//    timeouts). A dead client is given up after 31 s with the defaults.
// 4. DATA packets were built with the deprecated `new Buffer`: zero-filled, and for the
//    process's first 10,000 blocks Node captured a stack trace for each to decide whether to
//    warn. They now come from Buffer.allocUnsafe (pooled; every byte is then written).
// 5. Each transfer socket reads and writes through cast's batched-I/O addon (cast/mmsg.ts)
//    instead of dgram's 'message' events and send(). A lockstep client waits for every
//    block, and dgram's layer costs about 35 us of CPU per block more than dnsmasq does:
//    with it no Node server reached dnsmasq here. Without the addon, dgram as before.
// 6. On the addon a transfer socket busy-polls (tftp.busyPollUs): after the server answered
//    an ACK it reads on for the next one instead of sleeping, while nothing else waits for
//    the event loop. A lockstep block is two wake-ups of a sleeping process, each costing
//    its waker 100 us or more on a virtual machine; with the server awake, one is saved.

export const PATCHED_VERSION = '0.1.2';

const drops = new Map<string, number>();
const io = { wanted: true, busyPollUs: 0, mmsg: 0, dgram: 0 };
const ended: ReaderStats = { wakeups: 0, spinsAnswered: 0, spinsMissed: 0 };

/** How new transfers move datagrams: the addon (the default) or plain dgram, and the addon's busy-poll budget. */
export function setTransferIo(o: { batched: boolean; busyPollUs: number }): void {
  io.wanted = o.batched;
  io.busyPollUs = o.busyPollUs;
}

/** Transfers since start, by how their socket moved datagrams. */
export function tftpTransferIo(): Record<BatchIo, number> {
  return { mmsg: io.mmsg, dgram: io.dgram };
}

/** What the addon did for the transfers that ended since start: wake-ups, busy-polls answered and not. */
export function tftpReaderStats(): ReaderStats {
  return { ...ended };
}

/** Datagrams the transfer sockets dropped since start, by reason (one TFTP server per process). */
export function tftpTransferDrops(): Record<string, number> {
  return Object.fromEntries(drops);
}

interface WindowState {
  _windowSize: number;
  _pending: number;
  _rollover: number;
  _eof: boolean;
  _cb: (() => void) | null;
  _blocks: { block: number }[];
  _writerTimer: { reset(): void; start(fn: () => void): void };
  _restransmitterSendFn: () => void;
  _sendFn: (b: { block: number }) => void;
}

type OnAck = (this: { _window: WindowState | null }, ack: { block: number }) => void;
type Retransmitter = { reset(): void; start(fn: () => void): void };
type RequestLike = { _timeout: number; _retries: number; _close(err: Error): void };
type SendBlock = (this: { _send(packet: Buffer): void }, block: number, data: Buffer) => void;
type Transfer = { _address: string; _port: number; _socket: Socket; _closed: boolean; _closing: boolean; _send(packet: Buffer, cb?: () => void): void };
type InitSocket = (this: Transfer, socket: unknown, onMessage: (msg: Buffer, rinfo: RemoteInfo) => void) => void;

function apply(): void {
  if (tftpPackage.version !== PATCHED_VERSION) {
    throw new BootError('BOOT_TFTP_PATCH', `npm tftp ${tftpPackage.version} is installed; bootserver/tftp-patch.ts corrects ${PATCHED_VERSION} only`, {
      details: { installed: tftpPackage.version, patched: PATCHED_VERSION },
      remedy: `pin "tftp": "${PATCHED_VERSION}" in package.json, or re-check the fix against the new version and update PATCHED_VERSION`,
    });
  }
  const writer = ServerWriter.prototype;
  const incoming = IncomingRequest.prototype;
  const onAck = writer._onAck as OnAck;
  const initSocket = Request.prototype._initSocket as InitSocket;
  if (typeof onAck !== 'function' || typeof initSocket !== 'function' || typeof incoming._onMessage !== 'function' || typeof Request.prototype._createRetransmitter !== 'function' || typeof Request.prototype._sendBlock !== 'function') {
    throw new BootError('BOOT_TFTP_PATCH', 'npm tftp internals are not where the patch expects them', { remedy: 'reinstall with npm ci' });
  }

  writer._onAck = function (this: { _window: WindowState | null }, ack: { block: number }) {
    const w = this._window;
    // Not waiting for an ACK (the next window is still being filled): nothing to confirm.
    if (!w || !w._cb) return count('staleAck');
    const at = w._blocks.findIndex((b) => b.block === ack.block);
    if (at < 0) return count(w._blocks[0] && ack.block === previousBlock(w._blocks[0].block, w._rollover) ? 'duplicateAck' : 'staleAck');
    w._blocks.splice(0, at + 1);
    w._writerTimer.reset();
    if (w._blocks.length > 0 && w._eof) {
      // The last window, partly confirmed: resend what is missing.
      w._writerTimer.start(w._restransmitterSendFn);
      w._blocks.forEach(w._sendFn);
      return;
    }
    // Unconfirmed blocks go out again together with the next window's new ones.
    w._pending = w._windowSize - w._blocks.length;
    const cb = w._cb;
    w._cb = null;
    cb();
  } satisfies OnAck;

  Request.prototype._sendBlock = function (this: { _send(packet: Buffer): void }, block: number, data: Buffer) {
    const packet = Buffer.allocUnsafe(4 + data.length);
    packet.writeUInt16BE(OPCODE_DATA, 0);
    packet.writeUInt16BE(block, 2);
    data.copy(packet, 4);
    this._send(packet);
  } satisfies SendBlock;

  Request.prototype._createRetransmitter = function (this: RequestLike) {
    return new BackoffRetransmitter(this);
  };

  incoming._initSocket = function (this: Transfer, socket: unknown, onMessage: (msg: Buffer, rinfo: RemoteInfo) => void) {
    const checked = (msg: Buffer, rinfo: Pick<RemoteInfo, 'address' | 'port'>) => {
      if (rinfo.address !== this._address || rinfo.port !== this._port) return count('foreignTid');
      // Every packet of a running transfer (ACK, DATA, ERROR) is at least 4 bytes.
      if (msg.length < 4) return count('short');
      onMessage(msg, rinfo as RemoteInfo);
    };
    initSocket.call(this, socket, checked);
    // The package binds the socket next; its fd exists from 'listening' on.
    this._socket.once('listening', () => batchTransfer(this, checked));
  } satisfies InitSocket;
}

/** Moves a bound transfer socket onto the addon (corrections 5 and 6), or counts it as dgram. */
function batchTransfer(t: Transfer, onMessage: (msg: Buffer, rinfo: Pick<RemoteInfo, 'address' | 'port'>) => void): void {
  const sock = t._socket;
  let queued = 0;
  const writer =
    io.wanted && isIPv4(t._address)
      ? BatchWriter.open(sock, t._port, {
          pending: () => queued,
          send: (pkt) => {
            queued++;
            sock.send(pkt, t._port, t._address, () => queued--);
          },
          error: (err) => sock.emit('error', err),
        })
      : null;
  const reader =
    writer &&
    BatchReader.start(sock, {
      // The view is valid during the call only; the package may keep what it is given.
      datagram: (buf, from) => !t._closed && !t._closing && onMessage(Buffer.from(buf), from),
      truncated: () => count('long'),
      error: (err) => sock.emit('error', err),
    });
  if (!writer || !reader) {
    io.dgram++;
    return;
  }
  io.mmsg++;
  reader.busyPoll(io.busyPollUs);
  const to = ipToInt(t._address);
  t._send = (packet, cb) => {
    if (t._closed || t._closing) return;
    writer.push(packet, to);
    writer.flush();
    if (cb) process.nextTick(cb);
  };
  sock.once('close', () => {
    reader.stop();
    const st = reader.stats();
    for (const k of Object.keys(ended) as (keyof ReaderStats)[]) ended[k] += st[k];
  });
}

const OPCODE_DATA = 3;

/** The longest wait between resends, in multiples of tftp.timeoutMs. */
const MAX_BACKOFF_FACTOR = 8;

/** Exponential backoff in place of the package's fixed-interval Retransmitter (same interface). */
class BackoffRetransmitter implements Retransmitter {
  private timer: NodeJS.Timeout | null = null;
  private pending: number;
  private delay: number;
  private readonly req: RequestLike;

  constructor(req: RequestLike) {
    this.req = req;
    this.pending = req._retries;
    this.delay = req._timeout;
  }

  reset(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = this.req._retries;
    this.delay = this.req._timeout;
  }

  start(fn: () => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      // The package's own ETIME wording, so a give-up reads as its usual timeout.
      if (this.pending === 0) return this.req._close(new Error('Timed out'));
      this.pending--;
      this.delay = Math.min(this.delay * 2, this.req._timeout * MAX_BACKOFF_FACTOR);
      fn();
      this.start(fn);
    }, this.delay);
  }
}

/** Block numbers wrap from 65535 to the negotiated rollover value (0 or 1). */
function previousBlock(block: number, rollover: number): number {
  return block === rollover ? 65535 : block - 1;
}

function count(reason: string): void {
  drops.set(reason, (drops.get(reason) ?? 0) + 1);
}

apply();
