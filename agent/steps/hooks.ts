import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { noArgs, type Step, type StepContext } from '../context.ts';
import { bindApiFilesystems, execInTarget } from '../chroot.ts';
import { checkResult } from '../errors.ts';

// Post-install commands, in the image chroot with /dev /proc /sys bound: first the
// image's own executables in /etc/rackcast/post-install.d (sorted by name), then the
// plan's hooks (each a /bin/sh command line). Each sees the node's facts in RACKCAST_*.

export const IMAGE_HOOK_DIR = '/etc/rackcast/post-install.d';
/** A hook that runs longer is killed: the node should not hang without a report. */
const HOOK_TIMEOUT_MS = 30 * 60_000;

function imageHooks(ctx: StepContext): string[] {
  const dir = join(ctx.paths.target, IMAGE_HOOK_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .filter((f) => /^[\w.-]+$/.test(f) && (statSync(join(dir, f)).mode & 0o111) !== 0)
    .map((f) => `${IMAGE_HOOK_DIR}/${f}`);
}

export const hooks: Step = {
  name: 'hooks',
  destructive: true,
  abortable: true,
  prepare: noArgs,
  async run(ctx) {
    const commands = [...imageHooks(ctx).map((f) => [f]), ...ctx.plan.hooks.map((h) => ['/bin/sh', '-c', h])];
    if (commands.length === 0) return { detail: { ran: [] } };
    await bindApiFilesystems(ctx, 'hooks');
    const env = {
      RACKCAST_HOSTNAME: ctx.plan.node.hostname,
      RACKCAST_MAC: ctx.plan.node.mac,
      RACKCAST_DISK: ctx.disk.device,
      RACKCAST_IMAGE: ctx.plan.image.name,
    };
    for (const argv of commands) {
      const r = await execInTarget(ctx, argv, { timeoutMs: HOOK_TIMEOUT_MS }, env);
      checkResult(r, 'AGENT_HOOK_FAILED', 'hooks', `fix the hook ${argv.at(-1)} (it ran in the image chroot)`);
      ctx.log.info('hook ran', { hook: argv.at(-1), ms: r.durationMs });
    }
    return { detail: { ran: commands.map((c) => c.at(-1)) } };
  },
};
