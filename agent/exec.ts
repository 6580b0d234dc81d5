import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { Logger } from '../common/log.ts';

// Runs tools with an argv array, never through a shell: busybox ash would pick its own
// applets (tar, mkfs.vfat) over the GNU tools on PATH. Keeps stdout for parsing and the
// tail of stdout+stderr, interleaved, for error reports.

/** Output kept for error reports: enough for the usual multi-line tool complaint. */
const TAIL_BYTES = 2048;
/** stdout kept for parsing (blkid, sfdisk --json); larger output is cut from the front. */
const STDOUT_MAX_BYTES = 1 << 20;

export interface ExecOptions {
  /** Written to stdin, which is then closed. */
  input?: string | Buffer;
  /** Keep stdin open as a pipe for the caller (spawnTool only). */
  pipeStdin?: boolean;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  argv: string[];
  /** null when the process was killed by a signal. 127 when it could not be started. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  outputTail: string;
  durationMs: number;
}

export type Exec = (argv: string[], opts?: ExecOptions) => Promise<ExecResult>;

export interface RunningTool {
  /** The child's stdin when pipeStdin was set. */
  stdin: Writable | null;
  done: Promise<ExecResult>;
}

class Tail {
  private buf = Buffer.alloc(0);
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    if (this.buf.length > this.max) this.buf = this.buf.subarray(this.buf.length - this.max);
  }
  text(): string {
    return this.buf.toString('utf8');
  }
}

/** Starts a tool; `done` resolves (never rejects) when it has exited. */
export function spawnTool(argv: string[], opts: ExecOptions, log: Logger): RunningTool {
  const [file, ...args] = argv;
  if (!file) throw new Error('spawnTool: empty argv');
  const started = performance.now();
  const out = new Tail(STDOUT_MAX_BYTES);
  const tail = new Tail(TAIL_BYTES);
  log.debug('exec', { argv });
  const child = spawn(file, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: [opts.input !== undefined || opts.pipeStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const kill = () => child.kill('SIGKILL');
  const timer = opts.timeoutMs ? setTimeout(kill, opts.timeoutMs) : undefined;
  opts.signal?.addEventListener('abort', kill, { once: true });
  child.stdout!.on('data', (d: Buffer) => {
    out.push(d);
    tail.push(d);
  });
  child.stderr!.on('data', (d: Buffer) => tail.push(d));
  // A tool that exits early closes its stdin; the caller sees the exit code instead.
  child.stdin?.on('error', () => {});
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  const done = new Promise<ExecResult>((resolve) => {
    let settled = false;
    const finish = (exitCode: number | null, signal: string | null, extra = '') => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', kill);
      if (extra) tail.push(Buffer.from(extra));
      const result = { argv, exitCode, signal, stdout: out.text(), outputTail: tail.text(), durationMs: Math.round(performance.now() - started) };
      log.debug('exited', { argv0: file, exitCode, signal, ms: result.durationMs });
      resolve(result);
    };
    child.once('error', (err) => finish(127, null, `${file}: ${err.message}\n`));
    child.once('close', (code, sig) => finish(code, sig));
  });
  return { stdin: opts.pipeStdin ? child.stdin : null, done };
}

export function createExec(log: Logger): Exec {
  return (argv, opts = {}) => spawnTool(argv, opts, log).done;
}
