import type { InstallPlan } from '../../contract/index.ts';
import type { BootConfig, NodeConfig } from '../config.ts';
import { NoImageError } from '../errors.ts';
import { inSubnet } from '../../udp/index.ts';

// The InstallPlan the agent fetches: the node's effective profile from the config (defaults
// < groups < node) plus the cast session it joins (sessions.ts chooses it).

/** The node's image name; NoImageError when it has none. */
export function imageOf(node: NodeConfig, cfg: Pick<BootConfig, 'images'>): string {
  if (!node.image || !cfg.images[node.image]) throw new NoImageError(node.hostname, node.mac, node.image ?? null);
  return node.image;
}

/** The plan for `node`, joining the image session on `portbase`. */
export function buildPlan(node: NodeConfig, cfg: { cast: BootConfig['cast']; dhcp: Pick<BootConfig['dhcp'], 'subnets'>; images: BootConfig['images'] }, portbase: number): InstallPlan {
  const image = imageOf(node, cfg);
  const subnet = node.ip ? cfg.dhcp.subnets.find((s) => inSubnet(node.ip!, s.subnet)) : undefined;
  return {
    node: { mac: node.mac, hostname: node.hostname, ...(node.ip ? { ip: node.ip } : {}) },
    image: { name: image, format: 'tar.zst' },
    session: { portbase, startTimeoutSec: cfg.cast.startTimeoutSec, receiveTimeoutSec: cfg.cast.receiveTimeoutSec },
    disk: { ...(node.disk.device ? { device: node.disk.device } : {}), wipe: node.disk.wipe, layout: node.disk.layout },
    bootloader: node.bootloader,
    network:
      node.network === 'static' && node.ip && subnet
        ? { mode: 'static', address: `${node.ip}/${subnet.subnet.prefix}`, ...(subnet.router ? { gateway: subnet.router } : {}), dns: subnet.dns }
        : { mode: 'dhcp' },
    staging: node.staging,
    hooks: node.hooks,
  };
}
