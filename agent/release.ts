import { rmSync } from 'node:fs';
import type { StepContext } from './context.ts';

// Undoes what an install attempt set up on the node (mounts, by-uuid links, the staged
// image), after finish or after a failure, so a retry starts clean.

export async function releaseInstall(ctx: Pick<StepContext, 'state' | 'log'>): Promise<void> {
  await ctx.state.mounts.releaseAll();
  for (const link of ctx.state.createdLinks.splice(0)) rmSync(link, { force: true });
  if (ctx.state.image?.path) rmSync(ctx.state.image.path, { force: true });
}
