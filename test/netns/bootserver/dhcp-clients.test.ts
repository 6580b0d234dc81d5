import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ServerStatus } from '../../../bootserver/api-types.ts';
import { BootLab, testBootLab } from '../../helpers/boot-lab.ts';

// Real DHCP clients (busybox udhcpc, ISC dhclient) and a herd of 500 simulated ones
// against `rackcast serve` in full mode, between namespaces.

const HERD = resolve(import.meta.dirname, '../../../scripts/lab/dhcp-herd.ts');
let bl: BootLab;
let script: string;

async function udhcpc(role: string, mac: string, tries = 3): Promise<{ ip?: string; hostname?: string; out: string }> {
  await bl.lab.exec(role, ['ip', 'link', 'set', 'eth0', 'address', mac]);
  const r = await bl.lab.exec(role, ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', String(tries), '-T', '1', '-s', script]);
  const m = /BOUND (\S+) (\S*)/.exec(r.stdout);
  return { ...(m ? { ip: m[1]!, hostname: m[2]! } : {}), out: r.stdout + r.stderr };
}

async function status(): Promise<ServerStatus> {
  return JSON.parse((await bl.http('/api/v1/status')).body) as ServerStatus;
}

beforeAll(async () => {
  bl = await testBootLab({ hosts: [{ role: 'c1', cidr: '10.78.0.251/24' }, { role: 'c2', cidr: '10.78.0.252/24' }], ra: false });
  script = join(bl.dir, 'udhcpc.sh');
  writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "BOUND $ip $hostname"\nexit 0\n', { mode: 0o755 });
  bl.config.dhcp.subnets = [{ subnet: '10.78.0.0/22', range: '10.78.1.0-10.78.3.250', router: '10.78.0.1', dns: ['10.78.0.1'] }];
  bl.config.dhcp.unknownNodes = 'discover';
  bl.config.dhcp.reservations = [{ mac: '02:aa:00:00:00:05', ip: '10.78.0.55', hostname: 'bmc5' }];
  bl.config.nodes.push({ mac: '02-AA-00-00-00-06', hostname: 'n006', ip: '10.78.0.66' });
  await bl.startServer();
});
afterAll(async () => {
  await bl?.destroy();
});

describe('real clients, full mode', () => {
  test('udhcpc gets a lease from the pool', async () => {
    const r = await udhcpc('c1', '02:aa:00:00:00:01');
    expect(r.ip, r.out).toBe('10.78.1.0');
  });

  test('dhclient gets the reservation of its MAC, with the host name', async () => {
    await bl.lab.exec('c2', ['ip', 'link', 'set', 'eth0', 'address', '02:aa:00:00:00:05']);
    const leases = join(bl.dir, 'dhclient.leases');
    const r = await bl.lab.exec('c2', ['dhclient', '-1', '-v', '-sf', '/bin/true', '-lf', leases, '-pf', join(bl.dir, 'dhclient.pid'), 'eth0'], { timeoutMs: 60_000 });
    expect(r.stderr).toMatch(/DHCPACK of 10\.78\.0\.55 from 10\.78\.0\.1/);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(leases, 'utf8')).toContain('option host-name "bmc5"');
  });

  test("a configured node's MAC (written 02-AA-... in the config) gets its address and name", async () => {
    const r = await udhcpc('c1', '02:aa:00:00:00:06');
    expect(r).toMatchObject({ ip: '10.78.0.66', hostname: 'n006' });
  });

  test('the same client gets the same address again, also after a server restart (leases persist)', async () => {
    const first = await udhcpc('c2', '02:aa:00:00:00:07');
    await bl.stopServer();
    await bl.startServer();
    const again = await udhcpc('c2', '02:aa:00:00:00:07');
    expect(again.ip).toBe(first.ip);
  });

  test('a herd of 500 clients within 10 s: every one bound, no address twice', async () => {
    // One socket on 0.0.0.0:68 in c1 (which keeps its own address to send from) speaks for 500 MACs.
    const r = await bl.lab.exec('c1', [process.execPath, HERD, '--clients', '500', '--spread-ms', '10000', '--mac-prefix', '02:bb'], { timeoutMs: 120_000 });
    const s = JSON.parse(r.stdout) as { bound: number; failed: number; duplicateIps: number; leases: Record<string, string>; latencyMs: { p99: number } };
    expect(s).toMatchObject({ bound: 500, failed: 0, duplicateIps: 0 });
    // And none of them got an address some real client above holds.
    expect(Object.values(s.leases)).not.toContain('10.78.1.0');
    expect((await status()).counters['dhcp.tx.ack']).toBeGreaterThanOrEqual(500);
  });
});

describe('limits', () => {
  test('unknown MACs get nothing with unknownNodes: ignore; a full pool answers nobody new and the server lives on', async () => {
    await bl.stopServer();
    bl.config.dhcp.unknownNodes = 'ignore';
    await bl.startServer();
    expect((await udhcpc('c1', '02:aa:00:00:00:31', 2)).ip).toBeUndefined();
    expect((await status()).counters['dhcp.ignored.unknownMac']).toBeGreaterThanOrEqual(1);

    await bl.stopServer();
    bl.config.dhcp.unknownNodes = 'discover';
    bl.config.dhcp.subnets = [{ subnet: '10.78.0.0/24', range: '10.78.0.200-10.78.0.201' }];
    bl.config.paths.stateDir = join(bl.dir, 'state-small');
    await bl.startServer();
    const got = [];
    for (const mac of ['02:cc:00:00:00:01', '02:cc:00:00:00:02', '02:cc:00:00:00:03']) got.push((await udhcpc('c1', mac, 2)).ip);
    expect(got).toEqual(['10.78.0.200', '10.78.0.201', undefined]);
    const s = await status();
    expect(s.counters['dhcp.poolExhausted']).toBeGreaterThanOrEqual(1);
    // Still serving: a known client renews its address.
    expect((await udhcpc('c1', '02:cc:00:00:00:01')).ip).toBe('10.78.0.200');
  });
});
