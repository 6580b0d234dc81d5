import { describe, expect, test } from 'vitest';
import { StartCondition, type StartOptions } from '../../../cast/start-condition.ts';

// The sender's start decision, on a clock the test sets: t is ms since the sender began
// listening.

const QUIET = 2000;

function condition(o: Partial<StartOptions>): StartCondition {
  return new StartCondition({ minWaitMs: 0, quietStartMs: QUIET, ...o }, 0);
}

describe('without --min-receivers or --max-wait', () => {
  test('starts once no new receiver joined for the quiet time', () => {
    const c = condition({});
    c.joined(1000);
    expect(c.decide(1000 + QUIET - 1, 1)).toEqual({ action: 'wait' });
    expect(c.decide(1000 + QUIET, 1)).toEqual({ action: 'start', why: 'no new receiver for a while' });
  });

  test('each new receiver restarts the quiet time', () => {
    const c = condition({});
    c.joined(1000);
    c.joined(2500);
    expect(c.decide(1000 + QUIET, 2).action).toBe('wait');
    expect(c.decide(2500 + QUIET, 2).action).toBe('start');
  });

  test('never starts without a receiver', () => {
    expect(condition({}).decide(10 * QUIET, 0).action).toBe('wait');
  });
});

describe('--min-receivers', () => {
  test('starts as soon as that many joined, not before', () => {
    const c = condition({ minReceivers: 3 });
    c.joined(100);
    expect(c.decide(100 + 10 * QUIET, 2).action).toBe('wait');
    expect(c.decide(100 + 10 * QUIET, 3)).toEqual({ action: 'start', why: '3 receivers joined' });
  });

  test('--min-wait holds the start back even with enough receivers', () => {
    const c = condition({ minReceivers: 1, minWaitMs: 5000 });
    c.joined(100);
    expect(c.decide(5099, 1).action).toBe('wait');
    expect(c.decide(5100, 1).action).toBe('start');
  });
});

describe('--max-wait', () => {
  test('starts with fewer than --min-receivers once the first receiver waited that long', () => {
    const c = condition({ minReceivers: 4, maxWaitMs: 8000 });
    c.joined(1000);
    c.joined(3000);
    expect(c.decide(8999, 2).action).toBe('wait');
    expect(c.decide(9000, 2)).toEqual({ action: 'start', why: 'max-wait reached' });
  });

  test('without --min-receivers only the max wait starts, not the quiet time', () => {
    const c = condition({ maxWaitMs: 8000 });
    c.joined(1000);
    expect(c.decide(1000 + QUIET + 1, 1).action).toBe('wait');
    expect(c.decide(9000, 1).action).toBe('start');
  });
});

describe('--start-timeout', () => {
  test('gives up when no receiver said anything for that long', () => {
    const c = condition({ startTimeoutMs: 30_000 });
    expect(c.decide(30_000, 0).action).toBe('wait');
    expect(c.decide(30_001, 0)).toEqual({ action: 'give-up', silentMs: 30_000 });
  });

  test('every message from a receiver restarts it', () => {
    const c = condition({ startTimeoutMs: 30_000, minReceivers: 2 });
    c.joined(20_000);
    c.heard(20_000);
    expect(c.decide(40_000, 1).action).toBe('wait');
    expect(c.decide(50_001, 1).action).toBe('give-up');
  });

  test('wins over a start that is due at the same moment', () => {
    const c = condition({ startTimeoutMs: 1000 });
    c.joined(0);
    expect(c.decide(QUIET, 1).action).toBe('give-up');
  });
});
