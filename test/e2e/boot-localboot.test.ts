import { join } from 'node:path';
import { expect, test } from 'vitest';
import { useBootLab } from '../helpers/boot-lab.ts';
import { DISK_MARKER, writeMarkerDisk } from '../helpers/boot-disk.ts';
import { MARKER, REPORTED } from '../../scripts/lab/test-initrd.ts';

// The cycle on one VM, with the test initrd as a would-be agent: PXE -> installer, which
// fetches its plan with its token and claims the install complete without receiving any
// image -> the server refuses that (no node is installed with bytes it did not send) and
// the node waits -> the admin sets it to boot its disk -> the node is told to reboot ->
// PXE again -> the local-boot script -> the disk's own boot sector runs.

const lab = useBootLab({}, (bl) => {
  bl.config.installer.cmdline += ' rctest.report=1';
});

test('a claimed install without the image is refused; a node set to local boot gets that answer and boots its disk', async () => {
  const bl = lab();
  const disk = writeMarkerDisk(join(bl.dir, 'disk.img'));
  const r = await bl.boot({ name: 'cycle', firmware: 'bios', allowReboot: true, disks: [{ file: disk, bootindex: 2 }] }, [MARKER, REPORTED], 300_000);
  expect(r.ok, r.explain).toBe(true);
  const refused = JSON.parse((await bl.http('/api/v1/nodes/n001')).body);
  expect(refused.phase).toBe('failed');
  expect(refused.events.map((e: { message: string }) => e.message)).toEqual(expect.arrayContaining(['install -> installing: agent fetched the plan', 'installing -> failed: reported complete, but no image of this install was delivered to it']));
  expect((await bl.cli(['node', 'localboot', 'n001'])).code).toBe(0);
  const booted = await r.vm.waitFor(['rackcast: local boot (localboot', DISK_MARKER], { timeoutMs: 240_000 });
  expect(booted.ok, `${booted.failure}\n${booted.tail}`).toBe(true);
  const node = JSON.parse((await bl.http('/api/v1/nodes/n001')).body);
  expect(node.events.map((e: { message: string }) => e.message)).toEqual(expect.arrayContaining(['failed -> localboot: admin: localboot', 'script: localboot']));
});
