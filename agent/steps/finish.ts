import { noArgs, type Step } from '../context.ts';
import { releaseInstall } from '../release.ts';

// Leaves the disk consistent for the first boot: everything unmounted and synced. The
// runner then asks the server for its `next` action (reboot, power off, retry).

export const finish: Step = {
  name: 'finish',
  destructive: false,
  abortable: false,
  prepare: noArgs,
  async run(ctx) {
    await releaseInstall(ctx);
    const r = await ctx.exec(['sync']);
    return { detail: { synced: r.exitCode === 0 } };
  },
};
