import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ServerStatus } from '../../../bootserver/api-types.ts';
import { MessageType, type DhcpPacket } from '../../../bootserver/dhcp/packet.ts';
import { BootLab, NODE_MAC, testBootLab } from '../../helpers/boot-lab.ts';
import { readUdpPcap } from '../../helpers/pcap.ts';

// proxyDHCP beside the site's DHCP server (dnsmasq, addresses only, in its own namespace):
// OS clients are left to the site server; PXE clients get our boot offer on 67 and our
// ACK on 4011. Requests are captured firmware packets with only the MAC changed.

const PROBE = resolve(import.meta.dirname, '../../../scripts/lab/dhcp-probe.ts');
let bl: BootLab;

/** The first captured client packet of a type, raw, with the node's MAC written in. */
function capturedHex(name: string, type: MessageType): string {
  const d = readUdpPcap(`test/fixtures/pcap/dhcp-${name}.pcap`).find((x) => x.dport === 67 && x.payload[242] === type)!;
  const buf = Buffer.from(d.payload);
  Buffer.from(NODE_MAC.replace(/:/g, ''), 'hex').copy(buf, 28);
  return buf.toString('hex');
}

async function probe(args: string[]): Promise<{ from: string; packet: DhcpPacket }[]> {
  const r = await bl.lab.exec('cl', [process.execPath, PROBE, ...args], { timeoutMs: 30_000 });
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

beforeAll(async () => {
  bl = await testBootLab({ hosts: [{ role: 'site', cidr: '10.78.0.2/24' }, { role: 'cl', cidr: '10.78.0.250/24' }], ra: false });
  bl.startSiteDhcp('site');
  bl.config.dhcp = { mode: 'proxy' };
  await bl.startServer();
});
afterAll(async () => {
  await bl?.destroy();
});

test('the site server alone answers an OS DHCP client', async () => {
  const script = join(bl.dir, 'udhcpc.sh');
  writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "BOUND $ip $serverid $boot_file"\nexit 0\n', { mode: 0o755 });
  await bl.lab.exec('cl', ['ip', 'link', 'set', 'eth0', 'address', '02:dd:00:00:00:01']);
  const r = await bl.lab.exec('cl', ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '3', '-T', '1', '-s', script]);
  expect(r.stdout).toMatch(/BOUND 10\.78\.0\.1\d\d 10\.78\.0\.2 $/m);
  const s = JSON.parse((await bl.http('/api/v1/status')).body) as ServerStatus;
  expect(s.counters['dhcp.ignored.notPxe']).toBeGreaterThanOrEqual(1);
  expect(s.counters['dhcp.tx.proxyOffer'] ?? 0).toBe(0);
});

test('a PXE DISCOVER (OVMF) gets the address from the site and the boot file from us, without an address', async () => {
  const replies = await probe(['--hex', capturedHex('edk2-pxe', MessageType.DISCOVER), '--wait-ms', '2500']);
  const site = replies.find((r) => r.packet.options.serverId === '10.78.0.2');
  const ours = replies.find((r) => r.packet.options.serverId === '10.78.0.1');
  expect(site?.packet.yiaddr).toMatch(/^10\.78\.0\.1\d\d$/);
  expect(site?.packet.options.bootFile).toBeUndefined();
  expect(ours?.packet).toMatchObject({ yiaddr: '0.0.0.0', siaddr: '10.78.0.1', file: 'ipxe.efi' });
  expect(ours?.packet.options).toMatchObject({ messageType: MessageType.OFFER, vendorClass: 'PXEClient', vendorSpecific: [6, 1, 8, 255], bootFile: 'ipxe.efi' });
  expect(ours?.packet.options.clientUuid).toHaveLength(17);
});

test('a proxy REQUEST to port 4011 (iPXE) gets an ACK with the script URL back to its address', async () => {
  const replies = await probe(['--to', '10.78.0.1:4011', '--hex', capturedHex('ipxe-bios', MessageType.REQUEST), '--wait-ms', '1500']);
  expect(replies).toHaveLength(1);
  expect(replies[0]!.from).toBe('10.78.0.1:4011');
  expect(replies[0]!.packet.options).toMatchObject({ messageType: MessageType.ACK, bootFile: 'http://10.78.0.1:8080/boot/52-54-00-78-00-10.ipxe', vendorClass: 'PXEClient' });
});
