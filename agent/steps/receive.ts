import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RackcastError } from '../../common/errors.ts';
import { CastReceiver } from '../../cast/index.ts';
import { noArgs, type ReceivedImage, type Step, type StepContext } from '../context.ts';
import { AgentError, checkResult, EXTRACT_REMEDY } from '../errors.ts';
import { spawnTool, type RunningTool } from '../exec.ts';
import { chooseStaging, freeBytes } from '../staging.ts';
import { mountTarget } from '../target.ts';
import { tarExtractArgv } from '../../contract/index.ts';

// Joins the image's cast session with the in-process receiver (the same code as
// `rackcast receive`) and sends the stream through a sha256 into a tmpfs file, or
// straight into tar when tmpfs is too small (decided, and said, before the start).

const STAGED_NAME = 'image.tar.zst';

function receiveFailed(err: unknown): AgentError {
  const cast = err instanceof RackcastError ? err : undefined;
  return new AgentError('AGENT_RECEIVE_FAILED', `receiving the image failed: ${cast?.message ?? (err as Error).message}`, {
    step: 'receive',
    cause: err,
    details: { castCode: cast?.code, ...cast?.details },
    remedy: cast?.remedy ?? 'check the server log for the image session of this node',
  });
}

async function receiveInto(ctx: StepContext, sink: Writable): Promise<{ bytes: number; sha256: string; durationMs: number; retransmitRequests: number; sender: string }> {
  const s = ctx.plan.session;
  const receiver = new CastReceiver(
    {
      portbase: s.portbase,
      startTimeoutMs: s.startTimeoutSec * 1000,
      receiveTimeoutMs: s.receiveTimeoutSec * 1000,
      ...(ctx.nic ? { interface: ctx.nic.name } : {}),
      ...(s.rdvAddress ? { mcastRdvAddress: s.rdvAddress } : {}),
    },
    { log: ctx.log.child('cast') },
  );
  receiver.on('progress', (p) => {
    if (p.phase === 'transfer') ctx.report({ bytes: p.bytes, rateBytesPerSec: Math.round(p.rateBytesPerSec) });
  });
  receiver.on('connected', (c) => ctx.log.info('joined the image session', { sender: c.sender, slot: c.slot }));
  const hash = createHash('sha256');
  const tee = new PassThrough({ highWaterMark: 4 << 20 });
  tee.on('data', (chunk: Buffer) => hash.update(chunk));
  const flowing = pipeline(tee, sink);
  // A failing sink (tar died, tmpfs full) destroys the tee, which the receiver sees as
  // an output error and turns into a DISCONNECT instead of stalling the session.
  flowing.catch(() => {});
  const result = await receiver.receive(tee, { signal: ctx.signal });
  tee.end();
  await flowing;
  return {
    bytes: result.stats.bytes,
    sha256: hash.digest('hex'),
    durationMs: result.durationMs,
    retransmitRequests: result.stats.retransmitRequests,
    sender: result.sender,
  };
}

export const receive: Step = {
  name: 'receive',
  destructive: false,
  abortable: true,
  prepare: noArgs,
  async run(ctx) {
    mkdirSync(ctx.paths.staging, { recursive: true });
    const choice = chooseStaging(ctx.plan, freeBytes(ctx.paths.staging));
    if (choice.mode === 'direct' && ctx.plan.staging === 'tmpfs') ctx.log.warn('image will not fit in tmpfs', { reason: choice.reason });
    else ctx.log.info(`staging: ${choice.mode}`, { reason: choice.reason });
    ctx.report({ detail: { staging: choice.mode, reason: choice.reason } });
    let tar: RunningTool | null = null;
    let sink: Writable;
    let path: string | undefined;
    if (choice.mode === 'tmpfs') {
      path = join(ctx.paths.staging, STAGED_NAME);
      sink = createWriteStream(path);
    } else {
      const target = await mountTarget(ctx, 'receive');
      tar = spawnTool(tarExtractArgv('-', target), { pipeStdin: true, signal: ctx.signal }, ctx.log.child('tar'));
      sink = tar.stdin!;
    }
    let got;
    try {
      got = await receiveInto(ctx, sink);
    } catch (err) {
      sink.destroy();
      // When tar gave up first, the receiver only saw its output close: tar says why.
      const tarResult = tar ? await tar.done : null;
      if (tarResult && err instanceof RackcastError && err.code === 'CAST_OUTPUT') checkResult(tarResult, 'AGENT_EXTRACT_FAILED', 'receive', EXTRACT_REMEDY);
      throw receiveFailed(err);
    }
    if (tar) checkResult(await tar.done, 'AGENT_EXTRACT_FAILED', 'receive', EXTRACT_REMEDY);
    const image: ReceivedImage = { mode: choice.mode, reason: choice.reason, bytes: got.bytes, sha256: got.sha256, extracted: tar !== null, ...(path ? { path } : {}) };
    ctx.state.image = image;
    const rate = got.durationMs > 0 ? Math.round((got.bytes * 1000) / got.durationMs) : 0;
    return {
      bytes: got.bytes,
      rateBytesPerSec: rate,
      detail: { staging: choice.mode, reason: choice.reason, sha256: got.sha256, sender: got.sender, retransmitRequests: got.retransmitRequests },
    };
  },
};
