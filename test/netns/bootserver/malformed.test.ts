import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ServerStatus } from '../../../bootserver/api-types.ts';
import { BootLab, NODE_MAC, testBootLab } from '../../helpers/boot-lab.ts';
import { readUdpPcap } from '../../helpers/pcap.ts';

// Hostile input from the network at every port the server listens on: DHCP 67 (and 4011 in
// proxy mode), TFTP 69, HTTP. Nothing may stop the server; drops are counted by code and a
// real request right after is still answered.

const PROBE = resolve(import.meta.dirname, '../../../scripts/lab/dhcp-probe.ts');
let bl: BootLab;

const discover = (() => {
  const d = readUdpPcap('test/fixtures/pcap/dhcp-ipxe-bios.pcap').find((x) => x.dport === 67)!;
  const buf = Buffer.from(d.payload);
  Buffer.from(NODE_MAC.replace(/:/g, ''), 'hex').copy(buf, 28);
  return buf;
})();

function junk(): string[] {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
  const out: Buffer[] = [Buffer.alloc(0), Buffer.from([1]), Buffer.alloc(300), discover.subarray(0, 239), Buffer.concat([discover.subarray(0, 240), Buffer.from([12, 250, 1])])];
  for (let i = 0; i < 40; i++) {
    const b = Buffer.from(discover);
    for (let k = 0; k < 8; k++) b[(rnd() * 256 + rnd()) % b.length] = rnd();
    out.push(i % 3 ? b : b.subarray(0, rnd() + 100));
  }
  return out.filter((b) => b.length > 0).map((b) => b.toString('hex'));
}

async function probe(to: string, hex: string[], waitMs = 800): Promise<string[]> {
  const r = await bl.lab.exec('cl', [process.execPath, PROBE, '--to', to, '--wait-ms', String(waitMs), ...hex.flatMap((h) => ['--hex', h])], { timeoutMs: 60_000 });
  return r.stdout.trim().split('\n').filter(Boolean);
}

async function counters(): Promise<Record<string, number>> {
  return (JSON.parse((await bl.http('/api/v1/status')).body) as ServerStatus).counters;
}

async function alive(): Promise<boolean> {
  const pid = bl.serverPid();
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  bl = await testBootLab({ hosts: [{ role: 'cl', cidr: '10.78.0.250/24' }], ra: false });
});
afterAll(async () => {
  await bl?.destroy();
});

test('full mode: junk on 67, 69 and HTTP is dropped and counted; a real DISCOVER is still answered', async () => {
  await bl.startServer();
  await probe('255.255.255.255:67', junk());
  await probe('10.78.0.1:69', ['00', '0001', '0001ff', '0005000141', '000200', 'ffffffffffffffff', '0001' + '41'.repeat(600)]);
  const http = await bl.lab.exec('cl', [
    process.execPath,
    '-e',
    `const net=require('net');let n=0;const go=(s)=>new Promise(r=>{const c=net.connect(8080,'10.78.0.1',()=>c.end(s));c.on('data',()=>{});c.on('close',r);c.on('error',r)});
     (async()=>{for(const s of ['\\x00\\x01\\x02','GET /\\x7f HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n','POST /api/v1/agent/step HTTP/1.1\\r\\nContent-Length: -5\\r\\n\\r\\n','GET '+'/a'.repeat(50000)+' HTTP/1.1\\r\\n\\r\\n','GET /boot/%ZZ.ipxe HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'])await go(s);console.log('done')})()`,
  ]);
  expect(http.stdout).toContain('done');
  const c = await counters();
  const dhcpDrops = Object.entries(c).filter(([k]) => k.startsWith('dhcp.dropped.BOOT_DECODE_DHCP_'));
  expect(dhcpDrops.length).toBeGreaterThanOrEqual(3);
  expect(c['dhcp.dropped.BOOT_DHCP_INTERNAL'] ?? 0).toBe(0);
  expect(Object.keys(c).some((k) => k.startsWith('http.dropped.BOOT_DECODE_HTTP_'))).toBe(true);
  expect(await alive()).toBe(true);
  const replies = await probe('255.255.255.255:67', [discover.toString('hex')], 1500);
  expect(replies.some((l) => l.includes('reply OFFER'))).toBe(true);
  // TFTP still serves after the junk.
  const t = await bl.lab.exec('cl', ['curl', '-sS', '-o', '/dev/null', '-w', '%{size_download}', 'tftp://10.78.0.1/undionly.kpxe']);
  expect(Number(t.stdout)).toBeGreaterThan(50_000);
});

test('proxy mode: junk on 67 and 4011 is dropped and counted; a real proxy request is still answered', async () => {
  await bl.stopServer();
  bl.config.dhcp = { mode: 'proxy' };
  await bl.startServer();
  await probe('255.255.255.255:67', junk());
  await probe('10.78.0.1:4011', junk());
  const c = await counters();
  expect(c['dhcp.rx']).toBeGreaterThanOrEqual(80);
  expect(Object.keys(c).filter((k) => k.startsWith('dhcp.dropped.')).length).toBeGreaterThanOrEqual(2);
  expect(await alive()).toBe(true);
  const replies = await probe('255.255.255.255:67', [discover.toString('hex')], 1500);
  expect(replies.some((l) => l.includes('reply OFFER') && l.includes('PXEClient'))).toBe(true);
});
