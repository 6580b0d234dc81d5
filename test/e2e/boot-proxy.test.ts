import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { BootLab } from '../helpers/boot-lab.ts';
import { MARKER } from '../helpers/test-initrd.ts';

// proxyDHCP: the site's DHCP server (dnsmasq, addresses only, own namespace) and rackcast
// in proxy mode on one LAN. OVMF's PXE takes the address from one and the boot file from
// the other, loads ipxe.efi from us over TFTP; iPXE does the same and gets the script.

let bl: BootLab;
beforeAll(async () => {
  bl = await BootLab.create({ hosts: [{ role: 'site', cidr: '10.78.0.2/24' }] });
  bl.lab.spawn('site', [
    'dnsmasq', '-k', '-C', '/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces', '--no-ping', '--dhcp-authoritative',
    '--dhcp-range=10.78.0.100,10.78.0.199,255.255.255.0,1h', `--dhcp-leasefile=${join(bl.dir, 'site.leases')}`, `--pid-file=${join(bl.dir, 'site.pid')}`, '--user=root',
  ], { stdio: 'ignore' });
  bl.config.dhcp = { mode: 'proxy' };
  await bl.startServer();
});
afterAll(async () => {
  await bl?.destroy();
});

test('OVMF native PXE boots through proxyDHCP beside a separate DHCP server', async () => {
  const r = await bl.boot({ name: 'proxy', firmware: 'uefi', rom: 'none' }, ['NBP filename is ipxe.efi', 'rackcast: install n001', MARKER]);
  expect(r.ok, r.explain).toBe(true);
  const status = JSON.parse((await bl.http('/api/v1/status')).body);
  expect(status.counters['dhcp.tx.proxyOffer']).toBeGreaterThanOrEqual(2);
  expect(status.counters['dhcp.tx.offer'] ?? 0).toBe(0);
});
