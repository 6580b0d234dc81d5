import { noArgs, type TargetPartition, type Step } from '../context.ts';
import { checkResult } from '../errors.ts';
import type { Bootloader } from '../../contract/index.ts';

// One filesystem per partition that has one. Tools are the full e2fsprogs, xfsprogs,
// dosfstools and util-linux (busybox's mkfs.vfat is a different program).

/** FAT32 needs about 65,525 clusters; below this size mkfs.vfat picks FAT16 itself. */
const FAT32_MIN_MIB = 64;

export function mkfsArgv(p: TargetPartition, bootloader: Bootloader): string[] | null {
  switch (p.fs) {
    case 'ext4':
      // extlinux (syslinux 6.04) cannot read ext4 with the 64bit feature.
      return ['mkfs.ext4', '-F', '-q', ...(bootloader === 'extlinux' ? ['-O', '^64bit'] : []), p.device];
    case 'xfs':
      return ['mkfs.xfs', '-f', '-q', p.device];
    case 'vfat':
      return ['mkfs.vfat', ...(p.sizeMiB >= FAT32_MIN_MIB ? ['-F', '32'] : []), p.device];
    case 'swap':
      return ['mkswap', p.device];
    default:
      return null;
  }
}

export const mkfs: Step = {
  name: 'mkfs',
  destructive: true,
  abortable: false,
  prepare: noArgs,
  async run(ctx) {
    const made: string[] = [];
    for (const p of ctx.disk.partitions) {
      const argv = mkfsArgv(p, ctx.plan.bootloader);
      if (!argv) continue;
      const r = await ctx.exec(argv, { signal: ctx.signal });
      checkResult(r, 'AGENT_MKFS_FAILED', 'mkfs', `check ${p.device}: the partition step must have run and the disk must accept writes`);
      made.push(`${p.device}=${p.fs}`);
    }
    return { detail: { filesystems: made } };
  },
};
