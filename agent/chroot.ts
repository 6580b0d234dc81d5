import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { StepContext } from './context.ts';
import type { ExecOptions, ExecResult } from './exec.ts';

// Tools that run inside the installed image (grub-install, hooks) need the kernel's API
// filesystems there: without /dev grub-install cannot find the disk.

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

/**
 * Runs a command with the target as its root and the image's usual PATH: the initrd's
 * PATH is /usr/bin only, and a distribution keeps grub-install in /usr/sbin.
 */
export function execInTarget(ctx: StepContext, argv: string[], opts: ExecOptions = {}, env: Record<string, string> = {}): Promise<ExecResult> {
  return ctx.exec(['chroot', ctx.paths.target, ...argv], {
    signal: ctx.signal,
    ...opts,
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', ...env },
  });
}
