import { join } from 'node:path';
import { expect, test } from 'vitest';
import { useBootLab } from '../helpers/boot-lab.ts';
import { DISK_MARKER, writeMarkerDisk } from '../helpers/boot-disk.ts';
import { MARKER, REPORTED } from '../../scripts/lab/test-initrd.ts';

// The whole cycle on one VM: PXE -> installer (the test initrd fetches the plan with its
// token and reports the bootloader step, as the agent will) -> the node is installed ->
// reboot -> PXE again -> the local-boot script -> the disk's own boot sector runs.

const lab = useBootLab({}, (bl) => {
  bl.config.installer.cmdline += ' rctest.report=1';
});

test('an installed node gets the local-boot answer and boots its disk', async () => {
  const bl = lab();
  const disk = writeMarkerDisk(join(bl.dir, 'disk.img'));
  const r = await bl.boot(
    { name: 'cycle', firmware: 'bios', allowReboot: true, disks: [{ file: disk, bootindex: 2 }] },
    [MARKER, REPORTED, 'rackcast: local boot (installed', DISK_MARKER],
    300_000,
  );
  expect(r.ok, r.explain).toBe(true);
  expect(r.marks[DISK_MARKER]!).toBeGreaterThan(r.marks[REPORTED]!);
  const node = JSON.parse((await bl.http('/api/v1/nodes/n001')).body);
  expect(node.phase).toBe('installed');
  expect(node.events.map((e: { message: string }) => e.message)).toEqual(
    expect.arrayContaining(['install -> installing: agent fetched the plan', 'installing -> installed: install complete', 'script: localboot']),
  );
});
