import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, parseConfig } from '../../../bootserver/config.ts';
import { ConfigError } from '../../../bootserver/errors.ts';
import { buildPlan } from '../../../bootserver/install/plan.ts';
import { parseSizeMiB, validatePlan } from '../../../contract/index.ts';

const EXAMPLE = 'bootserver/rackcast.example.yaml';
const iface = { interfaceAddress: () => '10.78.0.1' };

function withChange(change: (doc: any) => void): unknown {
  const doc = parse(readFileSync(EXAMPLE, 'utf8'));
  change(doc);
  return doc;
}

function errorOf(doc: unknown): ConfigError {
  try {
    parseConfig('r.yaml', doc, iface);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no error');
}

describe('the shipped example config', () => {
  const cfg = loadConfig(EXAMPLE, iface);

  test('loads with its documented defaults', () => {
    expect(cfg.server).toMatchObject({ interface: 'eth1', address: '10.78.0.1', httpPort: 8080, publicUrl: 'http://10.78.0.1:8080', adminTokenFile: '/var/lib/rackcast/admin.token', batchIo: true });
    expect(cfg.dhcp).toMatchObject({ mode: 'full', leaseTimeSec: 3600, unknownNodes: 'ignore', authoritative: true });
    expect(cfg.tftp).toMatchObject({ root: '/var/lib/rackcast/tftp', blockSizeMax: 1468, windowSizeMax: 16, busyPollUs: 200 });
    expect(cfg.firstStage).toEqual({ bios: '/usr/lib/ipxe/undionly.kpxe', uefiX64: '/usr/lib/ipxe/ipxe.efi' });
  });

  test('a node gets defaults, then its groups, then its own settings', () => {
    const n1 = cfg.nodes[0]!;
    expect(n1).toMatchObject({ mac: '52:54:00:78:00:10', hostname: 'n001', ip: '10.78.0.11', image: 'debian12', localBoot: 'exit', bootloader: 'grub' });
    expect(n1.disk.layout.map((p) => p.role)).toEqual(['bios-boot', 'esp', 'root']);
  });

  test('images are directories with session settings; a group may override them', () => {
    expect(cfg.images.debian12).toEqual({ dir: '/var/lib/rackcast/images/debian12', zstdLevel: 3, session: { minWaitSec: 0, maxWaitSec: 300 } });
    const c = parseConfig('r.yaml', withChange((d) => {
      d.paths.stateDir = '/srv/rc';
      d.images = { tiny: { minReceivers: 10, maxWait: '90s' } };
      d.defaults.image = 'tiny';
      d.groups.rack1.session = { maxWait: '20m', minWait: '10s' };
    }), iface);
    expect(c.images.tiny).toEqual({ dir: '/srv/rc/images/tiny', zstdLevel: 3, session: { minReceivers: 10, minWaitSec: 0, maxWaitSec: 90 } });
    expect(c.nodes[0]!.session).toEqual({ maxWaitSec: 1200, minWaitSec: 10 });
  });

  test('sizes the agent takes (20G, 512M, 1.5 GiB) load, and the plan built from them passes the agent\'s validator', () => {
    const c = parseConfig('r.yaml', withChange((d) => {
      d.defaults.disk.layout = [{ name: 'esp', role: 'esp', size: '512M' }, { name: 'root', role: 'root', size: '20G' }, { name: 'scratch', role: 'data', size: '1.5 GiB', fs: 'xfs', mount: '/scratch' }];
    }), iface);
    const plan = validatePlan(buildPlan(c.nodes[0]!, c, 9000));
    expect(plan.disk.layout.map((p) => parseSizeMiB('size', p.size))).toEqual([512, 20480, 1536]);
  });

  test('a node whose plan the agent would refuse is a config error naming the node', () => {
    const err = errorOf(withChange((d) => (d.nodes[1].hooks = ['echo ok', ''])));
    expect(err.details.key).toBe('nodes[1]');
    expect(err.message).toContain('plan: hooks[1] is ""');
  });

  test('MACs in any spelling are normalised', () => {
    const c = parseConfig('r.yaml', withChange((d) => {
      d.nodes[0].mac = '52-54-00-78-00-1A';
      d.nodes[1].mac = '5254.0078.001b';
    }), iface);
    expect(c.nodes.map((n) => n.mac)).toEqual(['52:54:00:78:00:1a', '52:54:00:78:00:1b']);
  });
});

describe('errors name the key, the bad value and what is allowed', () => {
  test.each([
    ['a bad mode', (d: any) => (d.dhcp.mode = 'fool'), 'dhcp.mode', '"fool"', 'one of full, proxy, off'],
    ['an unknown key', (d: any) => (d.dhcp.modes = 'full'), 'dhcp.modes', '"full"', 'unknown key'],
    ['an image given as a file', (d: any) => (d.images.debian12 = { file: '/srv/x.tar.zst' }), 'images.debian12.file', '"/srv/x.tar.zst"', 'unknown key'],
    ['a relative image directory', (d: any) => (d.images.debian12.dir = 'images/debian12'), 'images.debian12.dir', '"images/debian12"', 'an absolute path'],
    ['a bad session wait', (d: any) => (d.groups.rack1.session = { maxWait: 'soon' }), 'groups.rack1.session.maxWait', '"soon"', 'a duration'],
    ['a bad MAC', (d: any) => (d.nodes[1].mac = '52:54:00:zz:00:11'), 'nodes[1].mac', '"52:54:00:zz:00:11"', 'a MAC address'],
    ['a duplicate host name', (d: any) => (d.nodes[1].hostname = 'n001'), 'nodes[1].hostname', '"n001"', 'not already used by nodes[0]'],
    ['a range outside its subnet', (d: any) => (d.dhcp.subnets[0].range = '10.78.0.100-10.79.0.5'), 'dhcp.subnets[0].range', '10.79.0.5', 'inside 10.78.0.0/24'],
    ['a node address taken by a reservation', (d: any) => (d.nodes[0].ip = '10.78.0.5'), 'nodes[0].ip', '"10.78.0.5"', 'dhcp.reservations[0]'],
    ['a node address outside every subnet (full mode)', (d: any) => (d.nodes[1].ip = '10.99.0.12'), 'nodes[1].ip', '"10.99.0.12"', 'inside one of dhcp.subnets'],
    ['a busy-poll budget past 10 ms', (d: any) => (d.tftp.busyPollUs = 20_000), 'tftp.busyPollUs', '20000', 'an integer from 0 to 10000'],
    ['batched I/O given as a word', (d: any) => (d.server.batchIo = 'off'), 'server.batchIo', '"off"', 'true or false'],
    ['an unknown image', (d: any) => (d.nodes[0].image = 'centos'), 'nodes[0].image', '"centos"', 'one of the images debian12'],
    ['an unknown group', (d: any) => (d.nodes[0].groups = ['rack9']), 'nodes[0].groups', 'rack9', 'groups defined under groups: (rack1)'],
    ['a bad duration', (d: any) => (d.dhcp.leaseTime = '1x'), 'dhcp.leaseTime', '"1x"', 'a duration'],
    ['a port out of range', (d: any) => (d.server.httpPort = 70000), 'server.httpPort', '70000', 'an integer from 1 to 65535'],
    ['a full-mode server outside every subnet', (d: any) => (d.server.address = '192.168.9.9'), 'dhcp.subnets', '', 'contains the server address 192.168.9.9'],
    ['a bad partition size', (d: any) => (d.defaults.disk.layout[2].size = 'lots'), 'defaults.disk.layout[2].size', '"lots"', 'a whole number of MiB'],
    ['a size in decimal units', (d: any) => (d.defaults.disk.layout[2].size = '20GB'), 'defaults.disk.layout[2].size', '"20GB"', 'a whole number of MiB'],
    ['a partition name sfdisk cannot take', (d: any) => (d.defaults.disk.layout[0].name = 'bad"name'), 'defaults.disk.layout[0].name', 'bad\\"name', 'without " or'],
    ['a layout without root, in a group', (d: any) => (d.groups.rack1.disk = { layout: [{ name: 'data', role: 'data', size: '1G', fs: 'xfs', mount: '/srv' }] }), 'groups.rack1.disk.layout', 'data', 'exactly one root partition'],
    ['an ESP that is not vfat', (d: any) => (d.nodes[0].disk = { layout: [{ name: 'esp', role: 'esp', size: '512M', fs: 'ext4' }, { name: 'root', role: 'root', size: 'rest' }] }), 'nodes[0].disk.layout[0].fs', '"ext4"', 'vfat for an ESP'],
    ['a missing interface', (d: any) => delete d.server.interface, 'server.interface', 'undefined', 'required'],
  ])('%s', (_name, change, key, value, allowed) => {
    const err = errorOf(withChange(change));
    expect(err.code).toBe('BOOT_CONFIG');
    expect(err.details.key).toBe(key);
    expect(err.message).toContain(`${key}:`);
    expect(err.message).toContain(value);
    expect(err.message).toContain(allowed);
    expect(err.remedy).toContain(key);
  });

  test('a YAML syntax error and a missing file are coded errors too', () => {
    expect(() => loadConfig('/nonexistent/rackcast.yaml')).toThrow(expect.objectContaining({ code: 'BOOT_CONFIG_READ' }));
  });
});
