import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BOOTLOADERS, PlanError, STAGING_MODES, validateLayout, validatePlan, type Bootloader, type Partition, type StagingMode } from '../contract/index.ts';
import { inSubnet, ipToInt, isIpv4, parseCidr, type Subnet } from '../udp/index.ts';
import { BootError, ConfigError } from './errors.ts';
import { buildPlan } from './install/plan.ts';
import { normalizeMac } from './mac.ts';

// rackcast.yaml: read once at start, validated completely, turned into plain typed objects
// with every default applied. Errors name the key path, the bad value and what is allowed.
// Group and default node settings are merged into each node here, so the rest of the
// server sees one effective profile per node.

export const DEFAULT_CONFIG_FILE = '/etc/rackcast/rackcast.yaml';
export const DEFAULT_STATE_DIR = '/var/lib/rackcast';

export const DHCP_MODES = ['full', 'proxy', 'off'] as const;
export type DhcpMode = (typeof DHCP_MODES)[number];
export const UNKNOWN_NODE_POLICIES = ['ignore', 'discover'] as const;
export type UnknownNodePolicy = (typeof UNKNOWN_NODE_POLICIES)[number];
/** auto: `sanboot` the first disk on BIOS, `exit` to the firmware boot order on UEFI. */
export const LOCAL_BOOT_METHODS = ['auto', 'sanboot', 'exit'] as const;
export type LocalBootMethod = (typeof LOCAL_BOOT_METHODS)[number];
export interface DiskConfig {
  device?: string;
  wipe: boolean;
  /** Checked with the agent's own grammar (contract/layout.ts) when the config is read. */
  layout: Partition[];
}

/** When an image session starts; an unset minReceivers means "every node marked for it". */
export interface SessionSettings {
  minReceivers?: number;
  minWaitSec: number;
  maxWaitSec: number;
}

export interface ImageConfig {
  /** An unpacked root filesystem, streamed as tar | zstd on demand. */
  dir: string;
  zstdLevel: number;
  session: SessionSettings;
}

/** What a node installs and how it boots afterwards; defaults < groups (in order) < node. */
export interface NodeProfile {
  image?: string;
  /** Overrides of the image's session settings: nodes that differ get a session of their own. */
  session: Partial<SessionSettings>;
  disk: DiskConfig;
  bootloader: Bootloader;
  localBoot: LocalBootMethod;
  network: 'dhcp' | 'static';
  staging: StagingMode;
  hooks: string[];
}

export interface NodeConfig extends NodeProfile {
  mac: string;
  hostname: string;
  ip?: string;
  groups: string[];
}

export interface SubnetConfig {
  subnet: Subnet;
  /** Pool bounds as 32-bit numbers, inclusive. */
  rangeStart: number;
  rangeEnd: number;
  router?: string;
  dns: string[];
  domain?: string;
}

export interface Reservation {
  mac: string;
  ip: string;
  hostname?: string;
}

export interface BootConfig {
  file: string;
  server: {
    interface: string;
    address: string;
    httpBind: string;
    httpPort: number;
    /** Base URL nodes use to reach us (iPXE scripts, kernel parameters, agent API). */
    publicUrl: string;
    adminTokenFile: string;
    /** A token for reads only (status, nodes, events): for people and tools that watch. */
    readTokenFile: string;
    batchIo: boolean;
  };
  paths: { stateDir: string };
  /** What the state keeps: the newest events per node, and discovered machines for this long after they were last seen. */
  retention: { eventsPerNode: number; discoveredTtlSec: number };
  dhcp: {
    mode: DhcpMode;
    authoritative: boolean;
    leaseTimeSec: number;
    unknownNodes: UnknownNodePolicy;
    subnets: SubnetConfig[];
    reservations: Reservation[];
  };
  tftp: { enabled: boolean; root: string; blockSizeMax: number; windowSizeMax: number; timeoutMs: number; retries: number; busyPollUs: number };
  firstStage: { bios: string; uefiX64: string; uefiArm64?: string };
  installer: { kernel: string; initrd: string; cmdline: string; debug: boolean };
  images: Record<string, ImageConfig>;
  cast: { portbase: number; startTimeoutSec: number; receiveTimeoutSec: number };
  nodes: NodeConfig[];
}

const DEFAULT_LAYOUT: Partition[] = [
  { name: 'bios', role: 'bios-boot', size: '1MiB' },
  { name: 'esp', role: 'esp', size: '512MiB', fs: 'vfat', mount: '/boot/efi' },
  { name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' },
];

type Obj = Record<string, unknown>;

/** Walks one YAML mapping, remembering the key path for error messages. */
class Section {
  readonly file: string;
  readonly path: string;
  readonly obj: Obj;

  constructor(file: string, path: string, value: unknown, keys: readonly string[]) {
    this.file = file;
    this.path = path;
    if (value === undefined || value === null) value = {};
    if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(file, path || '(top level)', value, 'a mapping');
    this.obj = value as Obj;
    for (const k of Object.keys(this.obj)) {
      if (!keys.includes(k)) throw new ConfigError(file, this.key(k), this.obj[k], `one of the keys ${keys.join(', ')} (unknown key)`);
    }
  }

  key(k: string): string {
    return this.path ? `${this.path}.${k}` : k;
  }

  has(k: string): boolean {
    return this.obj[k] !== undefined && this.obj[k] !== null;
  }

  bad(k: string, allowed: string): ConfigError {
    return new ConfigError(this.file, this.key(k), this.obj[k], allowed);
  }

  section(k: string, keys: readonly string[]): Section {
    return new Section(this.file, this.key(k), this.obj[k], keys);
  }

  optString(k: string, test: (s: string) => boolean = () => true, allowed = 'a string'): string | undefined {
    const v = this.obj[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '' || !test(v)) throw this.bad(k, allowed);
    return v;
  }

  string(k: string, dflt?: string, test?: (s: string) => boolean, allowed?: string): string {
    const v = this.optString(k, test, allowed);
    if (v !== undefined) return v;
    if (dflt === undefined) throw this.bad(k, `${allowed ?? 'a string'} (required)`);
    return dflt;
  }

  oneOf<T extends string>(k: string, values: readonly T[], dflt: T): T {
    return this.string(k, dflt, (s) => (values as readonly string[]).includes(s), `one of ${values.join(', ')}`) as T;
  }

  int(k: string, dflt: number, min: number, max: number): number {
    const v = this.obj[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw this.bad(k, `an integer from ${min} to ${max}`);
    return v;
  }

  bool(k: string, dflt: boolean): boolean {
    const v = this.obj[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') throw this.bad(k, 'true or false');
    return v;
  }

  /** Seconds: a number, or "90s", "30m", "12h", "7d". */
  duration(k: string, dflt: number, min = 1): number {
    const v = this.obj[k];
    if (v === undefined || v === null) return dflt;
    const m = typeof v === 'number' ? [String(v), String(v), ''] : typeof v === 'string' ? /^(\d+)\s*([smhd]?)$/.exec(v.trim()) : null;
    const n = m ? Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]!]! : NaN;
    if (!Number.isInteger(n) || n < min) throw this.bad(k, `a duration like 3600, 90s, 30m, 12h or 7d${min === 0 ? ', or 0' : ''}`);
    return n;
  }

  list(k: string): unknown[] {
    const v = this.obj[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw this.bad(k, 'a list');
    return v;
  }

  strings(k: string, test: (s: string) => boolean = () => true, allowed = 'a list of strings'): string[] {
    const items = this.list(k);
    if (!items.every((x) => typeof x === 'string' && test(x))) throw this.bad(k, allowed);
    return items as string[];
  }

  mac(k: string): string {
    const v = this.obj[k];
    const mac = typeof v === 'string' ? normalizeMac(v) : null;
    if (!mac) throw this.bad(k, 'a MAC address such as 52:54:00:78:00:10, 52-54-00-78-00-10 or 5254.0078.0010');
    return mac;
  }

  ip(k: string): string | undefined {
    return this.optString(k, isIpv4, 'an IPv4 address such as 10.78.0.1');
  }

  absPath(k: string, dflt?: string): string {
    return this.string(k, dflt, isAbsolute, 'an absolute path');
  }
}

const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const PROFILE_KEYS = ['image', 'session', 'disk', 'bootloader', 'localBoot', 'network', 'staging', 'hooks'] as const;

function readDisk(s: Section, base: DiskConfig): DiskConfig {
  if (!s.has('disk')) return base;
  const d = s.section('disk', ['device', 'wipe', 'layout']);
  const layout = d.has('layout') ? contractChecked(d.file, () => validateLayout(d.obj.layout, d.key('layout'))) : base.layout;
  const device = d.optString('device', (x) => x.startsWith('/dev/'), 'a device path under /dev/') ?? base.device;
  return { ...(device ? { device } : {}), wipe: d.bool('wipe', base.wipe), layout };
}

/** Runs a contract check; its PlanError names the field, which here is the config key. */
function contractChecked<T>(file: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof PlanError) throw new ConfigError(file, err.field, err.value, err.expected);
    throw err;
  }
}

function readProfile(s: Section, base: NodeProfile, images: Record<string, unknown>): NodeProfile {
  const image = s.optString('image', (x) => x in images, `one of the images ${Object.keys(images).join(', ') || '(none configured)'}`) ?? base.image;
  return {
    ...(image ? { image } : {}),
    session: s.has('session') ? { ...base.session, ...readSession(s.section('session', SESSION_KEYS)) } : base.session,
    disk: readDisk(s, base.disk),
    bootloader: s.oneOf('bootloader', BOOTLOADERS, base.bootloader),
    localBoot: s.oneOf('localBoot', LOCAL_BOOT_METHODS, base.localBoot),
    network: s.oneOf('network', ['dhcp', 'static'] as const, base.network),
    staging: s.oneOf('staging', STAGING_MODES, base.staging),
    hooks: s.has('hooks') ? s.strings('hooks') : base.hooks,
  };
}

const SESSION_KEYS = ['minReceivers', 'minWait', 'maxWait'] as const;

function readSession(s: Section): Partial<SessionSettings> {
  const out: Partial<SessionSettings> = {};
  if (s.has('minReceivers')) out.minReceivers = s.int('minReceivers', 1, 1, 1024);
  if (s.has('minWait')) out.minWaitSec = s.duration('minWait', 0, 0);
  if (s.has('maxWait')) out.maxWaitSec = s.duration('maxWait', 1);
  return out;
}

function readSubnet(s: Section): SubnetConfig {
  const subnetText = s.string('subnet', undefined, (x) => {
    try {
      parseCidr(x);
      return true;
    } catch {
      return false;
    }
  }, 'an IPv4 network such as 10.78.0.0/24');
  const subnet = parseCidr(subnetText);
  const range = s.string('range', undefined, (x) => /^\S+\s*-\s*\S+$/.test(x), 'a range like 10.78.0.100-10.78.0.199');
  const [lo, hi] = range.split('-').map((x) => x.trim());
  const inside = (ip: string | undefined) => ip !== undefined && inSubnet(ip, subnet);
  if (!inside(lo) || !inside(hi) || ipToInt(lo!) > ipToInt(hi!)) throw s.bad('range', `two addresses inside ${subnetText}, low to high`);
  const router = s.ip('router');
  const domain = s.optString('domain');
  return {
    subnet,
    rangeStart: ipToInt(lo!),
    rangeEnd: ipToInt(hi!),
    ...(router ? { router } : {}),
    dns: s.strings('dns', isIpv4, 'a list of IPv4 addresses'),
    ...(domain ? { domain } : {}),
  };
}

function claimIp(owners: Map<string, string>, ip: string, owner: string, top: Section): void {
  const other = owners.get(ip);
  if (other) throw new ConfigError(top.file, `${owner}.ip`, ip, `an address not already given to ${other}`);
  owners.set(ip, owner);
}

export interface LoadOptions {
  /** IPv4 addresses of an interface (default: from os.networkInterfaces). */
  interfaceAddress?: (ifname: string) => string | undefined;
}

function systemInterfaceAddress(ifname: string): string | undefined {
  return networkInterfaces()[ifname]?.find((a) => a.family === 'IPv4')?.address;
}

export function loadConfig(file: string, opts: LoadOptions = {}): BootConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BootError('BOOT_CONFIG_READ', `cannot read ${file}: ${(err as Error).message}`, {
      cause: err,
      details: { file },
      remedy: 'pass --config FILE or create /etc/rackcast/rackcast.yaml from bootserver/rackcast.example.yaml',
    });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new BootError('BOOT_CONFIG', `${file}: not valid YAML: ${(err as Error).message}`, { cause: err, details: { file }, remedy: 'fix the YAML syntax' });
  }
  return parseConfig(file, doc, opts);
}

export function parseConfig(file: string, doc: unknown, opts: LoadOptions = {}): BootConfig {
  const top = new Section(file, '', doc, ['server', 'paths', 'retention', 'dhcp', 'tftp', 'firstStage', 'installer', 'images', 'cast', 'defaults', 'groups', 'nodes']);

  const paths = top.section('paths', ['stateDir']);
  const stateDir = paths.absPath('stateDir', DEFAULT_STATE_DIR);
  const ret = top.section('retention', ['eventsPerNode', 'discoveredTtl']);
  // An install writes about a hundred events; ten installs' worth per node.
  const retention = { eventsPerNode: ret.int('eventsPerNode', 1000, 50, 1_000_000), discoveredTtlSec: ret.duration('discoveredTtl', 7 * 86400) };

  const srv = top.section('server', ['interface', 'address', 'httpBind', 'httpPort', 'publicUrl', 'adminTokenFile', 'readTokenFile', 'batchIo']);
  const ifname = srv.string('interface', undefined, (x) => /^[\w.:@-]{1,15}$/.test(x), 'a network interface name');
  const address = srv.ip('address') ?? (opts.interfaceAddress ?? systemInterfaceAddress)(ifname);
  if (!address) throw srv.bad('address', `an IPv4 address (interface ${ifname} has none, or set server.address)`);
  const httpPort = srv.int('httpPort', 8080, 1, 65535);
  const server = {
    interface: ifname,
    address,
    httpBind: srv.string('httpBind', '0.0.0.0', isIpv4, 'an IPv4 address (0.0.0.0 = all)'),
    httpPort,
    publicUrl: srv.string('publicUrl', `http://${address}:${httpPort}`, (x) => /^https?:\/\/[^/\s]+$/.test(x), 'a base URL like http://10.78.0.1:8080 (no path)'),
    adminTokenFile: srv.absPath('adminTokenFile', join(stateDir, 'admin.token')),
    readTokenFile: srv.absPath('readTokenFile', join(stateDir, 'read.token')),
    batchIo: srv.bool('batchIo', true),
  };

  const dh = top.section('dhcp', ['mode', 'authoritative', 'leaseTime', 'unknownNodes', 'subnets', 'reservations']);
  const mode = dh.oneOf('mode', DHCP_MODES, 'full');
  const subnets = dh.list('subnets').map((x, i) => readSubnet(new Section(file, `dhcp.subnets[${i}]`, x, ['subnet', 'range', 'router', 'dns', 'domain'])));
  if (mode === 'full' && !subnets.some((s) => inSubnet(address, s.subnet))) {
    throw dh.bad('subnets', `(mode full) a subnet that contains the server address ${address}`);
  }
  const reservations = dh.list('reservations').map((x, i) => {
    const r = new Section(file, `dhcp.reservations[${i}]`, x, ['mac', 'ip', 'hostname']);
    const ip = r.ip('ip');
    if (!ip) throw r.bad('ip', 'an IPv4 address (required)');
    const hostname = r.optString('hostname', (h) => HOSTNAME.test(h), 'a host name');
    return { mac: r.mac('mac'), ip, ...(hostname ? { hostname } : {}) };
  });

  const tf = top.section('tftp', ['enabled', 'root', 'blockSizeMax', 'windowSizeMax', 'timeoutMs', 'retries', 'busyPollUs']);
  const tftp = {
    enabled: tf.bool('enabled', mode !== 'off'),
    root: tf.absPath('root', join(stateDir, 'tftp')),
    // 1468 fills an Ethernet frame without IP fragmentation (RFC 2348 note); clients may ask less.
    blockSizeMax: tf.int('blockSizeMax', 1468, 512, 65464),
    // RFC 7440 windows, one ACK round trip per window instead of per block; OVMF asks 4,
    // atftp/curl more. What 16 gained in the lab: docs/bootserver.md, "TFTP".
    windowSizeMax: tf.int('windowSizeMax', 16, 1, 64),
    timeoutMs: tf.int('timeoutMs', 1000, 100, 10_000),
    retries: tf.int('retries', 5, 1, 20),
    // Several times what a lockstep client takes to answer a block, so its ACK is caught awake,
    // and short enough that a slower client costs little (docs/bootserver.md, "Busy-polling").
    busyPollUs: tf.int('busyPollUs', 200, 0, 10_000),
  };

  const fsec = top.section('firstStage', ['bios', 'uefiX64', 'uefiArm64']);
  const stagePath = (x: string) => !x.split('/').includes('..') && !/\s/.test(x);
  const stageAllowed = 'an absolute path, or a file name inside tftp.root';
  const uefiArm64 = fsec.optString('uefiArm64', stagePath, stageAllowed);
  const firstStage = {
    bios: fsec.string('bios', '/usr/lib/ipxe/undionly.kpxe', stagePath, stageAllowed),
    uefiX64: fsec.string('uefiX64', '/usr/lib/ipxe/ipxe.efi', stagePath, stageAllowed),
    ...(uefiArm64 ? { uefiArm64 } : {}),
  };

  const inst = top.section('installer', ['kernel', 'initrd', 'cmdline', 'debug']);
  const installer = {
    kernel: inst.absPath('kernel', join(stateDir, 'installer/vmlinuz')),
    initrd: inst.absPath('initrd', join(stateDir, 'installer/initrd.img')),
    cmdline: inst.string('cmdline', 'console=ttyS0,115200 console=tty0'),
    debug: inst.bool('debug', false),
  };

  const imagesSection = top.section('images', Object.keys((top.obj.images as Obj | undefined) ?? {}));
  const images: Record<string, ImageConfig> = {};
  for (const name of Object.keys(imagesSection.obj)) {
    if (!HOSTNAME.test(name)) throw imagesSection.bad(name, 'an image name of letters, digits and dashes');
    const im = imagesSection.section(name, ['dir', 'zstdLevel', ...SESSION_KEYS]);
    // Five minutes after the first node joined, a session starts with whoever is there.
    images[name] = { dir: im.absPath('dir', join(stateDir, 'images', name)), zstdLevel: im.int('zstdLevel', 3, 1, 19), session: { minWaitSec: 0, maxWaitSec: 300, ...readSession(im) } };
  }

  const c = top.section('cast', ['portbase', 'startTimeoutSec', 'receiveTimeoutSec']);
  const portbase = c.int('portbase', 9000, 1024, 65534);
  if (portbase % 2 !== 0) throw c.bad('portbase', 'an even port number');
  const cast = { portbase, startTimeoutSec: c.int('startTimeoutSec', 600, 1, 86400), receiveTimeoutSec: c.int('receiveTimeoutSec', 120, 1, 86400) };

  const builtin: NodeProfile = { session: {}, disk: { wipe: false, layout: DEFAULT_LAYOUT }, bootloader: 'grub', localBoot: 'auto', network: 'dhcp', staging: 'tmpfs', hooks: [] };
  const defaults = readProfile(top.section('defaults', PROFILE_KEYS), builtin, images);
  const groupsSection = top.section('groups', Object.keys((top.obj.groups as Obj | undefined) ?? {}));
  const groupSections = new Map(Object.keys(groupsSection.obj).map((g) => [g, groupsSection.section(g, PROFILE_KEYS)]));

  const seen = new Map<string, string>();
  const nodes = top.list('nodes').map((x, i): NodeConfig => {
    const n = new Section(file, `nodes[${i}]`, x, ['mac', 'hostname', 'ip', 'groups', ...PROFILE_KEYS]);
    const mac = n.mac('mac');
    const hostname = n.string('hostname', undefined, (h) => HOSTNAME.test(h), 'a host name of letters, digits and dashes');
    for (const [k, v] of [['mac', mac], ['hostname', hostname]] as const) {
      const other = seen.get(`${k}:${v}`);
      if (other) throw n.bad(k, `a ${k} not already used by ${other}`);
      seen.set(`${k}:${v}`, `nodes[${i}]`);
    }
    const groups = n.strings('groups', (g) => groupSections.has(g), `a list of groups defined under groups: (${[...groupSections.keys()].join(', ') || 'none'})`);
    let profile = defaults;
    for (const g of groups) profile = readProfile(groupSections.get(g)!, profile, images);
    profile = readProfile(n, profile, images);
    const ip = n.ip('ip');
    return { mac, hostname, ...(ip ? { ip } : {}), groups, ...profile };
  });

  // One address per owner: a node's ip is its reservation, and in full mode it must lie in a subnet we serve.
  const owners = new Map<string, string>();
  const claims = [...reservations.map((r, i) => [r.ip, `dhcp.reservations[${i}]`] as const), ...nodes.flatMap((n, i) => (n.ip ? [[n.ip, `nodes[${i}]`] as const] : []))];
  for (const [ip, owner] of claims) {
    claimIp(owners, ip, owner, top);
    if (mode === 'full' && !subnets.some((s) => inSubnet(ip, s.subnet))) {
      throw new ConfigError(file, `${owner}.ip`, ip, 'an address inside one of dhcp.subnets');
    }
  }

  // Every node's plan as the agent will receive it, through the agent's own validator: a
  // plan it would refuse is a config error now, not a failed install later.
  for (const [i, n] of nodes.entries()) {
    if (n.image === undefined) continue; // such a node never gets a plan
    try {
      validatePlan(buildPlan(n, { cast, dhcp: { subnets }, images }, cast.portbase));
    } catch (err) {
      if (err instanceof PlanError) throw new ConfigError(file, `nodes[${i}]`, n.hostname, `a node whose install plan the agent accepts (${err.message})`);
      throw err;
    }
  }

  return {
    file,
    server,
    paths: { stateDir },
    retention,
    dhcp: { mode, authoritative: dh.bool('authoritative', true), leaseTimeSec: dh.duration('leaseTime', 3600), unknownNodes: dh.oneOf('unknownNodes', UNKNOWN_NODE_POLICIES, 'ignore'), subnets, reservations },
    tftp,
    firstStage,
    installer,
    images,
    cast,
    nodes,
  };
}
