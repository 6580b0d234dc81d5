import type { Step } from '../context.ts';
import { waitForDevice } from '../disk.ts';
import { checkResult } from '../errors.ts';
import { sfdiskScript } from '../layout.ts';

// Writes a fresh GPT from the placed layout. The runner already checked that it fits
// (AGENT_DISK_TOO_SMALL) before any step ran; the partition nodes come from devtmpfs.

/** How long the kernel gets to create the new partition nodes. */
const NODE_TIMEOUT_MS = 10_000;

export const partition: Step = {
  name: 'partition',
  destructive: true,
  abortable: false,
  prepare() {
    return undefined;
  },
  async run(ctx) {
    const disk = ctx.disk.device;
    const script = sfdiskScript(ctx.disk.partitions);
    ctx.log.debug('sfdisk script', { script });
    const r = await ctx.exec(['sfdisk', '--wipe', 'always', '--wipe-partitions', 'always', '--quiet', disk], { input: script });
    checkResult(r, 'AGENT_PARTITION_FAILED', 'partition', `check that nothing uses ${disk} (mounted, swap, RAID) and that it is writable`);
    for (const p of ctx.disk.partitions) await waitForDevice(p.device, NODE_TIMEOUT_MS, 'partition');
    return { detail: { layout: ctx.disk.partitions.map((p) => `${p.device} ${p.role} ${p.sizeMiB}MiB`) } };
  },
};
