import { PlanError } from './errors.ts';
import { parseSizeMiB } from './layout.ts';
import {
  BOOTLOADERS,
  FS_TYPES,
  PARTITION_ROLES,
  STAGING_MODES,
  STEP_NAMES,
  type InstallPlan,
  type Partition,
} from './plan.ts';

// Checks the JSON the server sent against the contract, field by field, so a bad plan
// fails with the field's name before any step runs. Whether the layout fits the disk is
// the partition step's check (it needs the disk's size).

type Obj = Record<string, unknown>;

function obj(field: string, v: unknown): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PlanError(field, v, 'an object');
  return v as Obj;
}

function str(field: string, v: unknown, re?: RegExp, expected = 'a string'): string {
  if (typeof v !== 'string' || v === '' || (re && !re.test(v))) throw new PlanError(field, v, expected);
  return v;
}

function optStr(field: string, v: unknown, re?: RegExp, expected?: string): string | undefined {
  return v === undefined ? undefined : str(field, v, re, expected);
}

function int(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new PlanError(field, v, `an integer from ${min} to ${max}`);
  return v;
}

function bool(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new PlanError(field, v, 'true or false');
  return v;
}

function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw new PlanError(field, v, `one of ${allowed.join(', ')}`);
  return v as T;
}

function arr(field: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new PlanError(field, v, 'an array');
  return v;
}

const IPV4 = /^(\d{1,3})(\.\d{1,3}){3}$/;
const CIDR = /^(\d{1,3})(\.\d{1,3}){3}\/\d{1,2}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

function partition(i: number, v: unknown): Partition {
  const f = `disk.layout[${i}]`;
  const o = obj(f, v);
  const role = oneOf(`${f}.role`, o.role, PARTITION_ROLES);
  const p: Partition = {
    name: str(`${f}.name`, o.name, /^[\x20-\x7e]{1,36}$/, 'a printable name of at most 36 characters'),
    role,
    size: str(`${f}.size`, o.size),
  };
  parseSizeMiB(`${f}.size`, p.size);
  const fs = o.fs === undefined ? defaultFs(role) : oneOf(`${f}.fs`, o.fs, FS_TYPES);
  if (fs) p.fs = fs;
  const mount = optStr(`${f}.mount`, o.mount, /^\/[^\s]*$/, 'an absolute path without spaces') ?? defaultMount(role);
  if (mount) p.mount = mount;
  if (role === 'bios-boot' && (p.fs || p.mount)) throw new PlanError(f, o, 'a bios-boot partition without fs or mount');
  if (role === 'esp' && p.fs !== 'vfat') throw new PlanError(`${f}.fs`, p.fs, 'vfat for an ESP');
  if (role === 'root' && (p.mount !== '/' || !p.fs || p.fs === 'swap' || p.fs === 'vfat')) throw new PlanError(f, o, 'root mounted at / with ext4 or xfs');
  if ((role === 'swap') !== (p.fs === 'swap')) throw new PlanError(`${f}.fs`, p.fs, 'swap exactly for the swap role');
  if (p.fs === 'swap' && p.mount) throw new PlanError(`${f}.mount`, p.mount, 'no mount point for swap');
  if (p.mount && !p.fs) throw new PlanError(`${f}.fs`, undefined, `a filesystem, since it is mounted at ${p.mount}`);
  return p;
}

function defaultFs(role: string): Partition['fs'] {
  return ({ esp: 'vfat', root: 'ext4', swap: 'swap' } as const)[role as 'esp' | 'root' | 'swap'];
}

function defaultMount(role: string): string | undefined {
  return ({ esp: '/boot/efi', root: '/' } as Record<string, string>)[role];
}

function layout(v: unknown): Partition[] {
  const parts = arr('disk.layout', v).map((p, i) => partition(i, p));
  const count = (pred: (p: Partition) => boolean) => parts.filter(pred).length;
  if (count((p) => p.role === 'root') !== 1) throw new PlanError('disk.layout', parts.map((p) => p.role), 'exactly one root partition');
  if (count((p) => p.size === 'rest') > 1) throw new PlanError('disk.layout', parts.map((p) => p.size), 'at most one "rest" size');
  for (const key of ['name', 'mount'] as const) {
    const seen = parts.map((p) => p[key]).filter((x) => x !== undefined);
    if (new Set(seen).size !== seen.length) throw new PlanError('disk.layout', seen, `unique partition ${key}s`);
  }
  return parts;
}

export function validatePlan(v: unknown): InstallPlan {
  const o = obj('plan', v);
  const node = obj('node', o.node);
  const image = obj('image', o.image);
  const session = obj('session', o.session);
  const disk = obj('disk', o.disk);
  const network = obj('network', o.network);
  const plan: InstallPlan = {
    node: {
      mac: str('node.mac', node.mac, MAC, 'a MAC address aa:bb:cc:dd:ee:ff').toLowerCase(),
      hostname: str('node.hostname', node.hostname, HOSTNAME, 'a hostname label (letters, digits, hyphens)'),
      ...(node.ip === undefined ? {} : { ip: str('node.ip', node.ip, IPV4, 'an IPv4 address') }),
    },
    image: {
      name: str('image.name', image.name),
      format: oneOf('image.format', image.format, ['tar.zst'] as const),
      ...(image.sizeBytes === undefined ? {} : { sizeBytes: int('image.sizeBytes', image.sizeBytes, 1, Number.MAX_SAFE_INTEGER) }),
      ...(image.sha256 === undefined ? {} : { sha256: str('image.sha256', image.sha256, /^[0-9a-f]{64}$/, '64 lowercase hex digits') }),
    },
    session: {
      portbase: int('session.portbase', session.portbase, 1, 65534),
      ...(session.rdvAddress === undefined ? {} : { rdvAddress: str('session.rdvAddress', session.rdvAddress, IPV4, 'an IPv4 address') }),
      startTimeoutSec: int('session.startTimeoutSec', session.startTimeoutSec, 1, 86400),
      receiveTimeoutSec: int('session.receiveTimeoutSec', session.receiveTimeoutSec, 1, 86400),
    },
    disk: {
      ...(disk.device === undefined ? {} : { device: str('disk.device', disk.device, /^\/dev\/[\w/.-]+$/, 'a /dev path') }),
      wipe: bool('disk.wipe', disk.wipe),
      layout: layout(disk.layout),
    },
    bootloader: oneOf('bootloader', o.bootloader, BOOTLOADERS),
    network: {
      mode: oneOf('network.mode', network.mode, ['dhcp', 'static'] as const),
      ...(network.address === undefined ? {} : { address: str('network.address', network.address, CIDR, 'an address with prefix, 10.0.0.5/24') }),
      ...(network.gateway === undefined ? {} : { gateway: str('network.gateway', network.gateway, IPV4, 'an IPv4 address') }),
      ...(network.dns === undefined ? {} : { dns: arr('network.dns', network.dns).map((d, i) => str(`network.dns[${i}]`, d, IPV4, 'an IPv4 address')) }),
    },
    staging: oneOf('staging', o.staging, STAGING_MODES),
    ...(o.stagingCapBytes === undefined ? {} : { stagingCapBytes: int('stagingCapBytes', o.stagingCapBytes, 1, Number.MAX_SAFE_INTEGER) }),
    hooks: arr('hooks', o.hooks).map((h, i) => str(`hooks[${i}]`, h)),
    ...(o.steps === undefined ? {} : { steps: arr('steps', o.steps).map((s, i) => oneOf(`steps[${i}]`, s, STEP_NAMES)) }),
  };
  if (plan.network.mode === 'static' && !plan.network.address) throw new PlanError('network.address', undefined, 'an address for static mode');
  return plan;
}
