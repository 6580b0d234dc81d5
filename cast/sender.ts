import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { silentLogger, type Logger } from '../common/log.ts';
import { BatchWriter, ipToInt, isMulticast, sameSubnet, unbatchedReason, type BatchIo as CastIo } from '../udp/index.ts';
import { CAPS_DEFAULT, decodeFromReceiver, encodeConnectReply, encodeHello, Op, type ReceiverMessage } from './codec/index.ts';
import {
  DEFAULT_BLOCK_SIZE,
  DEFAULT_DROP_TIMEOUT_MS,
  DEFAULT_HELLO_INTERVAL_MS,
  DEFAULT_PORTBASE,
  DEFAULT_QUIET_START_MS,
  DEFAULT_SNDBUF_BYTES,
  MAX_SLICE_BLOCKS,
  MIN_SLICE_BLOCKS,
  PROGRESS_INTERVAL_MS,
  RX_TRUESIZE_BYTES,
} from './constants.ts';
import { CastError, DecodeError } from './errors.ts';
import { Endpoint, type CastWarning } from './endpoint.ts';
import { defaultDataAddress, openSocket, rendezvousAddress, resolveInterface, type NetInterface } from './net.ts';
import { Pacer } from './pacer.ts';
import { Participants, type Participant, type ReceiverStatus } from './participants.ts';
import { packetOf, runOf, SliceReader, type CastInput, type OutSlice } from './slice-reader.ts';
import { SliceWindow, type TxSlice } from './slice-window.ts';
import { StartCondition, type StartOptions } from './start-condition.ts';

export interface SenderOptions extends StartOptions {
  /** NIC name or IPv4 address; default: the first eth*, en* or other interface. */
  interface?: string;
  portbase: number;
  maxBitrate?: number;
  blockSize: number;
  /** Blocks per slice; default: what the smallest receiver buffer holds, 32..1024. */
  sliceBlocks?: number;
  mcastDataAddress?: string;
  mcastRdvAddress?: string;
  ttl: number;
  /** udpcast's rule: 'auto' sends unicast when exactly one receiver is connected. */
  pointToPoint: 'auto' | 'on' | 'off';
  dropTimeoutMs: number;
  helloIntervalMs: number;
  sndbufBytes: number;
  /** Send data with sendmmsg when the addon is built (udp/); false: plain dgram. */
  batchIo: boolean;
}

export const SENDER_DEFAULTS: SenderOptions = {
  portbase: DEFAULT_PORTBASE,
  minWaitMs: 0,
  quietStartMs: DEFAULT_QUIET_START_MS,
  blockSize: DEFAULT_BLOCK_SIZE,
  ttl: 1,
  pointToPoint: 'auto',
  dropTimeoutMs: DEFAULT_DROP_TIMEOUT_MS,
  helloIntervalMs: DEFAULT_HELLO_INTERVAL_MS,
  sndbufBytes: DEFAULT_SNDBUF_BYTES,
  batchIo: true,
};

export interface ReceiverReport {
  slot: number;
  address: string;
  status: ReceiverStatus;
  bytesAcked: number;
  reason?: string;
}

export interface SenderStats {
  bytes: number;
  slices: number;
  blocksSent: number;
  blocksRetransmitted: number;
  /** Of those, sent only to the one receiver that asked (batched I/O, multicast mode). */
  unicastRetransmits: number;
  reqacksSent: number;
  /** Most slices unconfirmed at once: the window (2 with a udp-receiver, 4 with ours only) when the sender ran ahead. */
  maxSlicesInFlight: number;
  /** Datagrams dropped: not a udpcast message, wrong source, or a late joiner. */
  malformed: number;
  foreign: number;
  refused: number;
}

export interface SendResult {
  ok: boolean;
  durationMs: number;
  receivers: ReceiverReport[];
  stats: SenderStats;
}

export interface SenderProgress {
  phase: 'waiting' | 'transfer' | 'done';
  bytes: number;
  elapsedMs: number;
  rateBytesPerSec: number;
  receivers: number;
  blocksRetransmitted: number;
}

export type SenderEvents = {
  listening: [{ interface: NetInterface; rendezvous: string; dataAddress: string; portbase: number; io: CastIo }];
  'receiver-joined': [ReceiverReport];
  'receiver-left': [ReceiverReport];
  started: [{ receivers: number; pointToPoint: boolean; sliceBlocks: number; dataAddress: string }];
  progress: [SenderProgress];
  warning: [CastWarning];
};

/**
 * One-to-many sender speaking udpcast's protocol. Reads a byte stream, waits for its
 * start condition, then multicasts it slice by slice until every receiver confirmed it.
 * Unlike udp-sender it re-answers connection requests at any time, drops a silent
 * receiver after a bounded time, and reports per receiver whether it got everything.
 * It owns the sockets and the order of what goes out; the slice window, the pacer and the
 * start condition (their own files) decide what is due and when.
 */
export class CastSender extends EventEmitter<SenderEvents> {
  readonly options: SenderOptions;
  private readonly log: Logger;
  private readonly participants = new Participants();
  private readonly stats: SenderStats = {
    bytes: 0,
    slices: 0,
    blocksSent: 0,
    blocksRetransmitted: 0,
    unicastRetransmits: 0,
    reqacksSent: 0,
    maxSlicesInFlight: 0,
    malformed: 0,
    foreign: 0,
    refused: 0,
  };
  private readonly life: Endpoint<SendResult>;
  private readonly window: SliceWindow;
  private readonly pacer: Pacer;
  private startCondition!: StartCondition;

  private iface!: NetInterface;
  private rdv = '';
  private dataAddress = '';
  private ctrl: dgram.Socket | null = null;
  private data: dgram.Socket | null = null;
  private batch: BatchWriter | null = null;
  private started = false;
  private startedAt = 0;
  /** Data goes to the one receiver's own address (udpcast's point-to-point mode). */
  private pointToPoint = false;
  private lastHelloAt = 0;
  private sliceBlocks = MAX_SLICE_BLOCKS;
  private reader!: SliceReader;
  private readySlice: OutSlice | null = null;
  private reading = false;

  constructor(options: Partial<SenderOptions> = {}, deps: { log?: Logger } = {}) {
    super();
    this.options = { ...SENDER_DEFAULTS, ...options };
    this.log = deps.log ?? silentLogger;
    this.life = new Endpoint({ log: this.log, warning: (w) => this.emit('warning', w), close: () => this.close() });
    this.window = new SliceWindow(this.participants, {
      pump: () => this.pacer.schedule(),
      completed: (ts) => this.onSliceComplete(ts),
      // It may have lost its CONNECT_REPLY: udp-receiver asks again only when it hears a
      // HELLO, so do not make it wait for the periodic one.
      unconfirmedSilent: () => this.sendHello(),
    });
    this.pacer = new Pacer(this.options.maxBitrate, {
      next: (budget) => this.sendNext(budget),
      flush: () => this.batch?.flush(),
      running: () => this.started && !this.life.finished,
    });
  }

  /** Sends `input` to every receiver that joins; resolves with a per-receiver report. */
  send(input: CastInput, opts: { signal?: AbortSignal } = {}): Promise<SendResult> {
    return this.life.run(() => this.open(input), opts.signal);
  }

  private async open(input: CastInput): Promise<void> {
    const o = this.options;
    this.reader = new SliceReader(input, o.blockSize);
    this.iface = resolveInterface(o.interface);
    this.rdv = rendezvousAddress(this.iface, o);
    this.dataAddress = o.mcastDataAddress ?? defaultDataAddress(this.iface.address);
    this.ctrl = await openSocket({ port: o.portbase + 1, broadcast: true, sndbufBytes: 1 << 20 });
    this.data = await openSocket({ port: o.portbase + 1, broadcast: true, sndbufBytes: o.sndbufBytes });
    // Aborted while the sockets opened: close() ran before they existed.
    if (this.life.finished) return this.close();
    for (const sock of [this.ctrl, this.data]) {
      sock.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
      sock.on('error', (err) => this.life.warn('CAST_SOCKET', `socket error: ${err.message}`));
    }
    this.data.setMulticastInterface(this.iface.address);
    this.data.setMulticastTTL(o.ttl);
    this.ctrl.setMulticastInterface(this.iface.address);
    this.ctrl.setMulticastTTL(o.ttl);
    if (isMulticast(this.rdv)) this.ctrl.addMembership(this.rdv, this.iface.address);
    if (o.batchIo) {
      this.batch = BatchWriter.open(this.data, o.portbase, {
        pending: () => this.pacer.pendingSends,
        send: (pkt) => this.sendNow(pkt),
        error: (err) => this.life.warn('CAST_SEND', `send failed: ${err.message}`),
      });
    }
    const unusable = o.batchIo && unbatchedReason(this.batch !== null);
    if (unusable) this.life.warn('CAST_MMSG', `batched I/O unavailable, using plain dgram: ${unusable}`);
    const io: CastIo = this.batch ? 'mmsg' : 'dgram';
    this.startCondition = new StartCondition(o, Date.now());
    this.emit('listening', { interface: this.iface, rendezvous: this.rdv, dataAddress: this.dataAddress, portbase: o.portbase, io });
    this.log.info('waiting for receivers', { interface: this.iface.name, rendezvous: this.rdv, portbase: o.portbase, io });
    this.sendHello();
    this.life.every(o.helloIntervalMs, () => {
      if (!this.started || this.participants.live().some((p) => !p.confirmed)) this.sendHello();
    });
    this.life.every(100, () => this.checkStart());
    this.life.every(200, () => this.checkDrops());
    this.life.every(PROGRESS_INTERVAL_MS, () => this.emitProgress(this.started ? 'transfer' : 'waiting'));
  }

  // ---- negotiation -------------------------------------------------------------------

  private sendHello(): void {
    const now = Date.now();
    if (now - this.lastHelloAt < 100) return;
    this.lastHelloAt = now;
    const pkt = encodeHello({
      op: Op.HELLO,
      capabilities: CAPS_DEFAULT,
      dataAddress: this.options.pointToPoint === 'on' ? '0.0.0.0' : this.dataAddress,
      blockSize: this.options.blockSize,
    });
    this.ctrl?.send(pkt, this.options.portbase, this.rdv, (err) => {
      if (err) this.life.warn('CAST_SEND', `HELLO to ${this.rdv}: ${err.message}`);
    });
  }

  private onDatagram(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.life.finished) return;
    if (rinfo.port !== this.options.portbase || (!isMulticast(this.rdv) && !sameSubnet(rinfo.address, this.iface.address, this.iface.netmask))) {
      this.stats.foreign++;
      return;
    }
    let msg: ReceiverMessage;
    try {
      msg = decodeFromReceiver(buf);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      this.stats.malformed++;
      this.log.debug('dropped malformed datagram', { from: rinfo.address, code: err.code, hex: buf.subarray(0, 32).toString('hex') });
      return;
    }
    const now = Date.now();
    this.startCondition.heard(now);
    const p = this.participants.get(rinfo.address);
    switch (msg.op) {
      case Op.CONNECT_REQ:
        return this.onConnectReq(rinfo.address, msg.capabilities, msg.rcvbufBytes, now);
      case Op.GO:
        if (!this.started && p) this.startTransfer('GO from a receiver');
        return;
      case Op.DISCONNECT:
        if (p) this.onDisconnect(p);
        return;
      case Op.OK:
      case Op.RETRANSMIT:
        if (p) this.window.answer(p, msg.slice, msg.op === Op.RETRANSMIT ? msg : null);
        return;
    }
  }

  private onConnectReq(address: string, caps: number, rcvbuf: number, now: number): void {
    const known = this.participants.get(address);
    if (this.started && !known) {
      // udp-sender ignores late joiners and leaves them hanging; refuse them explicitly.
      this.stats.refused++;
      this.reply(address, -1);
      this.life.warn('CAST_LATE_RECEIVER', `refused ${address}: the transfer already started`);
      return;
    }
    if (!this.started && this.options.pointToPoint === 'on' && !known && this.participants.live().length >= 1) {
      this.stats.refused++;
      this.reply(address, -1);
      return;
    }
    const p = known && known.status === 'connected' ? known : this.participants.add(address, caps, rcvbuf, now);
    if (!p || p.status !== 'connected') {
      this.stats.refused++;
      this.reply(address, -1);
      return;
    }
    this.reply(address, p.slot);
    if (!known) {
      this.startCondition.joined(now);
      this.log.info('receiver joined', { address, slot: p.slot, rcvbuf });
      this.emit('receiver-joined', report(p));
    }
  }

  private replyPacket(address: string, clientNumber: number): Buffer {
    return encodeConnectReply({
      clientNumber,
      blockSize: this.options.blockSize,
      capabilities: CAPS_DEFAULT,
      dataAddress: this.options.pointToPoint === 'on' ? address : this.dataAddress,
    });
  }

  private reply(address: string, clientNumber: number): void {
    const pkt = this.replyPacket(address, clientNumber);
    this.ctrl?.send(pkt, this.options.portbase, address, (err) => {
      if (err) this.life.warn('CAST_SEND', `CONNECT_REPLY to ${address}: ${err.message}`);
    });
  }

  private checkStart(): void {
    if (this.started || this.life.finished) return;
    const o = this.options;
    const n = this.participants.live().length;
    const decision = this.startCondition.decide(Date.now(), n);
    if (decision.action === 'start') return this.startTransfer(decision.why);
    if (decision.action === 'give-up') {
      const err = new CastError('CAST_START_TIMEOUT', `no receiver showed up within ${decision.silentMs / 1000} s`, {
        details: { receivers: n, rendezvous: this.rdv, portbase: o.portbase },
        remedy: 'check that receivers run on the same network with the same --portbase, and that broadcast/multicast reaches them',
      });
      this.life.fail(err);
    }
  }

  private startTransfer(why: string): void {
    const o = this.options;
    const live = this.participants.live();
    if (live.length === 0) return;
    this.started = true;
    this.startedAt = Date.now();
    for (const p of live) p.lastAnswer = this.startedAt;
    this.pointToPoint = o.pointToPoint === 'on' || (o.pointToPoint === 'auto' && live.length === 1);
    const target = this.pointToPoint ? live[0]!.address : this.dataAddress;
    this.data!.connect(o.portbase, target);
    const minRcvbuf = Math.min(...live.map((p) => p.rcvbufBytes || 212992));
    this.sliceBlocks = o.sliceBlocks ?? clamp(Math.floor(minRcvbuf / RX_TRUESIZE_BYTES), MIN_SLICE_BLOCKS, MAX_SLICE_BLOCKS);
    this.log.info('starting transfer', { why, receivers: live.length, pointToPoint: this.pointToPoint, sliceBlocks: this.sliceBlocks });
    this.emit('started', { receivers: live.length, pointToPoint: this.pointToPoint, sliceBlocks: this.sliceBlocks, dataAddress: target });
    this.data!.once('connect', () => this.prefetch());
  }

  // ---- input -------------------------------------------------------------------------

  /** Reads the next slice while the current ones are on the wire. */
  private prefetch(): void {
    if (this.reading || this.readySlice || this.window.endOpened) return;
    this.reading = true;
    this.reader.next(this.sliceBlocks).then(
      (s) => {
        this.reading = false;
        this.readySlice = s;
        this.pacer.schedule();
      },
      (err: Error) =>
        this.life.fail(new CastError('CAST_INPUT', `reading the input failed: ${err.message}`, { cause: err, remedy: 'check the input file or pipe' })),
    );
  }

  // ---- data phase --------------------------------------------------------------------

  private sendData(pkt: Buffer, to = 0): void {
    if (this.batch) this.batch.push(pkt, to);
    else this.sendNow(pkt);
  }

  private sendNow(pkt: Buffer): void {
    this.pacer.sending();
    this.data!.send(pkt, this.onSent);
  }

  private readonly onSent = (err: Error | null): void => {
    this.pacer.sent();
    if (err) this.life.warn('CAST_SEND', `send failed: ${err.message}`);
  };

  /**
   * Sends what goes out next: retransmissions first, then due REQACKs, then the first pass
   * of the newest slice (up to `budget` blocks of it at once), then a new slice when the
   * window allows. Returns how many datagrams went: 0 when there is nothing to send now, or
   * the rate limit holds the packet back (the pacer resumes then). The bookkeeping changes
   * only once the packet goes.
   */
  private sendNext(budget: number): number {
    const w = this.window;
    const resend = w.resendDue();
    if (resend) {
      const pkt = packetOf(resend.s, resend.queue[0]!);
      if (!this.pacer.mayGo(pkt.length)) return 0;
      const to = this.unicastTo(w.resent(resend));
      this.stats.blocksRetransmitted++;
      if (to) this.stats.unicastRetransmits++;
      this.sendData(pkt, to);
      return 1;
    }
    const due = w.reqackDue();
    if (due) {
      const pkt = w.reqackPacket(due);
      if (!this.pacer.mayGo(pkt.length)) return 0;
      const lead = this.repliesBeforeReqAck();
      w.reqackSent(due);
      this.stats.reqacksSent++;
      if (lead) for (const p of lead) this.sendData(p);
      this.sendData(pkt);
      return 1;
    }
    const newest = w.newest();
    if (newest && newest.sent < newest.s.blocks) {
      const s = newest.s;
      let n = 1;
      if (this.batch && !this.pacer.limited) {
        // The first pass: the next blocks lie back to back in the slice's buffer, so they go
        // as one run (GSO messages) instead of a view and a call per datagram, which makes
        // the sender faster where it bounds the rate (docs/cast.md, Batched I/O).
        // --max-bitrate takes them one by one.
        n = Math.min(budget, s.blocks - newest.sent);
        const r = runOf(s, newest.sent, n);
        this.batch.sendRun(s.packets, r.off, n, r.stride, r.last);
      } else {
        const pkt = packetOf(s, newest.sent);
        if (!this.pacer.mayGo(pkt.length)) return 0;
        this.sendData(pkt);
      }
      w.firstPassSent(newest, n);
      this.stats.blocksSent += n;
      return n;
    }
    if (!w.canOpen(this.readySlice)) return 0;
    w.open(this.readySlice!);
    this.stats.maxSlicesInFlight = Math.max(this.stats.maxSlicesInFlight, w.size);
    this.readySlice = null;
    this.prefetch();
    return this.sendNext(budget);
  }

  /**
   * A block only one receiver lacks goes to that receiver alone: resent to the group, each
   * receiver's host would take (and drop) a copy, and a switch without IGMP snooping would
   * flood it to every port. Only rackcast receivers (GAP_TOLERANT) get this: in multicast
   * mode udp-receiver reads data from its group socket only and would wait forever. Needs
   * the batched writer: dgram cannot address a connected socket's datagram elsewhere.
   */
  private unicastTo(askedBy: string | null | undefined): number {
    return askedBy && this.batch && !this.pointToPoint ? ipToInt(askedBy) : 0;
  }

  /**
   * Point-to-point, REQACKs reach a receiver that may still wait for its lost CONNECT_REPLY,
   * and udp-receiver aborts on them ("Bad server reply"). Until it answered, each REQACK
   * follows two copies of its reply on the same connected socket, so they arrive first; a
   * connected udp-receiver only logs them as unexpected.
   */
  private repliesBeforeReqAck(): Buffer[] | undefined {
    if (!this.pointToPoint) return undefined;
    const p = this.participants.live()[0];
    if (!p || p.confirmed) return undefined;
    const pkt = this.replyPacket(p.address, p.slot);
    return [pkt, pkt];
  }

  private onSliceComplete(ts: TxSlice): void {
    this.reader.release(ts.s);
    this.stats.slices++;
    this.stats.bytes += ts.s.bytes;
    if (ts.s.bytes === 0) return this.finish(true);
    this.pacer.schedule();
  }

  private onDisconnect(p: Participant): void {
    if (!this.started) {
      this.participants.forget(p);
      this.log.info('receiver left before the start', { address: p.address });
      this.emit('receiver-left', report(p));
      return;
    }
    if (p.status !== 'connected') return;
    this.removeLive(p, 'disconnected', 'it disconnected before the end');
  }

  private checkDrops(): void {
    if (!this.started || this.life.finished) return;
    const now = Date.now();
    for (const p of this.participants.live()) {
      const owed = this.window.owedSince(p);
      if (!owed) continue;
      const since = Math.max(p.lastAnswer, owed);
      if (now - since > this.options.dropTimeoutMs) {
        this.removeLive(p, 'dropped', `no answer for ${((now - since) / 1000).toFixed(1)} s`);
      }
    }
  }

  private removeLive(p: Participant, status: 'dropped' | 'disconnected', reason: string): void {
    this.participants.setStatus(p, status, reason);
    this.log.warn(`receiver ${status}`, { address: p.address, slot: p.slot, reason });
    this.emit('receiver-left', report(p));
    if (this.participants.live().length === 0) return this.finish(false);
    this.window.recheck();
  }

  // ---- end ---------------------------------------------------------------------------

  private emitProgress(phase: SenderProgress['phase']): void {
    const now = Date.now();
    const bytes = this.stats.bytes;
    this.emit('progress', {
      phase,
      bytes,
      elapsedMs: this.started ? now - this.startedAt : 0,
      rateBytesPerSec: this.life.rate(bytes, now),
      receivers: phase === 'done' ? this.participants.all().filter((p) => p.status === 'done').length : this.participants.live().length,
      blocksRetransmitted: this.stats.blocksRetransmitted,
    });
  }

  /** `ended`: every live receiver confirmed the end marker. */
  private finish(ended: boolean): void {
    if (this.life.finished) return;
    for (const p of [...this.participants.live()]) this.participants.setStatus(p, ended ? 'done' : 'dropped');
    const receivers = this.participants.all().map(report);
    const ok = receivers.length > 0 && receivers.every((r) => r.status === 'done');
    this.emitProgress('done');
    this.life.finish({ ok, durationMs: this.startedAt ? Date.now() - this.startedAt : 0, receivers, stats: { ...this.stats } });
  }

  private close(): void {
    this.window.close();
    this.pacer.close();
    this.ctrl?.close();
    this.data?.close();
    this.ctrl = this.data = null;
  }
}

function report(p: Participant): ReceiverReport {
  const r: ReceiverReport = { slot: p.slot, address: p.address, status: p.status, bytesAcked: p.bytesAcked };
  if (p.reason) r.reason = p.reason;
  return r;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, v));
}
