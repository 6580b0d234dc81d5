import { expect, test } from 'vitest';
import { useBootLab } from '../helpers/boot-lab.ts';
import { MARKER } from '../../scripts/lab/test-initrd.ts';

// proxyDHCP: the site's DHCP server (dnsmasq, addresses only, own namespace) and rackcast
// in proxy mode on one LAN. OVMF's PXE takes the address from one and the boot file from
// the other, loads ipxe.efi from us over TFTP; iPXE does the same and gets the script.

const lab = useBootLab({ hosts: [{ role: 'site', cidr: '10.78.0.2/24' }] }, (bl) => {
  bl.startSiteDhcp('site');
  bl.config.dhcp = { mode: 'proxy' };
});

test('OVMF native PXE boots through proxyDHCP beside a separate DHCP server', async () => {
  const r = await lab().boot({ name: 'proxy', firmware: 'uefi', rom: 'none' }, ['NBP filename is ipxe.efi', 'rackcast: install n001', MARKER]);
  expect(r.ok, r.explain).toBe(true);
  const status = JSON.parse((await lab().http('/api/v1/status')).body);
  expect(status.counters['dhcp.tx.proxyOffer']).toBeGreaterThanOrEqual(2);
  expect(status.counters['dhcp.tx.offer'] ?? 0).toBe(0);
});
