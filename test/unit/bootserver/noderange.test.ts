import { expect, test } from 'vitest';
import { bootif, normalizeMac } from '../../../bootserver/mac.ts';
import { expandNodeRange } from '../../../bootserver/noderange.ts';

test('xCAT ranges keep the padding of their bounds', () => {
  const names = expandNodeRange('n[001-288]');
  expect(names).toHaveLength(288);
  expect(names[0]).toBe('n001');
  expect(names.at(-1)).toBe('n288');
});

test('lists, several brackets, suffixes and plain names mix; duplicates collapse', () => {
  expect(expandNodeRange('r[1-2]n[01-02]-bmc,n005,r1n01-bmc')).toEqual(['r1n01-bmc', 'r1n02-bmc', 'r2n01-bmc', 'r2n02-bmc', 'n005']);
  expect(expandNodeRange('n[1-3,7]')).toEqual(['n1', 'n2', 'n3', 'n7']);
  expect(expandNodeRange('52:54:00:78:00:10')).toEqual(['52:54:00:78:00:10']);
});

test.each(['n[001-288', 'n001]', 'n[5-1]', 'n[a-b]', 'n[1-2000000]'])('rejects %s', (bad) => {
  expect(() => expandNodeRange(bad)).toThrow(RangeError);
});

test('MACs in every common spelling normalise to one form', () => {
  for (const m of ['52:54:00:78:00:10', '52-54-00-78-00-10', '52:54:0:78:0:10', '5254.0078.0010', '525400780010', ' 52:54:00:78:00:10 ']) {
    expect(normalizeMac(m)).toBe('52:54:00:78:00:10');
  }
  for (const bad of ['52:54:00:78:00', '52:54-00:78:00:10', 'zz:54:00:78:00:10', 'n001']) expect(normalizeMac(bad)).toBeNull();
  expect(bootif('52:54:00:78:00:10')).toBe('01-52-54-00-78-00-10');
});
