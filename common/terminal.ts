import { formatRecord, type LogRecord } from './log.ts';

// Where the CLI's words go. Human mode: one status line, rewritten in place on a
// terminal and printed every few seconds otherwise, plus log lines. --json mode: one
// JSON object per line on stderr ({"event": ...}) for the agent and the server.

const PLAIN_STATUS_EVERY_MS = 5000;

export class Terminal {
  private readonly tty: boolean;
  private statusShown = false;
  private lastPlainStatus = 0;
  readonly json: boolean;
  private readonly out: NodeJS.WriteStream;

  constructor(opts: { json: boolean; stream?: NodeJS.WriteStream }) {
    this.json = opts.json;
    this.out = opts.stream ?? process.stderr;
    this.tty = Boolean(this.out.isTTY) && !opts.json;
  }

  event(event: string, fields: Record<string, unknown>): void {
    if (this.json) this.out.write(JSON.stringify({ event, time: new Date().toISOString(), ...fields }) + '\n');
  }

  log = (r: LogRecord): void => {
    if (this.json) return this.event('log', { level: r.level, scope: r.scope, msg: r.msg, ...r.fields });
    this.clearStatus();
    this.out.write(formatRecord(r) + '\n');
  };

  /** The live status line (human mode only). */
  status(text: string, force = false): void {
    if (this.json) return;
    if (this.tty) {
      this.out.write(`\r\x1b[K${text}`);
      this.statusShown = true;
      return;
    }
    const now = Date.now();
    if (force || now - this.lastPlainStatus >= PLAIN_STATUS_EVERY_MS) {
      this.lastPlainStatus = now;
      this.out.write(text + '\n');
    }
  }

  line(text: string): void {
    if (this.json) return;
    this.clearStatus();
    this.out.write(text + '\n');
  }

  private clearStatus(): void {
    if (this.tty && this.statusShown) {
      this.out.write('\r\x1b[K');
      this.statusShown = false;
    }
  }
}
