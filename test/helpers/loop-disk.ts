import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

// A sparse file behind a loop device with partition scanning, for tests that partition,
// format and mount a real block device. Detach what you attach, also on failure.

export class LoopDisk {
  readonly device: string;
  readonly file: string;
  private readonly dir: string;

  private constructor(device: string, file: string, dir: string) {
    this.device = device;
    this.file = file;
    this.dir = dir;
  }

  static create(sizeMiB: number): LoopDisk {
    const dir = mkdtempSync(join(os.tmpdir(), 'rc-loop-'));
    const file = join(dir, 'disk.img');
    writeFileSync(file, '');
    truncateSync(file, sizeMiB * 1024 * 1024);
    try {
      const device = execFileSync('losetup', ['--find', '--show', '--partscan', file], { encoding: 'utf8' }).trim();
      return new LoopDisk(device, file, dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Detaches the device and removes the backing file; safe to call twice. */
  destroy(): void {
    try {
      execFileSync('losetup', ['--detach', this.device], { stdio: 'ignore' });
    } catch {
      // already detached
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether loop devices can be made here (root, loop module). */
export function loopDevicesAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('losetup', ['--find'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
