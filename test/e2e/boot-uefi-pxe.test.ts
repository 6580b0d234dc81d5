import { expect, test } from 'vitest';
import { useBootLab } from '../helpers/boot-lab.ts';
import { MARKER } from '../../scripts/lab/test-initrd.ts';

// UEFI without an iPXE ROM: OVMF's own PXE client gets ipxe.efi over TFTP from rackcast
// (after EDK2's tsize probe), that iPXE asks DHCP again and gets the script.

const lab = useBootLab();

test('OVMF native PXE -> ipxe.efi over TFTP -> script -> installer', async () => {
  const r = await lab().boot({ name: 'uefi-pxe', firmware: 'uefi', rom: 'none' }, ['NBP filename is ipxe.efi', 'rackcast: install n001', MARKER]);
  expect(r.ok, r.explain).toBe(true);
  const status = JSON.parse((await lab().http('/api/v1/status')).body);
  expect(status.counters['tftp.completed']).toBeGreaterThanOrEqual(1);
  expect(status.counters['tftp.failed'] ?? 0).toBe(0);
});
