import { expect, test } from 'vitest';
import { placePartitions, sfdiskScript } from '../../../agent/layout.ts';
import { BIOS_UEFI_LAYOUT } from '../../helpers/agent-plan.ts';

const MiB = 1024 * 1024;

test('the rest partition takes what the others leave, minus 1 MiB at each end', () => {
  const parts = placePartitions(BIOS_UEFI_LAYOUT, 1024 * MiB, 'x64');
  expect(parts.map((p) => [p.number, p.startMiB, p.sizeMiB])).toEqual([
    [1, 1, 1],
    [2, 2, 64],
    [3, 66, 16],
    [4, 82, 1024 - 1 - 1 - 64 - 16 - 1],
  ]);
  expect(parts[3]!.startMiB + parts[3]!.sizeMiB).toBe(1023);
});

test('a rest partition in the middle pushes the later ones to the end', () => {
  const parts = placePartitions(
    [
      { name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' },
      { name: 'swap', role: 'swap', size: '100MiB', fs: 'swap' },
    ],
    1000 * MiB,
    'x64',
  );
  expect(parts.map((p) => [p.startMiB, p.sizeMiB])).toEqual([
    [1, 898],
    [899, 100],
  ]);
});

test('the root type GUID follows the architecture (discoverable partitions)', () => {
  const [x64] = placePartitions([{ name: 'r', role: 'root', size: 'rest' }], 100 * MiB, 'x64');
  const [arm] = placePartitions([{ name: 'r', role: 'root', size: 'rest' }], 100 * MiB, 'arm64');
  expect(x64!.typeGuid).toBe('4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709');
  expect(arm!.typeGuid).toBe('B921B045-1DF0-41C3-AF44-4C6F280D3FAE');
});

test('a layout larger than the disk is AGENT_DISK_TOO_SMALL with the numbers', () => {
  const attempt = () => placePartitions([{ name: 'root', role: 'root', size: '10GiB', fs: 'ext4', mount: '/' }], 8 * 1024 * MiB, 'x64', '/dev/vda');
  expect(attempt).toThrow(expect.objectContaining({ code: 'AGENT_DISK_TOO_SMALL', details: expect.objectContaining({ device: '/dev/vda', usableMiB: 8190, neededMiB: 10240 }) }));
  // "rest" needs room too
  expect(() => placePartitions(BIOS_UEFI_LAYOUT, 90 * MiB, 'x64')).toThrow(expect.objectContaining({ code: 'AGENT_DISK_TOO_SMALL' }));
});

test('sfdisk gets explicit starts, sizes, types and names', () => {
  const script = sfdiskScript(placePartitions(BIOS_UEFI_LAYOUT.slice(0, 2), 100 * MiB, 'x64'));
  expect(script).toBe(
    'label: gpt\n' +
      'start=1MiB, size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name="bios"\n' +
      'start=2MiB, size=64MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"\n',
  );
});
