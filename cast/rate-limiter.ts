// Token bucket for --max-bitrate, charging 28 bytes of IP+UDP header per datagram as
// udpcast does. The bucket holds ~2 ms of traffic: timers below 1 ms are not reliable.

const IP_UDP_OVERHEAD = 28;
const BUCKET_MS = 2;

export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly capacity: number;
  private readonly bitsPerSec: number;
  private readonly now: () => number;

  constructor(bitsPerSec: number, now: () => number = () => performance.now()) {
    this.bitsPerSec = bitsPerSec;
    this.now = now;
    this.capacity = Math.max(64 * 1024, (bitsPerSec / 8) * (BUCKET_MS / 1000));
    this.tokens = this.capacity;
    this.last = now();
  }

  /** Takes a packet's bytes if allowed now; otherwise returns the ms to wait. */
  take(datagramBytes: number): number {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) * this.bitsPerSec) / 8000);
    this.last = t;
    const cost = datagramBytes + IP_UDP_OVERHEAD;
    if (this.tokens >= cost) {
      this.tokens -= cost;
      return 0;
    }
    return Math.max(1, ((cost - this.tokens) * 8000) / this.bitsPerSec);
  }
}
