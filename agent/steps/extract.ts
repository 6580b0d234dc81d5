import { rmSync } from 'node:fs';
import { noArgs, type Step } from '../context.ts';
import { AgentError, checkResult, EXTRACT_REMEDY } from '../errors.ts';
import { mountTarget } from '../target.ts';
import { tarExtractArgv } from '../../contract/index.ts';

// Unpacks the staged image into the mounted target and frees the tmpfs copy. In direct
// mode receive already did this while the stream arrived.

export const extract: Step = {
  name: 'extract',
  destructive: true,
  abortable: true,
  prepare: noArgs,
  async run(ctx) {
    const image = ctx.state.image;
    if (!image) throw new AgentError('AGENT_EXTRACT_FAILED', 'no image was received', { step: 'extract', remedy: 'the plan must run receive before extract' });
    if (image.extracted) return { bytes: image.bytes, detail: { extractedBy: 'receive', staging: image.mode } };
    const target = await mountTarget(ctx, 'extract');
    const r = await ctx.exec(tarExtractArgv(image.path!, target), { signal: ctx.signal });
    checkResult(r, 'AGENT_EXTRACT_FAILED', 'extract', EXTRACT_REMEDY);
    rmSync(image.path!, { force: true });
    image.extracted = true;
    const rate = r.durationMs > 0 ? Math.round((image.bytes * 1000) / r.durationMs) : 0;
    return { bytes: image.bytes, rateBytesPerSec: rate, detail: { staging: image.mode } };
  },
};
