import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { silentLogger, type Logger } from '../common/log.ts';
import { BatchReader, isMulticast, unbatchedReason, type BatchIo as CastIo, type Peer } from '../udp/index.ts';
import {
  Cap,
  CAPS_DEFAULT,
  decodeFromSender,
  encodeConnectReq,
  encodeOk,
  encodeRetransmit,
  encodeSignal,
  DATA_HEADER_BYTES,
  DATA_OFF_BLOCK,
  DATA_OFF_BYTES,
  DATA_OFF_SLICE,
  MAX_BLOCKS_PER_SLICE,
  newBitmap,
  Op,
  type ConnectReply,
  type Hello,
  type ReqAck,
  type SenderMessage,
} from './codec/index.ts';
import {
  CONNECT_RETRY_MS,
  DEFAULT_EXIT_WAIT_MS,
  DEFAULT_PORTBASE,
  DEFAULT_RCVBUF_BYTES,
  PROGRESS_INTERVAL_MS,
  WIDE_WINDOW_SLICES,
} from './constants.ts';
import { CastError, DecodeError } from './errors.ts';
import { Endpoint, type CastWarning } from './endpoint.ts';
import { openSocket, rendezvousAddress, resolveInterface, type NetInterface } from './net.ts';

export interface ReceiverOptions {
  interface?: string;
  portbase: number;
  rcvbufBytes: number;
  /** Give up if the transfer has not started this long after we began listening. */
  startTimeoutMs?: number;
  /** Give up if no packet came from the sender this long once the transfer started. */
  receiveTimeoutMs?: number;
  exitWaitMs: number;
  mcastRdvAddress?: string;
  ttl: number;
  /** Output backlog above which we hold back OKs, so the sender waits for our disk. */
  maxBufferedBytes: number;
  /** Receive with recvmmsg when the addon is built (udp/); false: plain dgram. */
  batchIo: boolean;
}

export const RECEIVER_DEFAULTS: ReceiverOptions = {
  portbase: DEFAULT_PORTBASE,
  rcvbufBytes: DEFAULT_RCVBUF_BYTES,
  exitWaitMs: DEFAULT_EXIT_WAIT_MS,
  ttl: 1,
  maxBufferedBytes: 64 * 1024 * 1024,
  batchIo: true,
};

export interface ReceiverStats {
  bytes: number;
  slices: number;
  blocks: number;
  duplicates: number;
  retransmitRequests: number;
  /** Datagrams dropped: not a udpcast message, or inconsistent with the slice. */
  malformed: number;
  /** Datagrams from somebody other than our sender. */
  foreign: number;
  /** FEC blocks are not decoded; the gaps they would fill are re-requested instead. */
  fecIgnored: number;
}

export interface ReceiveResult {
  sender: string;
  slot: number;
  durationMs: number;
  stats: ReceiverStats;
}

export interface ReceiverProgress {
  phase: 'waiting' | 'transfer' | 'done';
  bytes: number;
  elapsedMs: number;
  rateBytesPerSec: number;
  retransmitRequests: number;
}

export type ReceiverEvents = {
  listening: [{ interface: NetInterface; rendezvous: string; rcvbufBytes: number; io: CastIo }];
  connected: [{ sender: string; slot: number; blockSize: number; dataAddress: string }];
  started: [];
  progress: [ReceiverProgress];
  warning: [CastWarning];
};

/** Slice numbers further ahead than this cannot come from our sender: noise. */
const PLAUSIBLE_SLICES_AHEAD = 64;
/** Packets two or more slices ahead before we conclude the sender dropped us. */
const DROP_EVIDENCE_PACKETS = 8;

interface RxSlice {
  no: number;
  bytes: number;
  blocks: number;
  held: Uint8Array;
  count: number;
  data: Buffer;
}

/**
 * Receiver speaking udpcast's protocol. Unlike udp-receiver it keeps asking to connect
 * until it is answered, survives missing a whole slice (it asks for it again instead of
 * aborting), and holds back its OKs while its output is behind instead of overrunning.
 */
export class CastReceiver extends EventEmitter<ReceiverEvents> {
  readonly options: ReceiverOptions;
  private readonly log: Logger;
  private readonly stats: ReceiverStats = {
    bytes: 0,
    slices: 0,
    blocks: 0,
    duplicates: 0,
    retransmitRequests: 0,
    malformed: 0,
    foreign: 0,
    fecIgnored: 0,
  };
  private iface!: NetInterface;
  private rdv = '';
  private sock: dgram.Socket | null = null;
  private batch: BatchReader | null = null;
  private output!: Writable;
  private senderAddress: string | null = null;
  private connected = false;
  private slot = -1;
  private blockSize = 0;
  private started = false;
  private ending = false;
  private listenAt = 0;
  private startedAt = 0;
  private endedAt = 0;
  private lastPacketAt = 0;
  private slices = new Map<number, RxSlice>();
  /** The oldest slice not complete yet; every slice below it has been written. */
  private nextToWrite = 0;
  /** Packets seen for slices the sender may only send once it gave up on us. */
  private aheadEvidence = 0;
  private readonly life: Endpoint<ReceiveResult>;

  constructor(options: Partial<ReceiverOptions> = {}, deps: { log?: Logger } = {}) {
    super();
    this.options = { ...RECEIVER_DEFAULTS, ...options };
    this.log = deps.log ?? silentLogger;
    this.life = new Endpoint({ log: this.log, warning: (w) => this.emit('warning', w), close: () => this.close() });
  }

  /** Receives one transfer into `output` (which the caller ends afterwards). */
  receive(output: Writable, opts: { signal?: AbortSignal } = {}): Promise<ReceiveResult> {
    this.output = output;
    output.on('error', (err) =>
      this.life.fail(new CastError('CAST_OUTPUT', `writing the output failed: ${err.message}`, { cause: err, remedy: 'check the output file, disk space or pipe' })),
    );
    return this.life.run(() => this.open(), opts.signal);
  }

  private async open(): Promise<void> {
    const o = this.options;
    this.iface = resolveInterface(o.interface);
    this.rdv = rendezvousAddress(this.iface, o);
    this.sock = await openSocket({ port: o.portbase, broadcast: true, rcvbufBytes: o.rcvbufBytes });
    // Aborted while the socket opened: close() ran before it existed.
    if (this.life.finished) return this.close();
    this.sock.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    this.sock.on('error', (err) => this.life.warn('CAST_SOCKET', `socket error: ${err.message}`));
    if (o.batchIo) {
      this.batch = BatchReader.start(this.sock, {
        datagram: (buf, from) => this.onDatagram(buf, from),
        truncated: () => this.stats.malformed++,
        error: (err) => this.life.warn('CAST_SOCKET', `socket error: ${err.message}`),
      });
    }
    const unusable = o.batchIo && unbatchedReason(this.batch !== null);
    if (unusable) this.life.warn('CAST_MMSG', `batched I/O unavailable, using plain dgram: ${unusable}`);
    const io: CastIo = this.batch ? 'mmsg' : 'dgram';
    this.sock.setMulticastInterface(this.iface.address);
    this.sock.setMulticastTTL(o.ttl);
    if (isMulticast(this.rdv)) this.sock.addMembership(this.rdv, this.iface.address);
    const rcvbuf = this.sock.getRecvBufferSize();
    // The kernel reports twice what it grants; less than asked means rmem_max is low.
    if (rcvbuf < o.rcvbufBytes) {
      this.life.warn('CAST_SMALL_RCVBUF', `receive buffer is ${rcvbuf} bytes, asked for ${o.rcvbufBytes}: expect retransmissions (raise net.core.rmem_max)`);
    }
    this.listenAt = this.lastPacketAt = Date.now();
    this.emit('listening', { interface: this.iface, rendezvous: this.rdv, rcvbufBytes: rcvbuf, io });
    this.log.info('looking for a sender', { interface: this.iface.name, rendezvous: this.rdv, portbase: o.portbase, io });
    this.sendConnectReq();
    this.life.every(CONNECT_RETRY_MS, () => {
      if (!this.connected) this.sendConnectReq();
    });
    this.life.every(200, () => this.checkTimeouts());
    this.life.every(PROGRESS_INTERVAL_MS, () => this.emitProgress());
  }

  private send(pkt: Buffer, address: string, port: number): void {
    this.sock?.send(pkt, port, address, (err) => {
      if (err) this.life.warn('CAST_SEND', `send to ${address}:${port} failed: ${err.message}`);
    });
  }

  private sendToSender(pkt: Buffer): void {
    if (this.senderAddress) this.send(pkt, this.senderAddress, this.options.portbase + 1);
  }

  private sendConnectReq(): void {
    const pkt = encodeConnectReq({ capabilities: CAPS_DEFAULT | Cap.GAP_TOLERANT, rcvbufBytes: this.sock?.getRecvBufferSize() ?? 0 });
    this.send(pkt, this.senderAddress ?? this.rdv, this.options.portbase + 1);
  }

  /** `buf` may be a view the batch reader reuses: everything kept is copied. */
  private onDatagram(buf: Buffer, rinfo: Peer): void {
    if (this.life.finished) return;
    // DATA is nearly all the traffic: read it in place, without a message object.
    if (this.connected && buf.length > DATA_HEADER_BYTES && buf[0] === 0 && buf[1] === Op.DATA && rinfo.address === this.senderAddress && rinfo.port === this.options.portbase + 1) {
      this.lastPacketAt = Date.now();
      this.onData(buf.readInt32BE(DATA_OFF_SLICE), buf.readUInt16BE(DATA_OFF_BLOCK), buf.readInt32BE(DATA_OFF_BYTES), buf.subarray(DATA_HEADER_BYTES));
      return;
    }
    const fromSender = rinfo.port === this.options.portbase + 1 && (!this.connected || rinfo.address === this.senderAddress);
    if (!fromSender) {
      // Other receivers' broadcasts arrive from port P: normal, not worth counting.
      if (rinfo.port !== this.options.portbase) this.stats.foreign++;
      return;
    }
    let msg: SenderMessage;
    try {
      msg = decodeFromSender(buf);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.stats.malformed++;
      this.log.debug('dropped malformed datagram', { from: rinfo.address, code: err.code, hex: buf.subarray(0, 32).toString('hex') });
      return;
    }
    if (this.connected) this.lastPacketAt = Date.now();
    switch (msg.op) {
      case Op.HELLO:
      case Op.HELLO_NEW:
      case Op.HELLO_STREAMING:
        return this.onHello(msg, rinfo.address);
      case Op.CONNECT_REPLY:
        return this.onConnectReply(msg, rinfo.address);
      case Op.DATA:
        if (this.connected) this.onData(msg.slice, msg.block, msg.sliceBytes, msg.payload);
        return;
      case Op.FEC:
        if (this.connected) this.stats.fecIgnored++;
        return;
      case Op.REQACK:
        if (this.connected) this.onReqAck(msg);
        return;
    }
  }

  private onHello(m: Hello, from: string): void {
    if (this.connected) return;
    if (m.capabilities & Cap.ASYNC) {
      return this.life.fail(
        new CastError('CAST_UNSUPPORTED', `sender ${from} runs in async (--async) mode, which this receiver does not support`, {
          remedy: 'run the sender without --async',
        }),
      );
    }
    this.senderAddress = from;
    this.sendConnectReq();
  }

  private onConnectReply(m: ConnectReply, from: string): void {
    if (this.connected) return;
    if (m.clientNumber < 0) {
      return this.life.fail(
        new CastError('CAST_REFUSED', `sender ${from} refused this receiver: its transfer already started, or it is full`, {
          details: { sender: from },
          remedy: 'wait for the next transfer (start receivers before the sender starts sending)',
        }),
      );
    }
    this.senderAddress = from;
    this.connected = true;
    this.slot = m.clientNumber;
    this.blockSize = m.blockSize;
    this.lastPacketAt = Date.now();
    const group = m.dataAddress;
    if (group !== '0.0.0.0' && group !== this.iface.address && group !== this.rdv && isMulticast(group)) {
      this.sock!.addMembership(group, this.iface.address);
    }
    this.log.info('connected', { sender: from, slot: m.clientNumber, dataAddress: group, blockSize: m.blockSize });
    this.emit('connected', { sender: from, slot: m.clientNumber, blockSize: m.blockSize, dataAddress: group });
  }

  private markStarted(): void {
    if (this.started) return;
    this.started = true;
    this.startedAt = Date.now();
    this.emit('started');
  }

  /**
   * udp-sender keeps at most two slices in flight, ours WIDE_WINDOW_SLICES when every
   * receiver is ours: it opens slice n+W only once every live receiver confirmed slice n.
   * Packets that far ahead of our oldest incomplete slice therefore prove the sender no
   * longer waits for us; several are required, so that one stray datagram cannot end a
   * transfer, and absurd slice numbers are noise. (Behind udp-sender this notices a drop
   * two slices later than it could.)
   */
  private usable(slice: number): boolean {
    if (slice < this.nextToWrite + WIDE_WINDOW_SLICES) return true;
    if (slice > this.nextToWrite + PLAUSIBLE_SLICES_AHEAD) {
      this.stats.malformed++;
      return false;
    }
    if (++this.aheadEvidence < DROP_EVIDENCE_PACKETS) return false;
    this.life.fail(
      new CastError('CAST_DROPPED', `the sender dropped this receiver: it sent slice ${slice} while slice ${this.nextToWrite} is incomplete here`, {
        details: { slice, missing: this.nextToWrite, sender: this.senderAddress },
        remedy: 'check packet loss and CPU load on this node; the sender log names the reason',
      }),
    );
    return false;
  }

  private sliceFor(no: number, bytes: number): RxSlice | null {
    let rx = this.slices.get(no);
    if (!rx) {
      const blocks = Math.ceil(bytes / this.blockSize);
      if (blocks > MAX_BLOCKS_PER_SLICE) {
        this.stats.malformed++;
        return null;
      }
      rx = { no, bytes, blocks, held: newBitmap(), count: 0, data: Buffer.allocUnsafe(bytes) };
      this.slices.set(no, rx);
    } else if (rx.bytes !== bytes) {
      this.stats.malformed++;
      return null;
    }
    return rx;
  }

  private onData(slice: number, block: number, sliceBytes: number, payload: Uint8Array): void {
    this.markStarted();
    if (slice < 0 || sliceBytes < 0) {
      this.stats.malformed++;
      return;
    }
    if (slice < this.nextToWrite) {
      this.stats.duplicates++;
      return;
    }
    if (!this.usable(slice)) return;
    const rx = this.sliceFor(slice, sliceBytes);
    if (!rx) return;
    const off = block * this.blockSize;
    if (block >= rx.blocks || payload.length !== Math.min(this.blockSize, rx.bytes - off)) {
      this.stats.malformed++;
      return;
    }
    const bit = 1 << (block & 7);
    if (rx.held[block >> 3]! & bit) {
      this.stats.duplicates++;
      return;
    }
    rx.data.set(payload, off);
    rx.held[block >> 3]! |= bit;
    rx.count++;
    this.stats.blocks++;
    if (rx.count === rx.blocks) this.flush();
  }

  /** Writes every complete slice at the head of the line, in order. */
  private flush(): void {
    for (;;) {
      const rx = this.slices.get(this.nextToWrite);
      if (!rx || rx.count < rx.blocks || rx.bytes === 0) return;
      this.slices.delete(rx.no);
      this.output.write(rx.data);
      this.stats.bytes += rx.bytes;
      this.stats.slices++;
      this.nextToWrite++;
      this.aheadEvidence = 0;
    }
  }

  private onReqAck(m: ReqAck): void {
    this.markStarted();
    if ((m.ready[this.slot >> 3]! & (1 << (this.slot & 7))) !== 0) return;
    if (m.slice < this.nextToWrite) return this.sendToSender(encodeOk(m.slice));
    if (!this.usable(m.slice)) return;
    if (m.sliceBytes === 0) {
      // End of transfer. Confirm only once every earlier slice is complete.
      if (m.slice === this.nextToWrite) this.onEnd(m.slice);
      return;
    }
    const rx = this.sliceFor(m.slice, m.sliceBytes);
    if (!rx) return;
    if (rx.count === rx.blocks && this.output.writableLength <= this.options.maxBufferedBytes) {
      return this.sendToSender(encodeOk(m.slice));
    }
    if (rx.count < rx.blocks) this.stats.retransmitRequests++;
    // While the output is behind, a complete slice answers "have it all" without OK:
    // the sender resends nothing and asks again later.
    this.sendToSender(encodeRetransmit({ slice: m.slice, rxmit: m.rxmit, held: rx.held }));
  }

  private onEnd(slice: number): void {
    this.sendToSender(encodeOk(slice));
    if (this.ending) return;
    this.ending = true;
    this.endedAt = Date.now();
    this.log.info('transfer complete', { bytes: this.stats.bytes });
    // Linger to answer REQACKs whose OK got lost, as udp-receiver does.
    setTimeout(() => this.finish(), this.options.exitWaitMs);
  }

  private checkTimeouts(): void {
    if (this.life.finished || this.ending) return;
    const o = this.options;
    const now = Date.now();
    if (!this.started && o.startTimeoutMs !== undefined && now - this.listenAt > o.startTimeoutMs) {
      this.life.fail(
        new CastError('CAST_START_TIMEOUT', `the transfer did not start within ${o.startTimeoutMs / 1000} s`, {
          details: { sender: this.senderAddress, connected: this.connected, rendezvous: this.rdv },
          remedy: this.connected
            ? 'the sender is waiting for more receivers (see its --min-receivers / --max-wait)'
            : `no sender answered on ${this.rdv} port ${o.portbase + 1}: check the sender runs with the same --portbase and that broadcast/multicast reaches this node`,
        }),
      );
    } else if (this.started && o.receiveTimeoutMs !== undefined && now - this.lastPacketAt > o.receiveTimeoutMs) {
      this.life.fail(
        new CastError('CAST_RECEIVE_TIMEOUT', `no packet from the sender for ${o.receiveTimeoutMs / 1000} s`, {
          details: { sender: this.senderAddress, bytes: this.stats.bytes },
          remedy: 'the sender stopped or the network path broke (check IGMP snooping and the link)',
        }),
      );
    }
  }

  /** The last one, sent at the end, says 'transfer' too: the status line and the agent take their final figures from it. */
  private emitProgress(): void {
    const now = Date.now();
    this.emit('progress', {
      phase: this.started ? 'transfer' : 'waiting',
      bytes: this.stats.bytes,
      elapsedMs: this.started ? now - this.startedAt : 0,
      rateBytesPerSec: this.life.rate(this.stats.bytes, now),
      retransmitRequests: this.stats.retransmitRequests,
    });
  }

  private finish(): void {
    if (this.life.finished) return;
    this.emitProgress();
    this.life.finish({
      sender: this.senderAddress ?? '',
      slot: this.slot,
      durationMs: this.startedAt ? this.endedAt - this.startedAt : 0,
      stats: { ...this.stats },
    });
  }

  private close(): void {
    // Done or failed, tell the sender at once, so the others do not wait for our drop timeout.
    if (this.connected) this.sendToSender(encodeSignal(Op.DISCONNECT));
    // dgram sends the DISCONNECT on a later tick: closing the socket now would drop it.
    setImmediate(() => {
      this.batch?.stop();
      this.sock?.close();
      this.sock = null;
    });
  }
}
