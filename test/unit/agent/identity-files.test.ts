import { expect, test } from 'vitest';
import { hostsWithHostname, renderFstab, renderInterfacesStanza, renderNetworkdUnit } from '../../../agent/identity-files.ts';

test('fstab names filesystems by UUID with pass numbers per type', () => {
  const text = renderFstab([
    { uuid: 'AAAA-BBBB', mount: '/boot/efi', fs: 'vfat' },
    { uuid: 'u-swap', mount: undefined, fs: 'swap' },
    { uuid: 'u-root', mount: '/', fs: 'ext4' },
    { uuid: 'u-srv', mount: '/srv', fs: 'xfs' },
  ]);
  expect(text.split('\n').slice(2)).toEqual([
    'UUID=AAAA-BBBB /boot/efi vfat umask=0077 0 2',
    'UUID=u-swap none swap sw 0 0',
    'UUID=u-root / ext4 errors=remount-ro 0 1',
    'UUID=u-srv /srv xfs defaults 0 0',
    '',
  ]);
});

test('hosts gets the node name on 127.0.1.1 once, other lines kept', () => {
  const before = '127.0.0.1\tlocalhost\n127.0.1.1\told\n::1\tlocalhost ip6-localhost\n';
  expect(hostsWithHostname(before, 'node7')).toBe('127.0.0.1\tlocalhost\n127.0.1.1\tnode7\n::1\tlocalhost ip6-localhost\n');
  expect(hostsWithHostname('', 'node7')).toBe('127.0.0.1\tlocalhost\n127.0.1.1\tnode7\n');
});

test('networkd unit matches the MAC; static mode carries address, gateway and DNS', () => {
  expect(renderNetworkdUnit({ mode: 'dhcp' }, '52:54:00:00:00:01')).toContain('[Match]\nMACAddress=52:54:00:00:00:01\n\n[Network]\nDHCP=yes\n');
  const s = renderNetworkdUnit({ mode: 'static', address: '10.0.0.5/24', gateway: '10.0.0.1', dns: ['10.0.0.2'] }, 'm');
  expect(s).toContain('Address=10.0.0.5/24\nGateway=10.0.0.1\nDNS=10.0.0.2\n');
});

test('ifupdown stanza for dhcp and static', () => {
  expect(renderInterfacesStanza({ mode: 'dhcp' }, 'eth0')).toContain('auto eth0\niface eth0 inet dhcp\n');
  expect(renderInterfacesStanza({ mode: 'static', address: '10.0.0.5/24', gateway: '10.0.0.1' }, 'eth0')).toContain('iface eth0 inet static\n    address 10.0.0.5/24\n    gateway 10.0.0.1\n');
});
