import { join } from 'node:path';
import type { StepContext, TargetPartition } from './context.ts';

// The installed system's tree under paths.target: root first, then the other mounted
// partitions, shallowest first (so /boot comes before /boot/efi). Idempotent: receive
// (direct mode) and extract both need it, whichever runs first mounts.

export function mountedPartitions(parts: TargetPartition[]): TargetPartition[] {
  return parts
    .filter((p) => p.mount && p.fs && p.fs !== 'swap')
    .sort((a, b) => depth(a.mount!) - depth(b.mount!));
}

function depth(mount: string): number {
  return mount === '/' ? 0 : mount.split('/').length - 1;
}

export async function mountTarget(ctx: StepContext, step: string): Promise<string> {
  const root = ctx.paths.target;
  for (const p of mountedPartitions(ctx.disk.partitions)) {
    const dir = join(root, p.mount!);
    if (ctx.state.mounts.has(dir)) continue;
    await ctx.state.mounts.mount(step, { source: p.device, dir, type: p.fs! });
  }
  return root;
}
