import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tarCreateArgs } from '../../contract/index.ts';
import { ImageMissingError, ImageStreamError } from '../errors.ts';

// The image as a stream made on demand: GNU tar of the image directory (numeric owners,
// xattrs incl. file capabilities, ACLs) compressed by zstd. No image file is kept. The
// stream ends only after both programs exited cleanly, so a failure is an error before
// the sender could announce the end: receivers never take a truncated image for whole.

export interface ImageStreamOptions {
  zstdLevel?: number;
  signal?: AbortSignal;
  /** Updated while streaming, for the size estimate of `rackcast status`. */
  progress?: ImageStreamProgress;
}

export interface ImageStreamProgress {
  /** Uncompressed tar bytes zstd has been given so far. */
  tarBytes: number;
  /** Compressed bytes out so far; the whole stream once `done`. */
  outBytes: number;
  done: boolean;
}

/** How often the tar position is read from /proc while streaming. */
const PROGRESS_POLL_MS = 500;

const TAIL_BYTES = 2048;

/** Throws unless `dir` is an image directory we can stream. */
export function checkImageDir(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) {
    throw new ImageMissingError(`image directory ${dir} does not exist`, { dir }, 'create it (an unpacked root filesystem) or fix the image path in the config');
  }
}

export async function* imageStream(dir: string, opts: ImageStreamOptions = {}): AsyncGenerator<Buffer> {
  checkImageDir(dir);
  const tar = spawn('tar', tarCreateArgs(dir), { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
  const zstd = spawn('zstd', [`-${opts.zstdLevel ?? 3}`, '-T0', '-q', '-c'], { stdio: [tar.stdout, 'pipe', 'pipe'], signal: opts.signal });
  // zstd has its own copy of the pipe; ours would keep tar's 'close' from ever firing.
  tar.stdout!.destroy();
  const exits = [tar, zstd].map((child, i) => {
    let tail = '';
    child.stderr!.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-TAIL_BYTES)));
    return new Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null; tail: string; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ name: i ? 'zstd' : 'tar', code: null, signal: null, tail, error }));
      child.once('close', (code, signal) => resolve({ name: i ? 'zstd' : 'tar', code, signal, tail }));
    });
  });
  let complete = false;
  const progress = opts.progress;
  let polled = 0;
  try {
    for await (const chunk of zstd.stdout!) {
      if (progress) {
        progress.outBytes += (chunk as Buffer).length;
        if (Date.now() - polled > PROGRESS_POLL_MS) {
          polled = Date.now();
          progress.tarBytes = bytesWritten(tar.pid) ?? progress.tarBytes;
        }
      }
      yield chunk as Buffer;
    }
    complete = true;
  } finally {
    // The consumer stopped early (an aborted session): end both programs.
    if (!complete) for (const child of [tar, zstd]) if (child.exitCode === null) child.kill();
  }
  for (const r of await Promise.all(exits)) {
    // GNU tar exits 1 when a file changed while it was read: the image is not consistent.
    if (r.code !== 0) {
      throw new ImageStreamError(
        `${r.name} failed while streaming ${dir} (${r.error ? r.error.message : r.signal ? `signal ${r.signal}` : `exit ${r.code}`})`,
        { dir, program: r.name, exitCode: r.code, signal: r.signal, outputTail: r.tail.trim() },
        r.name === 'tar' ? 'do not modify the image directory during a session; check its permissions and disk' : 'check that zstd is installed',
      );
    }
  }
  if (progress) progress.done = true;
}

/** A process's bytes written so far (its tar output), from /proc/PID/io; null once it is gone. */
function bytesWritten(pid: number | undefined): number | null {
  try {
    const m = /^wchar:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * The size of the tar of `dir`, near enough for a progress estimate: a 512-byte header per
 * entry plus the data rounded up to 512 (long names and xattrs add a little more).
 */
export async function estimateTarBytes(dir: string): Promise<number> {
  let total = 1024;
  const pending = [dir];
  for (let d = pending.pop(); d !== undefined; d = pending.pop()) {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const path = join(d, e.name);
      total += 512;
      if (e.isDirectory()) pending.push(path);
      else if (e.isFile()) total += Math.ceil((await lstat(path)).size / 512) * 512;
    }
  }
  return total;
}
