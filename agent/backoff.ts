import { setTimeout as sleepTimer } from 'node:timers/promises';

// Exponential backoff with jitter, so a rack of nodes that lost the server at the same
// moment does not come back in lock-step.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** 0.5 spreads each delay over [50 %, 100 %] of its nominal value. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, jitter: 0.5 };

/** Delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const nominal = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(nominal * (1 - opts.jitter * random()));
}

/** Sleeps, resolving false early (instead of rejecting) when the signal aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  try {
    await sleepTimer(ms, undefined, signal ? { signal } : undefined);
    return true;
  } catch {
    return false;
  }
}
