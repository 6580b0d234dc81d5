import { BOOTLOADERS, STAGING_MODES, STEP_NAMES, type InstallPlan } from './agent-api.ts';
import { PlanError } from './errors.ts';
import { arr, bool, int, obj, oneOf, str } from './fields.ts';
import { validateLayout } from './layout.ts';

// Checks a plan's JSON against the contract, field by field, so a bad plan fails with the
// field's name before any step runs. The agent runs it on what it receives; the server runs
// it on every node's plan when it reads its config. Whether the layout fits the disk is the
// agent's partition check (it needs the disk's size).

const IPV4 = /^(\d{1,3})(\.\d{1,3}){3}$/;
const CIDR = /^(\d{1,3})(\.\d{1,3}){3}\/\d{1,2}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

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
      layout: validateLayout(disk.layout),
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
