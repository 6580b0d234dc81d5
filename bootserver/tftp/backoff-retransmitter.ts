// The package's Retransmitter resent every `timeout`, `retries` times. atftp 0.8 re-ACKs a gap
// once and then restarts its own timeout on every datagram it receives, so a server resending
// at a fixed interval kept it silent until the server gave up (docs/bootserver.md, "Resends
// back off"). This one waits `timeout`, doubling up to MAX_BACKOFF_FACTOR x `timeout`,
// `retries` times, and starts from `timeout` again after any progress (RFC 1123 4.2.3.2:
// adaptive timeouts). Same interface as the package's: corrections.ts installs it.

/** What a retransmitter needs of its transfer (the package's Request). */
export interface RetransmittedRequest {
  _timeout: number;
  _retries: number;
  _close(err: Error): void;
}

/** The longest wait between resends, in multiples of tftp.timeoutMs. */
const MAX_BACKOFF_FACTOR = 8;

export class BackoffRetransmitter {
  private timer: NodeJS.Timeout | null = null;
  private pending: number;
  private delay: number;
  private readonly req: RetransmittedRequest;

  constructor(req: RetransmittedRequest) {
    this.req = req;
    this.pending = req._retries;
    this.delay = req._timeout;
  }

  reset(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = this.req._retries;
    this.delay = this.req._timeout;
  }

  start(fn: () => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      // The package's own ETIME wording, so a give-up reads as its usual timeout.
      if (this.pending === 0) return this.req._close(new Error('Timed out'));
      this.pending--;
      this.delay = Math.min(this.delay * 2, this.req._timeout * MAX_BACKOFF_FACTOR);
      fn();
      this.start(fn);
    }, this.delay);
  }
}
