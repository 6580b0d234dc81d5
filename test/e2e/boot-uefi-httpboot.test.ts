import { expect, test } from 'vitest';
import { useBootLab } from '../helpers/boot-lab.ts';
import { MARKER } from '../../scripts/lab/test-initrd.ts';

// UEFI HTTP boot (client architecture 16): OVMF with its PXE turned off asks DHCP as
// "HTTPClient", gets ipxe.efi as a URL with option 60 HTTPClient, and chains on from there.

const lab = useBootLab();

test('OVMF HTTP boot -> ipxe.efi over HTTP -> script -> installer', async () => {
  const r = await lab().boot(
    {
      name: 'uefi-httpboot',
      firmware: 'uefi',
      rom: 'none',
      extraArgs: ['-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n', '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n'],
    },
    ['Start HTTP Boot over IPv4', 'rackcast: install n001', MARKER],
  );
  expect(r.ok, r.explain).toBe(true);
  const node = JSON.parse((await lab().http('/api/v1/nodes/n001')).body);
  expect(node.events.some((e: { message: string; data?: { arch?: number } }) => e.message.includes('/firmware/ipxe.efi') && e.data?.arch === 16)).toBe(true);
});
