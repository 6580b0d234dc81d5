import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { StepContext } from './context.ts';

// Tools that run inside the installed image (grub-install, hooks) need the kernel's API
// filesystems there: without /dev grub-install cannot find the disk (agent-notes pitfall 3).

const API_FILESYSTEMS = ['/dev', '/proc', '/sys', '/run'];

/** Binds /dev /proc /sys /run (and efivarfs when booted with UEFI) into the target. Idempotent. */
export async function bindApiFilesystems(ctx: StepContext, step: string): Promise<void> {
  const sources = [...API_FILESYSTEMS];
  if (ctx.efi && existsSync(ctx.paths.efivars)) sources.push(ctx.paths.efivars);
  for (const src of sources) {
    const dir = join(ctx.paths.target, src === ctx.paths.efivars ? '/sys/firmware/efi/efivars' : src);
    if (!existsSync(src) || ctx.state.mounts.has(dir)) continue;
    await ctx.state.mounts.mount(step, { source: src, dir, bind: true });
  }
}

/** argv that runs `argv` with the target as its root. */
export function inTarget(ctx: StepContext, argv: string[]): string[] {
  return ['chroot', ctx.paths.target, ...argv];
}
