// When the sender stops waiting for receivers and starts the transfer. Pure: the sender
// reports joins and messages with its clock readings and asks for a decision.

export interface StartOptions {
  /** Start as soon as this many receivers joined (and minWaitMs passed). */
  minReceivers?: number;
  /** Never start earlier than this after the first receiver joined. */
  minWaitMs: number;
  /** Start this long after the first receiver joined, however many there are. */
  maxWaitMs?: number;
  /** Give up if no receiver says anything for this long before the start. */
  startTimeoutMs?: number;
  /** Without minReceivers/maxWaitMs: start this long after the last receiver joined. */
  quietStartMs: number;
}

export type StartDecision = { action: 'wait' } | { action: 'start'; why: string } | { action: 'give-up'; silentMs: number };

const WAIT: StartDecision = { action: 'wait' };

export class StartCondition {
  private readonly o: StartOptions;
  private firstJoinAt = 0;
  private lastJoinAt = 0;
  private lastHeardAt: number;

  /** `now`: when the sender began listening, the start timeout's first reference. */
  constructor(o: StartOptions, now: number) {
    this.o = o;
    this.lastHeardAt = now;
  }

  /** A receiver sent a well-formed message (malformed and foreign datagrams do not count). */
  heard(now: number): void {
    this.lastHeardAt = now;
  }

  /** A new receiver joined. */
  joined(now: number): void {
    if (!this.firstJoinAt) this.firstJoinAt = now;
    this.lastJoinAt = now;
  }

  /** What to do with `receivers` joined now. */
  decide(now: number, receivers: number): StartDecision {
    const o = this.o;
    if (o.startTimeoutMs !== undefined && now - this.lastHeardAt > o.startTimeoutMs) return { action: 'give-up', silentMs: o.startTimeoutMs };
    if (receivers === 0 || now - this.firstJoinAt < o.minWaitMs) return WAIT;
    if (o.maxWaitMs !== undefined && now - this.firstJoinAt >= o.maxWaitMs) return { action: 'start', why: 'max-wait reached' };
    if (o.minReceivers !== undefined) return receivers >= o.minReceivers ? { action: 'start', why: `${receivers} receivers joined` } : WAIT;
    // With a max wait but no receiver count, only the max wait starts the transfer.
    if (o.maxWaitMs === undefined && now - this.lastJoinAt >= o.quietStartMs) return { action: 'start', why: 'no new receiver for a while' };
    return WAIT;
  }
}
