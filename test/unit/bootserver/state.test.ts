import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { parseConfig } from '../../../bootserver/config.ts';
import { renderScript } from '../../../bootserver/ipxe.ts';
import { StatePolicy } from '../../../bootserver/policy.ts';
import { NodeStore, openStateDb } from '../../../bootserver/state.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function cfg(extra: Record<string, unknown> = {}) {
  return parseConfig('t.yaml', {
    server: { interface: 'eth0', address: '10.78.0.1' },
    dhcp: { mode: 'off', unknownNodes: 'discover' },
    installer: { kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0' },
    images: { img: { dir: '/x' } },
    groups: { uefi: { localBoot: 'exit' } },
    nodes: [
      { mac: '52:54:00:78:00:10', hostname: 'n001', image: 'img' },
      { mac: '52:54:00:78:00:11', hostname: 'n002', groups: ['uefi'] },
    ],
    ...extra,
  });
}

function store(): { nodes: NodeStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'rcstate-'));
  dirs.push(dir);
  const nodes = new NodeStore(openStateDb(dir));
  return { nodes, dir };
}

test('configured nodes start in install with a token; the phase machine refuses what it does not allow', () => {
  const { nodes } = store();
  nodes.syncConfig(cfg().nodes);
  const n = nodes.get('52:54:00:78:00:10')!;
  expect(n).toMatchObject({ phase: 'install', hostname: 'n001', configured: true });
  expect(n.token).toMatch(/^[0-9a-f]{64}$/);
  nodes.setPhase(n.mac, 'installing', 'plan');
  nodes.setPhase(n.mac, 'installed', 'bootloader');
  expect(() => nodes.setPhase(n.mac, 'installing', 'late agent')).toThrow(expect.objectContaining({ code: 'BOOT_API_PHASE', status: 409 }));
  expect(() => nodes.setPhase(n.mac, 'failed', 'x')).toThrow(expect.objectContaining({ code: 'BOOT_API_PHASE' }));
});

test('reinstalling an installed node issues a new token, so the old one stops working; a failed one keeps it for its waiting agent', () => {
  const { nodes } = store();
  nodes.syncConfig(cfg().nodes);
  const mac = '52:54:00:78:00:10';
  const before = nodes.get(mac)!.token!;
  nodes.setPhase(mac, 'installing', 'plan');
  nodes.setPhase(mac, 'failed', 'step');
  nodes.setPhase(mac, 'install', 'admin: reinstall');
  expect(nodes.get(mac)!.token).toBe(before);
  nodes.setPhase(mac, 'installing', 'plan');
  nodes.setPhase(mac, 'installed', 'bootloader');
  nodes.setPhase(mac, 'install', 'admin: reinstall');
  const after = nodes.get(mac)!.token!;
  expect(after).not.toBe(before);
  expect(nodes.byToken(before)).toBeNull();
  expect(nodes.byToken(after)?.hostname).toBe('n001');
});

test('a restart loses nothing: phases, tokens, events, discovered machines', () => {
  const { nodes, dir } = store();
  nodes.syncConfig(cfg().nodes);
  nodes.setPhase('52:54:00:78:00:10', 'installing', 'plan');
  nodes.discover('02:00:00:00:00:01', 7);
  nodes.event('52:54:00:78:00:10', 'step', 'partition succeeded');
  const again = new NodeStore(openStateDb(dir));
  again.syncConfig(cfg().nodes);
  expect(again.get('52:54:00:78:00:10')?.phase).toBe('installing');
  expect(again.get('02:00:00:00:00:01')).toMatchObject({ phase: 'discovered', arch: 7, configured: false });
  expect(again.events('52:54:00:78:00:10').map((e) => e.message)).toEqual(['configured: install', 'install -> installing: plan', 'partition succeeded']);
});

test('a discovered machine that is added to the config becomes install; one removed from the config stays, unconfigured', () => {
  const { nodes } = store();
  nodes.discover('02:00:00:00:00:01', 0);
  const c = cfg({ nodes: [{ mac: '02:00:00:00:00:01', hostname: 'n099' }] });
  nodes.syncConfig(c.nodes);
  expect(nodes.get('02:00:00:00:00:01')).toMatchObject({ phase: 'install', hostname: 'n099', configured: true });
  nodes.syncConfig([]);
  expect(nodes.get('02:00:00:00:00:01')).toMatchObject({ phase: 'install', configured: false });
});

test('the policy turns phases into boot decisions', () => {
  const { nodes } = store();
  const c = cfg();
  nodes.syncConfig(c.nodes);
  const policy = new StatePolicy(nodes, c);
  expect(policy.decide({ mac: '52:54:00:78:00:10', arch: 0 })).toMatchObject({ action: 'install', mode: 'install', hostname: 'n001' });
  nodes.setPhase('52:54:00:78:00:10', 'localboot', 'admin');
  expect(policy.decide({ mac: '52:54:00:78:00:10', arch: 0 })).toEqual({ action: 'localboot', method: 'auto', reason: 'localboot' });
  nodes.setPhase('52:54:00:78:00:11', 'installing', 'plan');
  nodes.setPhase('52:54:00:78:00:11', 'installed', 'bootloader');
  expect(policy.decide({ mac: '52:54:00:78:00:11', arch: 7 })).toEqual({ action: 'localboot', method: 'exit', reason: 'installed' });
  nodes.setPhase('52:54:00:78:00:11', 'install', 'admin');
  nodes.setPhase('52:54:00:78:00:11', 'installing', 'plan');
  nodes.setPhase('52:54:00:78:00:11', 'failed', 'step');
  expect(policy.decide({ mac: '52:54:00:78:00:11', arch: 7 }).action).toBe('none');
  // unknownNodes: discover -> inventory mode for a stranger
  expect(policy.decide({ mac: '02:00:00:00:00:05', arch: 0 })).toMatchObject({ action: 'install', mode: 'inventory' });
  expect(nodes.get('02:00:00:00:00:05')?.phase).toBe('discovered');
});

test('install scripts carry the kernel, initrd and rackcast.* parameters; local boot follows the method', () => {
  const c = cfg();
  const install = renderScript('52:54:00:78:00:10', { action: 'install', mode: 'install', token: 'ab'.repeat(32), hostname: 'n001' }, c);
  expect(install).toContain('kernel http://10.78.0.1:8080/installer/vmlinuz initrd=initrd.img console=ttyS0 rackcast.server=http://10.78.0.1:8080 ');
  expect(install).toContain(`rackcast.token=${'ab'.repeat(32)} rackcast.mode=install BOOTIF=01-52-54-00-78-00-10`);
  expect(install).toContain('initrd --name initrd.img http://10.78.0.1:8080/installer/initrd.img');
  expect(install.startsWith('#!ipxe\n')).toBe(true);
  const sanboot = renderScript('52:54:00:78:00:10', { action: 'localboot', method: 'sanboot', reason: 'installed' }, c);
  expect(sanboot).toContain('sanboot --no-describe --drive 0x80');
  expect(sanboot).not.toContain('platform');
  const exit = renderScript('52:54:00:78:00:10', { action: 'localboot', method: 'exit', reason: 'installed' }, c);
  expect(exit).not.toContain('sanboot');
  expect(exit).toContain('exit 1');
  const auto = renderScript('52:54:00:78:00:10', { action: 'localboot', method: 'auto', reason: 'installed' }, c);
  expect(auto).toContain('iseq ${platform} efi && goto exit');
  expect(auto).toContain('sanboot');
});
