import { describe, expect, test } from 'vitest';
import { Pacer, RateLimiter } from '../../../cast/pacer.ts';

// The token bucket on a clock the test sets, and the pump's bound on dgram sends in
// flight, counted in event-loop turns rather than time.

describe('RateLimiter', () => {
  const BITS_PER_SEC = 8_000_000; // 1 MB/s; the bucket then holds its 64 KiB floor
  const DATAGRAM = 1472; // + 28 bytes of IP/UDP header: 1,500 bytes charged

  test('lets a full bucket go at once, then holds the next packet back until it refilled', () => {
    let now = 0;
    const limiter = new RateLimiter(BITS_PER_SEC, () => now);
    const burst = Math.floor((64 * 1024) / 1500);
    for (let i = 0; i < burst; i++) expect(limiter.take(DATAGRAM)).toBe(0);
    const wait = limiter.take(DATAGRAM);
    expect(wait).toBeGreaterThanOrEqual(1);
    now += wait;
    expect(limiter.take(DATAGRAM)).toBe(0);
  });

  test('over a long run sends at the limit (plus one bucket)', () => {
    let now = 0;
    const limiter = new RateLimiter(BITS_PER_SEC, () => now);
    let bytes = 0;
    while (now < 10_000) {
      const wait = limiter.take(DATAGRAM);
      if (wait === 0) bytes += DATAGRAM + 28;
      else now += wait;
    }
    expect(bytes).toBeGreaterThan(10 * 1_000_000);
    expect(bytes).toBeLessThanOrEqual(10 * 1_000_000 + 64 * 1024 + 1500);
  });
});

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('Pacer', () => {
  test('stops pumping at 512 dgram sends in flight and resumes when half of them completed', async () => {
    let calls = 0;
    const pacer: Pacer = new Pacer(undefined, {
      next: () => {
        calls++;
        pacer.sending();
        return 1;
      },
      flush: () => {},
      running: () => true,
    });
    pacer.schedule();
    await turns(40);
    expect(calls).toBe(512);
    for (let i = 0; i < 255; i++) pacer.sent();
    await turns(40);
    expect(calls).toBe(512);
    pacer.sent();
    await turns(40);
    expect(calls).toBe(512 + 256);
    pacer.close();
  });

  test('pumps nothing while the transfer does not run', async () => {
    let calls = 0;
    const pacer = new Pacer(undefined, { next: () => ++calls, flush: () => {}, running: () => false });
    pacer.schedule();
    await turns(5);
    expect(calls).toBe(0);
  });

  test('a packet the rate limit holds back stops the burst', async () => {
    let calls = 0;
    const pacer: Pacer = new Pacer(1000, {
      next: () => {
        calls++;
        return pacer.mayGo(40_000) ? 1 : 0;
      },
      flush: () => {},
      running: () => true,
    });
    expect(pacer.limited).toBe(true);
    pacer.schedule();
    await turns(5);
    // The first packet takes most of the 64 KiB bucket; the second waits for a timer (minutes at 1 kbit/s).
    expect(calls).toBe(2);
    pacer.close();
  });
});
