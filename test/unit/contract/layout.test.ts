import { expect, test } from 'vitest';
import { parseSizeMiB, validateLayout } from '../../../contract/index.ts';

const fieldError = (field: string) => expect.objectContaining({ code: 'CONTRACT_PLAN_INVALID', details: expect.objectContaining({ field }) });

test('sizes are whole MiB with binary suffixes, long or short, or "rest"', () => {
  expect(parseSizeMiB('s', '1MiB')).toBe(1);
  expect(parseSizeMiB('s', '20GiB')).toBe(20480);
  expect(parseSizeMiB('s', '20G')).toBe(20480);
  expect(parseSizeMiB('s', '512M')).toBe(512);
  expect(parseSizeMiB('s', '1.5 GiB')).toBe(1536);
  expect(parseSizeMiB('s', '2048KiB')).toBe(2);
  expect(parseSizeMiB('s', '1T')).toBe(1024 * 1024);
  expect(parseSizeMiB('s', 'rest')).toBeNull();
  for (const bad of ['512', '1MB', '20GB', '0MiB', '1.5MiB', '512KiB', '-1GiB', 'REST', '1 B', '']) {
    expect(() => parseSizeMiB('disk.layout[0].size', bad), bad).toThrow(fieldError('disk.layout[0].size'));
  }
});

test('a partition name that would break out of the sfdisk script is refused', () => {
  const layout = (name: string) => [{ name, role: 'root', size: 'rest' }];
  expect(validateLayout(layout('root fs #1'))[0]!.name).toBe('root fs #1');
  for (const bad of ['a"b', 'a\\b', 'x'.repeat(37), 'tab\there', 'ünï']) {
    expect(() => validateLayout(layout(bad), 'nodes[2].disk.layout'), bad).toThrow(fieldError('nodes[2].disk.layout[0].name'));
  }
});

test('errors name the field under the path the caller gives', () => {
  expect(() => validateLayout([{ name: 'r', role: 'root', size: '20X' }], 'defaults.disk.layout')).toThrow(fieldError('defaults.disk.layout[0].size'));
  expect(() => validateLayout([{ name: 'd', role: 'data', size: '1G', fs: 'xfs', mount: '/srv' }], 'groups.gpu.disk.layout')).toThrow(fieldError('groups.gpu.disk.layout'));
});
