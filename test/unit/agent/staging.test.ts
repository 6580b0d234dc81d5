import { expect, test } from 'vitest';
import { chooseStaging, DEFAULT_STAGING_CAP_BYTES, STAGING_RESERVE_BYTES } from '../../../agent/staging.ts';
import { testPlan } from '../../helpers/agent-plan.ts';

const GiB = 1024 ** 3;

test('tmpfs when the known image size fits with the reserve', () => {
  const plan = testPlan('/dev/vda', { image: { name: 'i', format: 'tar.zst', sizeBytes: GiB } });
  expect(chooseStaging(plan, GiB + STAGING_RESERVE_BYTES).mode).toBe('tmpfs');
  const small = chooseStaging(plan, GiB);
  expect(small.mode).toBe('direct');
  expect(small.reason).toContain('extracting while receiving');
});

test('an unknown size is judged by the plan cap, else the default cap', () => {
  const plan = testPlan('/dev/vda');
  expect(chooseStaging(plan, DEFAULT_STAGING_CAP_BYTES + STAGING_RESERVE_BYTES).mode).toBe('tmpfs');
  expect(chooseStaging(plan, DEFAULT_STAGING_CAP_BYTES).mode).toBe('direct');
  expect(chooseStaging({ ...plan, stagingCapBytes: 10 * GiB }, 4 * GiB)).toMatchObject({ mode: 'direct', neededBytes: 10 * GiB + STAGING_RESERVE_BYTES });
});

test('a plan asking for direct gets direct whatever is free', () => {
  expect(chooseStaging(testPlan('/dev/vda', { staging: 'direct' }), 100 * GiB)).toEqual({ mode: 'direct', reason: 'the plan asks for direct extraction' });
});
