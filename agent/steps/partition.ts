import { existsSync } from 'node:fs';
import { noArgs, type Step } from '../context.ts';
import { waitForDevice } from '../disk.ts';
import { AgentError, checkResult } from '../errors.ts';
import { sfdiskScript } from '../layout.ts';

// Writes a fresh GPT from the placed layout. The runner already checked that it fits
// (AGENT_DISK_TOO_SMALL) before any step ran; the partition nodes come from devtmpfs.

/** How long the kernel gets to add the partitions after sfdisk's re-read request. */
const REREAD_WAIT_MS = 2000;
/** How long the nodes may take once partx told the kernel about each partition. */
const PARTX_WAIT_MS = 10_000;

async function allAppear(devices: string[], timeoutMs: number): Promise<boolean> {
  for (const d of devices) if (!(await waitForDevice(d, timeoutMs))) return false;
  return true;
}

export const partition: Step = {
  name: 'partition',
  destructive: true,
  abortable: false,
  prepare: noArgs,
  async run(ctx) {
    const disk = ctx.disk.device;
    const script = sfdiskScript(ctx.disk.partitions);
    ctx.log.debug('sfdisk script', { script });
    const r = await ctx.exec(['sfdisk', '--wipe', 'always', '--wipe-partitions', 'always', '--quiet', disk], { input: script });
    checkResult(r, 'AGENT_PARTITION_FAILED', 'partition', `check that nothing uses ${disk} (mounted, swap, RAID) and that it is writable`);
    const devices = ctx.disk.partitions.map((p) => p.device);
    if (!(await allAppear(devices, REREAD_WAIT_MS))) {
      // Some kernels (no built-in GPT parser) and devices ignore the re-read; partx
      // parses the table itself and adds each partition.
      ctx.log.info('the kernel did not pick up the new table; adding the partitions with partx');
      checkResult(await ctx.exec(['partx', '--update', disk]), 'AGENT_PARTITION_FAILED', 'partition', `the kernel did not accept the partitions of ${disk}`);
      if (!(await allAppear(devices, PARTX_WAIT_MS))) {
        throw new AgentError('AGENT_PARTITION_FAILED', `the partition nodes of ${disk} did not appear`, {
          step: 'partition',
          details: { device: disk, missing: devices.filter((d) => !existsSync(d)) },
          remedy: 'check that nothing holds the disk open and that the kernel supports GPT',
        });
      }
    }
    return { detail: { layout: ctx.disk.partitions.map((p) => `${p.device} ${p.role} ${p.sizeMiB}MiB`) } };
  },
};
