import { statfsSync } from 'node:fs';
import type { InstallPlan, StagingMode } from '../contract/index.ts';

// Where the stream goes: into tmpfs (default; the disk is written only once the whole
// image arrived and checked out) or straight into tar when tmpfs cannot hold it.

/** Assumed image size when the server does not know it (an on-demand tar). */
export const DEFAULT_STAGING_CAP_BYTES = 1024 ** 3;
/** Left free in tmpfs for the agent, its logs and the tools' temporary files. */
export const STAGING_RESERVE_BYTES = 64 * 1024 ** 2;

export interface StagingChoice {
  mode: StagingMode;
  reason: string;
  neededBytes?: number;
  freeBytes?: number;
}

export function chooseStaging(plan: InstallPlan, freeBytes: number): StagingChoice {
  if (plan.staging === 'direct') return { mode: 'direct', reason: 'the plan asks for direct extraction' };
  const known = plan.image.sizeBytes !== undefined;
  const size = plan.image.sizeBytes ?? plan.stagingCapBytes ?? DEFAULT_STAGING_CAP_BYTES;
  const neededBytes = size + STAGING_RESERVE_BYTES;
  const what = known ? `the image is ${size} bytes` : `the image size is unknown and the staging cap is ${size} bytes`;
  if (freeBytes >= neededBytes) return { mode: 'tmpfs', reason: `tmpfs has ${freeBytes} bytes free; ${what}`, neededBytes, freeBytes };
  return {
    mode: 'direct',
    reason: `tmpfs has ${freeBytes} bytes free but ${what} (+${STAGING_RESERVE_BYTES} reserve): extracting while receiving instead`,
    neededBytes,
    freeBytes,
  };
}

export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}
