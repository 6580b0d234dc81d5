import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ServerStatus } from '../../../bootserver/api-types.ts';
import { BootLab, testBootLab } from '../../helpers/boot-lab.ts';

// A multi-homed server: eth0 on segment A (10.78.0.1/24), eth1 on segment B (10.79.0.1/24),
// a client on each. DHCP must answer only on the configured interface, whichever it is,
// although both segments' broadcasts reach the host and the routing table sends
// 255.255.255.255 out of eth0. The control: a plain 0.0.0.0:67 socket beside ours hears both.

let bl: BootLab;
let script: string;

async function lease(role: string, ifname: string): Promise<string | undefined> {
  const r = await bl.lab.exec(role, ['udhcpc', '-i', ifname, '-f', '-q', '-n', '-t', '3', '-T', '1', '-s', script]);
  return /BOUND (\S+)/.exec(r.stdout)?.[1];
}

async function serve(ifname: 'eth0' | 'eth1'): Promise<void> {
  await bl.stopServer();
  bl.config.server = { interface: ifname, address: ifname === 'eth0' ? '10.78.0.1' : '10.79.0.1', httpPort: 8080 };
  bl.config.dhcp.subnets = [
    ifname === 'eth0' ? { subnet: '10.78.0.0/24', range: '10.78.0.100-10.78.0.199' } : { subnet: '10.79.0.0/24', range: '10.79.0.100-10.79.0.199' },
  ];
  bl.config.paths.stateDir = join(bl.dir, `state-${ifname}`);
  await bl.startServer();
}

beforeAll(async () => {
  bl = await testBootLab({ hosts: [{ role: 'ca', cidr: '10.78.0.21/24' }, { role: 'cb', cidr: '10.78.0.22/24' }], ra: false });
  await bl.lab.addSegment('b');
  await bl.lab.attach('srv', 'b', 'eth1', '10.79.0.1/24');
  // cb lives on segment B only.
  await bl.lab.exec('cb', ['ip', 'link', 'set', 'eth0', 'down']);
  await bl.lab.attach('cb', 'b', 'eth1', '10.79.0.22/24');
  script = join(bl.dir, 'udhcpc.sh');
  writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "BOUND $ip"\nexit 0\n', { mode: 0o755 });
  bl.config.dhcp.unknownNodes = 'discover';
});
afterAll(async () => {
  await bl?.destroy();
});

test('configured on eth1: the client on B gets a lease, the one on A gets nothing', async () => {
  await serve('eth1');
  // Control: an unbound socket on 0.0.0.0:67 in the server namespace hears A's client.
  const spy = bl.lab.spawn('srv', [process.execPath, '-e', "const s=require('dgram').createSocket({type:'udp4',reuseAddr:true});let n=0;s.on('message',()=>n++);s.bind(67,()=>console.log('ready'));setTimeout(()=>{console.log('heard',n);process.exit(0)},6000)"], { stdio: ['ignore', 'pipe', 'ignore'] });
  let spyOut = '';
  spy.stdout!.on('data', (d) => (spyOut += d));
  const readyBy = Date.now() + 10_000;
  while (!spyOut.includes('ready') && Date.now() < readyBy) await new Promise((r) => setTimeout(r, 20));
  expect(spyOut, 'the spy socket never bound port 67').toContain('ready');
  const before = JSON.parse((await bl.http('/api/v1/status')).body) as ServerStatus;
  expect(await lease('ca', 'eth0')).toBeUndefined();
  const after = JSON.parse((await bl.http('/api/v1/status')).body) as ServerStatus;
  // Our server never even received A's DISCOVERs; the kernel kept them from its socket.
  expect(after.counters['dhcp.rx'] ?? 0).toBe(before.counters['dhcp.rx'] ?? 0);
  expect(await lease('cb', 'eth1')).toMatch(/^10\.79\.0\.1\d\d$/);
  await new Promise<void>((r) => spy.once('exit', () => r()));
  expect(Number(/heard (\d+)/.exec(spyOut)?.[1])).toBeGreaterThan(0);
});

test('configured on eth0: the client on A gets a lease, the one on B gets nothing', async () => {
  await serve('eth0');
  expect(await lease('ca', 'eth0')).toMatch(/^10\.78\.0\.1\d\d$/);
  expect(await lease('cb', 'eth1')).toBeUndefined();
});
