import { ApiError } from '../errors.ts';

// Per-node budgets for what an agent may write (log lines, step reports): a token bucket
// each, refilled at `perSec` up to `burst`. A well-behaved agent stays far below; one that
// floods (or a stolen token that does) gets 429 and the database does not grow with it.

export interface Budget {
  perSec: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets idle this long are forgotten, so the map holds only nodes that write now. */
const IDLE_MS = 10 * 60_000;

export class RateLimit {
  private readonly buckets = new Map<string, Bucket>();
  private readonly budget: Budget;
  private readonly what: string;
  private readonly now: () => number;
  private sweptAt = 0;

  constructor(what: string, budget: Budget, now: () => number = Date.now) {
    this.what = what;
    this.budget = budget;
    this.now = now;
  }

  /** Takes `cost` from the node's bucket, or throws a 429 saying when to come back. */
  take(key: string, cost = 1): void {
    const now = this.now();
    this.sweep(now);
    const b = this.buckets.get(key) ?? { tokens: this.budget.burst, at: now };
    b.tokens = Math.min(this.budget.burst, b.tokens + ((now - b.at) / 1000) * this.budget.perSec);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return;
    }
    const waitSec = Math.ceil((cost - b.tokens) / this.budget.perSec);
    throw new ApiError(429, 'BOOT_API_RATE_LIMITED', `too many ${this.what} from this node: at most ${this.budget.perSec}/s`, {
      details: { retryAfterSec: waitSec },
      remedy: `send again in ${waitSec} s (the agent does this by itself)`,
    });
  }

  private sweep(now: number): void {
    if (now - this.sweptAt < IDLE_MS) return;
    this.sweptAt = now;
    for (const [k, b] of this.buckets) if (now - b.at > IDLE_MS) this.buckets.delete(k);
  }
}
