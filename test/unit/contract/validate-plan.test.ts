import { expect, test } from 'vitest';
import { validatePlan } from '../../../contract/index.ts';
import { testPlan } from '../../helpers/agent-plan.ts';

const fieldError = (field: string) => expect.objectContaining({ code: 'CONTRACT_PLAN_INVALID', details: expect.objectContaining({ field }) });

test('a complete plan passes and comes back equal, MAC lowercased', () => {
  const plan = testPlan('/dev/vda', { node: { mac: '52:54:00:AB:00:10', hostname: 'n1' } });
  expect(validatePlan(JSON.parse(JSON.stringify(plan)))).toEqual({ ...plan, node: { mac: '52:54:00:ab:00:10', hostname: 'n1' } });
});

test('roles get their default filesystem and mount point', () => {
  const plan = validatePlan({ ...testPlan('/dev/vda'), disk: { wipe: true, layout: [{ name: 'esp', role: 'esp', size: '64MiB' }, { name: 'root', role: 'root', size: 'rest' }] } });
  expect(plan.disk.layout).toEqual([
    { name: 'esp', role: 'esp', size: '64MiB', fs: 'vfat', mount: '/boot/efi' },
    { name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' },
  ]);
});

test('each bad field is named in the error', () => {
  const base = testPlan('/dev/vda');
  const cases: [unknown, string][] = [
    [{ ...base, node: { ...base.node, mac: 'nope' } }, 'node.mac'],
    [{ ...base, node: { ...base.node, hostname: 'bad_name' } }, 'node.hostname'],
    [{ ...base, image: { name: 'x', format: 'tar.gz' } }, 'image.format'],
    [{ ...base, session: { ...base.session, portbase: 0 } }, 'session.portbase'],
    [{ ...base, disk: { ...base.disk, wipe: 'yes' } }, 'disk.wipe'],
    [{ ...base, disk: { ...base.disk, device: 'vda' } }, 'disk.device'],
    [{ ...base, disk: { ...base.disk, layout: [{ name: 'r', role: 'root', size: '2TB' }] } }, 'disk.layout[0].size'],
    [{ ...base, disk: { ...base.disk, layout: [{ name: 'r', role: 'root', size: 'rest', fs: 'vfat' }] } }, 'disk.layout[0]'],
    [{ ...base, disk: { ...base.disk, layout: [{ name: 'd', role: 'data', size: '1GiB' }] } }, 'disk.layout'],
    [{ ...base, disk: { ...base.disk, layout: [{ name: 'e', role: 'esp', size: '1GiB', fs: 'ext4' }, { name: 'r', role: 'root', size: 'rest' }] } }, 'disk.layout[0].fs'],
    [{ ...base, bootloader: 'lilo' }, 'bootloader'],
    [{ ...base, network: { mode: 'static' } }, 'network.address'],
    [{ ...base, staging: 'disk' }, 'staging'],
    [{ ...base, hooks: 'echo' }, 'hooks'],
    [{ ...base, steps: ['wipe', 'reformat'] }, 'steps[1]'],
  ];
  for (const [plan, field] of cases) expect(() => validatePlan(plan), field).toThrow(fieldError(field));
});

test('two rest partitions or two roots are refused', () => {
  const base = testPlan('/dev/vda');
  const two = (a: object, b: object) => ({ ...base, disk: { ...base.disk, layout: [a, b] } });
  expect(() => validatePlan(two({ name: 'a', role: 'root', size: 'rest' }, { name: 'b', role: 'data', size: 'rest', fs: 'xfs', mount: '/srv' }))).toThrow(fieldError('disk.layout'));
  expect(() => validatePlan(two({ name: 'a', role: 'root', size: '1GiB' }, { name: 'b', role: 'root', size: 'rest' }))).toThrow(fieldError('disk.layout'));
});
