import { expect, test } from 'vitest';
import { useBootLab } from '../helpers/boot-lab.ts';
import { MARKER } from '../../scripts/lab/test-initrd.ts';

// UEFI with QEMU's iPXE EFI ROM: everything after DHCP over HTTP, with an initrd padded past
// 40 MiB (the size class of a real installer), kept alive between kernel and initrd.

const PAD_MIB = 42;
const lab = useBootLab({ initrdPadMiB: PAD_MIB });

test(`OVMF + iPXE ROM fetches kernel and a ${PAD_MIB}+ MiB initrd over HTTP and starts it`, async () => {
  const r = await lab().boot({ name: 'uefi-http', firmware: 'uefi' }, ['rackcast: install n001', MARKER]);
  expect(r.ok, r.explain).toBe(true);
  const line = r.vm.serial().split('\n').find((l) => l.includes(MARKER))!;
  // The padding file inside the initrd arrived whole.
  expect(line).toContain(`pad=${PAD_MIB * 1024 * 1024}`);
  const status = JSON.parse((await lab().http('/api/v1/status')).body);
  expect(status.counters['http.bytes']).toBeGreaterThan(PAD_MIB * 1024 * 1024);
});
