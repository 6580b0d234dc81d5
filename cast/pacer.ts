// When the sender's next datagram may go: the --max-bitrate token bucket, a bound on
// dgram sends in flight, and pumping in bursts that leave the event loop room to read
// the receivers' answers in between.

const IP_UDP_OVERHEAD = 28;
/** The bucket holds this much traffic: timers below 1 ms are not reliable. */
const BUCKET_MS = 2;
/** Sends in flight (not yet handed to the kernel) before the pump waits for callbacks. */
const MAX_PENDING_SENDS = 512;
/** Packets per event-loop turn, so answers from receivers are read in between. */
const BURST = 48;

/** Token bucket for --max-bitrate, charging 28 bytes of IP+UDP header per datagram as udpcast does. */
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

export interface PacerHooks {
  /**
   * Sends what goes next, up to `budget` datagrams; returns how many went, 0 when nothing
   * may go now (nothing due, or mayGo() said no and set a timer).
   */
  next: (budget: number) => number;
  /** Hands what next() collected to the kernel. */
  flush: () => void;
  /** The transfer runs: started and not finished. */
  running: () => boolean;
}

export class Pacer {
  private readonly limiter: RateLimiter | null;
  private readonly hooks: PacerHooks;
  /** dgram sends not completed yet. */
  private pending = 0;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(maxBitrate: number | undefined, hooks: PacerHooks) {
    this.limiter = maxBitrate ? new RateLimiter(maxBitrate) : null;
    this.hooks = hooks;
  }

  /** A rate limit applies: every datagram asks mayGo() first. */
  get limited(): boolean {
    return this.limiter !== null;
  }

  get pendingSends(): number {
    return this.pending;
  }

  /** Pumps on the next event-loop turn, unless a pump is due already. */
  schedule(): void {
    if (this.scheduled || this.timer || !this.hooks.running()) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Whether --max-bitrate lets a datagram of this size go now; if not, the pump resumes when it will. */
  mayGo(bytes: number): boolean {
    const wait = this.limiter?.take(bytes) ?? 0;
    if (wait <= 0) return true;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, wait);
    return false;
  }

  /** A datagram went to dgram.send. */
  sending(): void {
    this.pending++;
  }

  /** dgram completed a send. A pump stopped at the bound resumes at half of it: before dgram's queue runs dry, and not on every callback. */
  sent(): void {
    this.pending--;
    if (this.pending === MAX_PENDING_SENDS / 2) this.schedule();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private pump(): void {
    this.fill();
    this.hooks.flush();
  }

  /** Hands a burst of packets to the socket (or to the batch, sent as one on flush). */
  private fill(): void {
    for (let budget = BURST; budget > 0 && this.hooks.running(); ) {
      if (this.pending >= MAX_PENDING_SENDS) return; // a send callback resumes us
      const n = this.hooks.next(budget);
      if (n === 0) return;
      budget -= n;
    }
    this.schedule();
  }
}
