import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { RackcastError } from '../common/errors.ts';

// The image as a stream made on demand: GNU tar of the image directory (numeric owners,
// xattrs incl. file capabilities, ACLs) compressed by zstd. No image file is kept. The
// stream ends only after both programs exited cleanly, so a failure is an error before
// the sender could announce the end: receivers never take a truncated image for whole.

export interface ImageStreamOptions {
  zstdLevel?: number;
  signal?: AbortSignal;
}

const TAIL_BYTES = 2048;

export class ImageStreamError extends RackcastError {
  constructor(code: 'BOOT_IMAGE_MISSING' | 'BOOT_IMAGE_STREAM', message: string, details: Record<string, unknown>, remedy: string) {
    super(code, message, { details, remedy });
    this.name = 'ImageStreamError';
  }
}

export function tarArgs(dir: string): string[] {
  return ['--create', '--file=-', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--sparse', '-C', dir, '.'];
}

/** Throws unless `dir` is an image directory we can stream. */
export function checkImageDir(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) {
    throw new ImageStreamError('BOOT_IMAGE_MISSING', `image directory ${dir} does not exist`, { dir }, 'create it (an unpacked root filesystem) or fix the image path in the config');
  }
}

export async function* imageStream(dir: string, opts: ImageStreamOptions = {}): AsyncGenerator<Buffer> {
  checkImageDir(dir);
  const tar = spawn('tar', tarArgs(dir), { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
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
  try {
    for await (const chunk of zstd.stdout!) yield chunk as Buffer;
    complete = true;
  } finally {
    // The consumer stopped early (an aborted session): end both programs.
    if (!complete) for (const child of [tar, zstd]) if (child.exitCode === null) child.kill();
  }
  for (const r of await Promise.all(exits)) {
    // GNU tar exits 1 when a file changed while it was read: the image is not consistent.
    if (r.code !== 0) {
      throw new ImageStreamError(
        'BOOT_IMAGE_STREAM',
        `${r.name} failed while streaming ${dir} (${r.error ? r.error.message : r.signal ? `signal ${r.signal}` : `exit ${r.code}`})`,
        { dir, program: r.name, exitCode: r.code, signal: r.signal, outputTail: r.tail.trim() },
        r.name === 'tar' ? 'do not modify the image directory during a session; check its permissions and disk' : 'check that zstd is installed',
      );
    }
  }
}
