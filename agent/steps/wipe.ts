import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { noArgs, type Step } from '../context.ts';
import { AgentError, checkResult } from '../errors.ts';

// Clears old signatures (partition tables, filesystems, RAID/LVM labels) when the plan
// says wipe; otherwise refuses a disk that carries any, so a plan never silently
// overwrites data it was not written for.

const REMEDY = 'check that the disk is not in use and not read-only';

/** Existing partition nodes of a disk, from sysfs (loop0 → loop0p1, sda → sda1). */
function existingPartitions(disk: string): string[] {
  const name = basename(disk);
  try {
    return readdirSync(`/sys/class/block/${name}`)
      .filter((e) => e.startsWith(name) && e !== name)
      .map((e) => `/dev/${e}`);
  } catch {
    return [];
  }
}

export const wipe: Step = {
  name: 'wipe',
  destructive: true,
  abortable: false,
  prepare: noArgs,
  async run(ctx) {
    const disk = ctx.disk.device;
    if (!ctx.plan.disk.wipe) {
      const r = checkResult(await ctx.exec(['wipefs', '--no-act', '--noheadings', '--output', 'TYPE', disk]), 'AGENT_WIPE_FAILED', 'wipe', REMEDY);
      const found = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
      if (found.length > 0) {
        throw new AgentError('AGENT_DISK_NOT_EMPTY', `${disk} carries ${found.join(', ')} and the plan does not say wipe`, {
          step: 'wipe',
          details: { device: disk, signatures: found },
          remedy: 'set disk.wipe in the plan if this disk may be erased, or name another disk',
        });
      }
      return { detail: { wiped: [] } };
    }
    // Partitions first: their signatures sit inside the area the disk's wipe leaves alone.
    const targets = [...existingPartitions(disk), disk];
    for (const dev of targets) {
      checkResult(await ctx.exec(['wipefs', '--all', '--force', dev], { signal: ctx.signal }), 'AGENT_WIPE_FAILED', 'wipe', REMEDY);
    }
    return { detail: { wiped: targets } };
  },
};
