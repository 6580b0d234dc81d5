import type { Step } from '../context.ts';
import type { StepName } from '../../contract/index.ts';
import { bootloader } from './bootloader.ts';
import { extract } from './extract.ts';
import { finish } from './finish.ts';
import { hooks } from './hooks.ts';
import { identity } from './identity.ts';
import { mkfs } from './mkfs.ts';
import { partition } from './partition.ts';
import { receive } from './receive.ts';
import { verify } from './verify.ts';
import { wipe } from './wipe.ts';

// The registry: every step the plan may name, by name.

export const STEPS: Record<StepName, Step> = {
  wipe,
  partition,
  mkfs,
  receive,
  verify,
  extract,
  identity,
  bootloader,
  hooks,
  finish,
};
