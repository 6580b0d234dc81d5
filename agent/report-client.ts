import type { Logger } from '../common/log.ts';
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffOptions } from './backoff.ts';
import { AgentError } from './errors.ts';
import { API_PATHS, NEXT_ACTIONS, type InstallComplete, type Inventory, type LogLine, type NextAction, type StepReport } from '../contract/index.ts';

// The only file that talks to the boot server. A server outage must not kill an
// install: step reports wait in an ordered outbox and log lines in a bounded buffer,
// both retried with jittered backoff while the install goes on. The plan, the completion
// report (it goes out after every step report) and the `next` answer are awaited, because
// the agent cannot go on without them.

export interface ReportClientOptions {
  /** Base URL, e.g. http://10.78.0.1:8080 */
  server: string;
  token: string;
  /** Sent as the User-Agent, so the server can refuse a plan built for another version. */
  agentVersion?: string;
  log: Logger;
  fetch?: typeof fetch;
  /** One HTTP request gives up after this. */
  requestTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Log lines are sent in one batch this often. */
  logFlushMs?: number;
  /** Log lines kept while the server is away; the oldest are dropped (and counted) past it. */
  logBufferLines?: number;
  /** A step report is dropped after this many failed tries (hours at the backoff cap). */
  maxReportAttempts?: number;
  random?: () => number;
}

/** One queued POST; the completion report is awaited, so it carries its callbacks. */
interface Report {
  path: string;
  body: unknown;
  what: string;
  delivered?: () => void;
  dropped?: (err: Error) => void;
}

const DEFAULTS = {
  requestTimeoutMs: 10_000,
  logFlushMs: 1000,
  logBufferLines: 5000,
  maxReportAttempts: 300,
};

/** Lines sent in one POST, so a long outage drains in bounded requests. */
const LOG_BATCH_LINES = 500;

export class ServerError extends AgentError {
  readonly status: number | undefined;
  constructor(path: string, status: number | undefined, message: string, cause?: unknown) {
    super(status === undefined ? 'AGENT_SERVER_UNREACHABLE' : 'AGENT_SERVER_ERROR', `${path}: ${message}`, {
      details: { path, status },
      cause,
      remedy: status === 401 ? 'the node token is not known to the server: reinstall the node from the server' : 'check that the boot server runs and is reachable from the node',
    });
    this.name = 'ServerError';
    this.status = status;
  }
}

export class ReportClient {
  private readonly o: Required<Omit<ReportClientOptions, 'fetch' | 'random'>> & { fetch: typeof fetch; random: () => number };
  private readonly outbox: Report[] = [];
  private pumping: Promise<void> | null = null;
  private logs: LogLine[] = [];
  private droppedLogLines = 0;
  private flushing: Promise<void> | null = null;
  private logTimer: NodeJS.Timeout | null = null;
  private logOutage = false;
  private readonly stop = new AbortController();

  constructor(opts: ReportClientOptions) {
    this.o = {
      ...DEFAULTS,
      agentVersion: 'unknown',
      backoff: DEFAULT_BACKOFF,
      fetch: globalThis.fetch,
      random: Math.random,
      ...opts,
      server: opts.server.replace(/\/+$/, ''),
    };
    this.logTimer = setInterval(() => void this.flushLogs(), this.o.logFlushMs);
    this.logTimer.unref();
  }

  /** One request; throws ServerError on a network error, a timeout or a non-2xx answer. */
  private async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await this.o.fetch(this.o.server + path, {
        method,
        headers: { authorization: `Bearer ${this.o.token}`, 'user-agent': `rackcast-agent/${this.o.agentVersion}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.any([AbortSignal.timeout(this.o.requestTimeoutMs), this.stop.signal]),
      });
    } catch (err) {
      throw new ServerError(path, undefined, (err as Error).message, err);
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) throw new ServerError(path, res.status, `HTTP ${res.status} ${text.slice(0, 200)}`);
    try {
      return text ? JSON.parse(text) : {};
    } catch (err) {
      throw new ServerError(path, res.status, `answer is not JSON: ${text.slice(0, 200)}`, err);
    }
  }

  /** Retries `fn` with backoff until it succeeds, `deadline` passes or `signal` aborts. */
  private async retry<T>(what: string, fn: () => Promise<T>, deadline: number, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const delay = backoffDelay(attempt, this.o.backoff, this.o.random);
        if (Date.now() + delay > deadline || signal?.aborted) throw err;
        if (attempt === 0 || attempt % 10 === 0) this.o.log.warn(`${what} failed, retrying`, { error: (err as Error).message, attempt });
        if (!(await sleep(delay, signal))) throw err;
      }
    }
  }

  /** The install plan (unvalidated JSON); waits for the server up to `maxWaitMs`. */
  getPlan(maxWaitMs: number, signal?: AbortSignal): Promise<unknown> {
    return this.retry('fetching the plan', () => this.request('GET', API_PATHS.plan), Date.now() + maxWaitMs, signal);
  }

  /** Best effort: a few tries, then a warning; the install does not depend on it. */
  async sendInventory(inv: Inventory): Promise<boolean> {
    try {
      await this.retry('sending the inventory', () => this.request('POST', API_PATHS.inventory, inv), Date.now() + 30_000);
      return true;
    } catch (err) {
      this.o.log.warn('inventory not delivered', { error: (err as Error).message });
      return false;
    }
  }

  /** Queues a step report; reports are delivered in order, in the background. */
  reportStep(report: StepReport): void {
    this.enqueue({ path: API_PATHS.step, body: report, what: `step report ${report.step} ${report.status}` });
  }

  /** Sends the completion report after the step reports still queued; resolves once the server took it. */
  reportComplete(report: InstallComplete): Promise<void> {
    return new Promise((delivered, dropped) => this.enqueue({ path: API_PATHS.complete, body: report, what: 'completion report', delivered, dropped }));
  }

  private enqueue(r: Report): void {
    this.outbox.push(r);
    this.pumping ??= this.pump().finally(() => (this.pumping = null));
  }

  private async pump(): Promise<void> {
    let attempt = 0;
    while (this.outbox.length > 0 && !this.stop.signal.aborted) {
      const head = this.outbox[0]!;
      try {
        await this.request('POST', head.path, head.body);
        this.outbox.shift();
        head.delivered?.();
        attempt = 0;
      } catch (err) {
        // The server read it and said no (a 4xx other than a timeout or "slow down"): sending it again changes nothing.
        const refused = err instanceof ServerError && err.status !== undefined && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
        if (refused || ++attempt >= this.o.maxReportAttempts) {
          this.o.log.error(`${head.what} ${refused ? 'refused by the server' : 'dropped after repeated failures'}`, { error: (err as Error).message });
          this.outbox.shift();
          head.dropped?.(err as Error);
          attempt = 0;
          continue;
        }
        if (attempt === 1) this.o.log.warn(`${head.what} not delivered, will retry`, { error: (err as Error).message });
        await sleep(backoffDelay(attempt - 1, this.o.backoff, this.o.random), this.stop.signal);
      }
    }
    // Closed with reports queued: whoever awaits one learns it now.
    for (const r of this.outbox.splice(0)) r.dropped?.(new ServerError(r.path, undefined, 'the agent stopped before it was delivered'));
  }

  /** Buffers one log line for the next batch. */
  pushLog(line: LogLine): void {
    this.logs.push(line);
    if (this.logs.length > this.o.logBufferLines) {
      const excess = this.logs.length - this.o.logBufferLines;
      this.logs.splice(0, excess);
      this.droppedLogLines += excess;
    }
  }

  /** Sends the buffered lines (one batch at a time); keeps them if the server is away. */
  flushLogs(): Promise<void> {
    this.flushing ??= this.sendLogs().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async sendLogs(): Promise<void> {
    for (let batches = 0; this.logs.length > 0 && batches < 100; batches++) {
      const batch = this.logs.slice(0, LOG_BATCH_LINES);
      const lines = this.droppedLogLines
        ? [{ time: new Date().toISOString(), level: 'warn' as const, msg: `agent: ${this.droppedLogLines} log lines dropped while the server was unreachable` }, ...batch]
        : batch;
      try {
        await this.request('POST', API_PATHS.log, { lines });
      } catch (err) {
        // Said once per outage: every retry would otherwise add a line to the buffer.
        if (!this.logOutage) this.o.log.warn('log lines not delivered, keeping them', { error: (err as Error).message });
        this.logOutage = true;
        return;
      }
      this.logOutage = false;
      this.droppedLogLines = 0;
      this.logs.splice(0, batch.length);
    }
  }

  /**
   * Polls `next` until the server says something other than `wait`. Polls are spaced by
   * jittered backoff; after `maxWaitMs` without an answer the node powers off.
   */
  async waitForNext(maxWaitMs: number, signal?: AbortSignal): Promise<NextAction> {
    const deadline = Date.now() + maxWaitMs;
    for (let attempt = 0; Date.now() < deadline && !signal?.aborted; attempt++) {
      try {
        const action = await this.askNext();
        if (action !== 'wait') return action;
      } catch (err) {
        if (attempt % 10 === 0) this.o.log.warn('asking the server what to do next failed', { error: (err as Error).message });
      }
      await sleep(Math.min(backoffDelay(attempt, this.o.backoff, this.o.random), Math.max(deadline - Date.now(), 0)), signal);
    }
    this.o.log.error('no answer from the server in time: powering off', { waitedMs: maxWaitMs });
    return 'poweroff';
  }

  /** One question: what now? An answer outside the contract counts as `wait`. Throws ServerError. */
  async askNext(): Promise<NextAction> {
    const answer = (await this.request('GET', API_PATHS.next)) as { action?: unknown };
    const action = NEXT_ACTIONS.find((a) => a === answer.action);
    if (!action) this.o.log.warn('server sent an unknown next action; waiting', { answer });
    return action ?? 'wait';
  }

  /** Delivers what is queued (reports, then logs) within `timeoutMs`; true if all went out. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while ((this.outbox.length > 0 || this.logs.length > 0) && Date.now() < deadline) {
      if (this.pumping) await Promise.race([this.pumping, sleep(Math.max(deadline - Date.now(), 0))]);
      await this.flushLogs();
      if (this.logs.length > 0 || this.outbox.length > 0) await sleep(Math.min(1000, Math.max(deadline - Date.now(), 0)));
    }
    return this.outbox.length === 0 && this.logs.length === 0;
  }

  /** Stops timers and pending retries. */
  close(): void {
    if (this.logTimer) clearInterval(this.logTimer);
    this.logTimer = null;
    this.stop.abort();
  }
}
