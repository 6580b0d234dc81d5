import { mkdirSync } from 'node:fs';
import type { Logger } from '../common/log.ts';
import { checkResult } from './errors.ts';
import type { Exec } from './exec.ts';

// Every mount the agent makes, in order, so a failure or the finish step can undo them
// all (innermost first) and a retry starts from a clean disk.

export interface MountSpec {
  source: string;
  dir: string;
  type?: string;
  options?: string[];
  bind?: boolean;
}

export class MountStack {
  private readonly exec: Exec;
  private readonly log: Logger;
  private readonly mounted: string[] = [];

  constructor(exec: Exec, log: Logger) {
    this.exec = exec;
    this.log = log;
  }

  has(dir: string): boolean {
    return this.mounted.includes(dir);
  }

  async mount(step: string, spec: MountSpec): Promise<void> {
    mkdirSync(spec.dir, { recursive: true });
    const argv = ['mount'];
    if (spec.bind) argv.push('--bind');
    if (spec.type) argv.push('-t', spec.type);
    if (spec.options?.length) argv.push('-o', spec.options.join(','));
    argv.push(spec.source, spec.dir);
    checkResult(await this.exec(argv), 'AGENT_MOUNT_FAILED', step, `check that ${spec.source} exists and holds a ${spec.type ?? 'mountable'} filesystem`);
    this.mounted.push(spec.dir);
  }

  /** Unmounts everything, innermost first. A busy mount is detached lazily and logged. */
  async releaseAll(): Promise<void> {
    while (this.mounted.length > 0) {
      const dir = this.mounted.pop()!;
      const r = await this.exec(['umount', dir]);
      if (r.exitCode === 0) continue;
      this.log.warn('umount failed, detaching lazily', { dir, output: r.outputTail.trim() });
      await this.exec(['umount', '-l', dir]);
    }
  }
}
