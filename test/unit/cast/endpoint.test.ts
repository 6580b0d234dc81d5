import { afterEach, describe, expect, test, vi } from 'vitest';
import { silentLogger } from '../../../common/log.ts';
import { Endpoint, type CastWarning } from '../../../cast/endpoint.ts';

// The endpoint lifecycle a sender and a receiver share, without sockets: it settles once, closes
// once, and stops its interval timers when it does.

function lifecycle(): { life: Endpoint<string>; closes: () => number; warnings: CastWarning[] } {
  let closes = 0;
  const warnings: CastWarning[] = [];
  const life = new Endpoint<string>({ log: silentLogger, warning: (w) => warnings.push(w), close: () => closes++ });
  return { life, closes: () => closes, warnings };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Endpoint', () => {
  test('settles with the first result; a later failure changes nothing and it closes once', async () => {
    const { life, closes } = lifecycle();
    const result = life.run(async () => {});
    life.finish('done');
    life.fail(new Error('late'));
    await expect(result).resolves.toBe('done');
    expect(life.finished).toBe(true);
    expect(closes()).toBe(1);
  });

  test('an abort fails the transfer with CAST_ABORTED', async () => {
    const { life, closes } = lifecycle();
    const abort = new AbortController();
    const result = life.run(async () => {}, abort.signal);
    abort.abort();
    await expect(result).rejects.toMatchObject({ code: 'CAST_ABORTED' });
    expect(closes()).toBe(1);
  });

  test('an error from open() fails the transfer with that error', async () => {
    const { life } = lifecycle();
    await expect(life.run(() => Promise.reject(new Error('no interface')))).rejects.toThrow('no interface');
    expect(life.finished).toBe(true);
  });

  test('interval timers stop when the transfer settles', () => {
    vi.useFakeTimers();
    const { life } = lifecycle();
    void life.run(async () => {});
    let ticks = 0;
    life.every(100, () => ticks++);
    vi.advanceTimersByTime(250);
    expect(ticks).toBe(2);
    life.finish('done');
    vi.advanceTimersByTime(1000);
    expect(ticks).toBe(2);
  });

  test('the progress rate is the bytes per second since the previous sample, 0 on the first', () => {
    const { life } = lifecycle();
    expect(life.rate(1000, 5000)).toBe(0);
    expect(life.rate(3000, 5500)).toBe(4000);
    expect(life.rate(3000, 6000)).toBe(0);
  });

  test('a warning goes to the warning event with its code', () => {
    const { life, warnings } = lifecycle();
    life.warn('CAST_SEND', 'send failed');
    expect(warnings).toEqual([{ code: 'CAST_SEND', message: 'send failed' }]);
  });
});
