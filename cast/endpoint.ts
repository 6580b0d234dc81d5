import type { Logger } from '../common/log.ts';
import { CastError } from './errors.ts';

// The endpoint lifecycle a sender and a receiver share: one transfer per object, run from open()
// until it settles with a result or an error, after which every handler does nothing.

export interface CastWarning {
  code: string;
  message: string;
}

export interface EndpointHooks {
  log: Logger;
  /** Emits the owner's 'warning' event. */
  warning: (w: CastWarning) => void;
  /** Ends the owner's part (a last word to the peer, sockets, its own timers); the intervals are stopped already. */
  close: () => void;
}

export class Endpoint<R> {
  private settled = false;
  private readonly hooks: EndpointHooks;
  private readonly timers: NodeJS.Timeout[] = [];
  private resolve!: (r: R) => void;
  private reject!: (e: Error) => void;
  private lastProgress = { at: 0, bytes: 0 };

  constructor(hooks: EndpointHooks) {
    this.hooks = hooks;
  }

  /** The transfer settled; handlers check it, as datagrams and timers may still arrive. */
  get finished(): boolean {
    return this.settled;
  }

  /** Runs `open` and settles with what finish() or fail() gives later; an abort fails it. */
  run(open: () => Promise<void>, signal?: AbortSignal): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      signal?.addEventListener('abort', () => this.fail(new CastError('CAST_ABORTED', 'transfer aborted')), { once: true });
      open().catch((err: Error) => this.fail(err));
    });
  }

  /** An interval timer that lives until the transfer settles. */
  every(ms: number, fn: () => void): void {
    this.timers.push(setInterval(fn, ms));
  }

  finish(result: R): void {
    if (this.finished) return;
    this.close();
    this.resolve(result);
  }

  fail(err: Error): void {
    if (this.finished) return;
    this.close();
    this.reject(err);
  }

  warn(code: string, message: string): void {
    this.hooks.log.warn(message, { code });
    this.hooks.warning({ code, message });
  }

  /** Bytes per second since the previous call (0 on the first): progress shows the current rate, not the average. */
  rate(bytes: number, now: number): number {
    const dt = now - (this.lastProgress.at || now);
    const rate = dt > 0 ? ((bytes - this.lastProgress.bytes) * 1000) / dt : 0;
    this.lastProgress = { at: now, bytes };
    return rate;
  }

  private close(): void {
    this.settled = true;
    for (const t of this.timers) clearInterval(t);
    this.hooks.close();
  }
}
