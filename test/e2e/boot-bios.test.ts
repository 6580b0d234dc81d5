import { expect, test } from 'vitest';
import { useBootLab } from '../helpers/boot-lab.ts';
import { MARKER } from '../../scripts/lab/test-initrd.ts';

// BIOS: SeaBIOS + QEMU's iPXE NIC ROM, full DHCP from rackcast, the per-node script, kernel
// and initrd over HTTP, up to the test initrd's marker with the rackcast.* parameters.

const lab = useBootLab();

test('BIOS iPXE ROM boots the installer with the node token and BOOTIF', async () => {
  const bl = lab();
  const r = await bl.boot({ name: 'bios', firmware: 'bios' }, ['rackcast: install n001', MARKER]);
  expect(r.ok, r.explain).toBe(true);
  const line = r.vm.serial().split('\n').find((l) => l.includes(MARKER))!;
  const token = /token=([0-9a-f]+)/.exec(line)?.[1] ?? '';
  expect(line).toContain('mode=install bootif=01-52-54-00-78-00-10 server=http://10.78.0.1:8080');
  expect(token).toMatch(/^[0-9a-f]{64}$/);
  // The token the VM got is the one the agent API accepts for this node.
  const plan = await bl.http('/api/v1/agent/plan', { token });
  expect(plan.status, plan.body).toBe(200);
  expect(JSON.parse(plan.body).node.hostname).toBe('n001');
  const node = JSON.parse((await bl.http('/api/v1/nodes/n001')).body);
  expect(node).toMatchObject({ phase: 'installing', arch: 0 });
  expect(node.events.map((e: { message: string }) => e.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^ack 10\.78\.0\.1\d\d$/), 'script: install']));
});
