import { rmSync } from 'node:fs';
import { noArgs, type ReceivedImage, type Step, type StepContext } from '../context.ts';
import { AgentError, checkResult } from '../errors.ts';

// What can be checked depends on what the server knows. A prebuilt image comes with its
// size and sha256 (plan.image), which are compared. An on-demand tar has neither, so
// the zstd frame checksums (zstd writes one per frame by default) are what prove the
// stream intact: `zstd -t` on the staged file, or zstd inside tar while extracting in
// direct mode. The sha256 is always reported, so the server can compare nodes.

function mismatch(ctx: StepContext, image: ReceivedImage, what: string, expected: unknown, got: unknown): AgentError {
  if (image.path) rmSync(image.path, { force: true });
  return new AgentError('AGENT_VERIFY_FAILED', `the received image's ${what} is ${got}, the plan expects ${expected}`, {
    step: 'verify',
    details: { image: ctx.plan.image.name, what, expected, got },
    remedy: 'the image changed while it was being sent, or the plan names a stale size/sha256: rebuild the plan and retry',
  });
}

export const verify: Step = {
  name: 'verify',
  destructive: false,
  abortable: true,
  prepare: noArgs,
  async run(ctx) {
    const image = ctx.state.image;
    if (!image) throw new AgentError('AGENT_VERIFY_FAILED', 'nothing was received to verify', { step: 'verify', remedy: 'the plan must run receive before verify' });
    const checked: string[] = [];
    const want = ctx.plan.image;
    if (want.sizeBytes !== undefined) {
      if (image.bytes !== want.sizeBytes) throw mismatch(ctx, image, 'size', want.sizeBytes, image.bytes);
      checked.push('size');
    }
    if (want.sha256 !== undefined) {
      if (image.sha256 !== want.sha256) throw mismatch(ctx, image, 'sha256', want.sha256, image.sha256);
      checked.push('sha256');
    }
    if (image.path) {
      const r = await ctx.exec(['zstd', '--test', '--quiet', image.path], { signal: ctx.signal });
      checkResult(r, 'AGENT_VERIFY_FAILED', 'verify', 'the received stream is corrupt or truncated: retry the install');
      checked.push('zstd-frames');
    } else {
      checked.push('zstd-frames-while-extracting');
    }
    return { bytes: image.bytes, detail: { checked, sha256: image.sha256 } };
  },
};
