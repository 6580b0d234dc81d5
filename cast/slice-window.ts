import { bitSet, Cap, encodeReqAck, newBitmap, type Retransmit } from './codec/index.ts';
import { MAX_REQACK_TIMEOUT_MS, MIN_REQACK_TIMEOUT_MS, UDPCAST_WINDOW_SLICES, WIDE_WINDOW_SLICES } from './constants.ts';
import type { Participant, Participants } from './participants.ts';
import type { OutSlice } from './slice-reader.ts';

// The sender's slices in flight: which may open, what each receiver answered, what to
// resend to whom, and when to ask again. It sends nothing itself: the sender asks it what
// is due and tells it what went.

/** A slice on its way: first pass, then REQACK rounds until every live receiver has it. */
export interface TxSlice {
  s: OutSlice;
  /** Blocks of the first pass sent so far. */
  sent: number;
  /** Blocks to resend, in the order asked for; `queued` has a bit per queued block. */
  queue: number[];
  queued: Uint8Array;
  /** Per queued block: the one receiver that asked for it, or null when several did. */
  askedBy: (string | null | undefined)[];
  /** Slots that confirmed the slice (OK); `readyMap` is the same set as REQACK carries it. */
  ready: Set<number>;
  readyMap: Uint8Array;
  /** Slots that answered for this slice at all. */
  seen: Set<number>;
  /** REQACKs sent so far; the last one carried rxmit = rounds - 1. */
  rounds: number;
  /** Slots that answered the current round. */
  answered: Set<number>;
  /** Some receiver asked for blocks in the current round. */
  requested: boolean;
  reqackDue: boolean;
  reqackSentAt: number;
  firstReqackAt: number;
  timer: NodeJS.Timeout | null;
  /** Rounds in a row that timed out: each doubles the next timeout. */
  quietRounds: number;
}

export interface WindowHooks {
  /** Something may be due to send: a new round, or room for the next slice. */
  pump: () => void;
  /** Every live receiver confirmed `ts`; it has left the window. */
  completed: (ts: TxSlice) => void;
  /** A round timed out without an answer from a receiver that never answered any. */
  unconfirmedSilent: () => void;
}

export class SliceWindow {
  /** Oldest first. */
  private slices: TxSlice[] = [];
  private ended = false;
  /** Smoothed REQACK answer delay, which sets the round timeout. */
  private srttMs = 10;
  private readonly participants: Participants;
  private readonly hooks: WindowHooks;

  constructor(participants: Participants, hooks: WindowHooks) {
    this.participants = participants;
    this.hooks = hooks;
  }

  /** Slices in flight. */
  get size(): number {
    return this.slices.length;
  }

  /** The end marker (a slice of 0 bytes) is open: no slice follows it. */
  get endOpened(): boolean {
    return this.ended;
  }

  /**
   * The window: with a udp-receiver in the group, the one it survives: slice n+2 only once
   * every live receiver confirmed slice n (it aborts on a packet two slices past its oldest
   * incomplete one), and slice n+1 only once it answered for slice n (it aborts if it never
   * saw a slice). Receivers that are all ours (GAP_TOLERANT) take WIDE_WINDOW_SLICES. The
   * end marker goes out alone, after every data slice is confirmed.
   */
  canOpen(s: OutSlice | null): boolean {
    if (!s || this.ended) return false;
    if (s.bytes === 0) return this.slices.length === 0;
    const live = this.participants.live();
    const ours = live.every((p) => p.capabilities & Cap.GAP_TOLERANT);
    const oldest = this.slices[0];
    if (oldest && s.no - oldest.s.no >= (ours ? WIDE_WINDOW_SLICES : UDPCAST_WINDOW_SLICES)) return false;
    const prev = this.slices.find((t) => t.s.no === s.no - 1);
    if (!prev) return true;
    if (prev.sent < prev.s.blocks) return false;
    return live.every((p) => p.capabilities & Cap.GAP_TOLERANT || prev.seen.has(p.slot));
  }

  open(s: OutSlice): void {
    if (s.bytes === 0) this.ended = true;
    this.slices.push({
      s,
      sent: 0,
      queue: [],
      queued: newBitmap(),
      askedBy: [],
      ready: new Set(),
      readyMap: newBitmap(),
      seen: new Set(),
      rounds: 0,
      answered: new Set(),
      requested: false,
      reqackDue: s.blocks === 0,
      reqackSentAt: 0,
      firstReqackAt: 0,
      timer: null,
      quietRounds: 0,
    });
  }

  /** The newest slice: the only one whose first pass may be unfinished. */
  newest(): TxSlice | undefined {
    return this.slices[this.slices.length - 1];
  }

  /** `n` more blocks of the first pass went; after the last one the first REQACK is due. */
  firstPassSent(ts: TxSlice, n: number): void {
    ts.sent += n;
    if (ts.sent === ts.s.blocks) ts.reqackDue = true;
  }

  /** The oldest slice with blocks to resend; its next block is `queue[0]`. */
  resendDue(): TxSlice | undefined {
    for (const ts of this.slices) if (ts.queue.length > 0) return ts;
    return undefined;
  }

  /** The next block of `ts` went out again; returns who alone asked for it (null: several, or a udp-receiver). */
  resent(ts: TxSlice): string | null | undefined {
    const block = ts.queue.shift()!;
    const askedBy = ts.askedBy[block];
    ts.queued[block >> 3]! &= ~(1 << (block & 7));
    ts.askedBy[block] = undefined;
    return askedBy;
  }

  /** The oldest slice whose next REQACK is due: after its first pass, and after each round. */
  reqackDue(): TxSlice | undefined {
    for (const ts of this.slices) if (ts.reqackDue && ts.sent === ts.s.blocks) return ts;
    return undefined;
  }

  reqackPacket(ts: TxSlice): Buffer {
    return encodeReqAck({ slice: ts.s.no, sliceBytes: ts.s.bytes, rxmit: ts.rounds, ready: ts.readyMap });
  }

  /** A REQACK for `ts` went: a new round starts, with a timeout that follows the answer delay. */
  reqackSent(ts: TxSlice): void {
    ts.reqackDue = false;
    ts.rounds++;
    ts.reqackSentAt = performance.now();
    if (!ts.firstReqackAt) ts.firstReqackAt = Date.now();
    ts.answered.clear();
    ts.requested = false;
    if (ts.timer) clearTimeout(ts.timer);
    // Twice the answer delay and a little, doubled for each round in a row that timed out.
    const timeout = Math.max(2 * this.srttMs + 2, MIN_REQACK_TIMEOUT_MS) * 2 ** Math.min(ts.quietRounds, 7);
    ts.timer = setTimeout(() => this.onRoundTimeout(ts), Math.min(timeout, MAX_REQACK_TIMEOUT_MS));
  }

  /** An OK (rexmit null) or a RETRANSMIT from `p` for slice `sliceNo`. */
  answer(p: Participant, sliceNo: number, rexmit: Retransmit | null): void {
    if (p.status !== 'connected') return;
    p.confirmed = true;
    p.lastAnswer = Date.now();
    const ts = this.slices.find((t) => t.s.no === sliceNo);
    if (!ts) return; // an answer for a slice already finished: nothing to do
    ts.seen.add(p.slot);
    if (!ts.answered.has(p.slot) && ts.reqackSentAt) {
      ts.answered.add(p.slot);
      const sample = performance.now() - ts.reqackSentAt;
      this.srttMs = 0.875 * this.srttMs + 0.125 * sample;
    }
    if (!rexmit) {
      if (!ts.ready.has(p.slot)) {
        ts.ready.add(p.slot);
        bitSet(ts.readyMap, p.slot);
        p.bytesAcked += ts.s.bytes;
      }
    } else if (rexmit.rxmit === ts.rounds - 1) {
      // Queue every block the receiver lacks and nobody queued yet. Answers to an older
      // round are stale: the receiver answers the newer REQACK as well.
      for (let b = 0; b < ts.s.blocks; b++) {
        const held = (rexmit.held[b >> 3]! & (1 << (b & 7))) !== 0;
        if (held || b >= ts.sent) continue;
        ts.requested = true;
        if ((ts.queued[b >> 3]! & (1 << (b & 7))) === 0) {
          ts.queued[b >> 3]! |= 1 << (b & 7);
          ts.queue.push(b);
          ts.askedBy[b] = p.capabilities & Cap.GAP_TOLERANT ? p.address : null;
        } else if (ts.askedBy[b] !== p.address) {
          ts.askedBy[b] = null;
        }
      }
    }
    this.settle(ts);
  }

  /** The live set shrank: a slice may now be complete, or its round answered. */
  recheck(): void {
    for (const ts of [...this.slices]) this.settle(ts);
  }

  /** When `p`'s oldest owed answer was first asked for (a REQACK for a slice it has not confirmed); 0 if it owes none. */
  owedSince(p: Participant): number {
    let since = 0;
    for (const ts of this.slices) {
      if (ts.firstReqackAt && !ts.ready.has(p.slot) && (!since || ts.firstReqackAt < since)) since = ts.firstReqackAt;
    }
    return since;
  }

  close(): void {
    for (const ts of this.slices) if (ts.timer) clearTimeout(ts.timer);
  }

  private settle(ts: TxSlice): void {
    const live = this.participants.live();
    if (live.every((p) => ts.ready.has(p.slot))) return this.complete(ts);
    if (ts.requested && !ts.reqackDue && live.every((p) => ts.answered.has(p.slot) || ts.ready.has(p.slot))) {
      // Everyone answered this round: re-ask right after the retransmissions. With
      // nothing to resend (a receiver holding back its OK), the round timer re-asks.
      if (ts.timer) clearTimeout(ts.timer);
      ts.timer = null;
      ts.quietRounds = 0;
      this.nextRound(ts);
    }
    this.hooks.pump();
  }

  private complete(ts: TxSlice): void {
    if (ts.timer) clearTimeout(ts.timer);
    ts.timer = null;
    this.slices = this.slices.filter((t) => t !== ts);
    this.hooks.completed(ts);
  }

  private onRoundTimeout(ts: TxSlice): void {
    ts.timer = null;
    if (!this.slices.includes(ts)) return;
    ts.quietRounds++;
    if (this.participants.live().some((p) => !p.confirmed && !ts.answered.has(p.slot))) this.hooks.unconfirmedSilent();
    this.nextRound(ts);
  }

  private nextRound(ts: TxSlice): void {
    ts.reqackDue = true;
    this.hooks.pump();
  }
}
