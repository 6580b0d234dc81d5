import { inSubnet } from '../udp/index.ts';
import type { InstallPlan } from './api-types.ts';
import type { BootConfig, NodeConfig } from './config.ts';
import { ApiError } from './errors.ts';

// The InstallPlan the agent fetches: the node's effective profile from the config (defaults
// < groups < node) plus the cast session it joins (sessions.ts chooses it).

/** The node's image name; a 409 when it has none. */
export function imageOf(node: NodeConfig, cfg: Pick<BootConfig, 'images'>): string {
  if (!node.image || !cfg.images[node.image]) {
    throw new ApiError(409, 'BOOT_API_NO_IMAGE', `node ${node.hostname} has no image to install`, {
      details: { mac: node.mac, image: node.image ?? null },
      remedy: 'set image: for the node, one of its groups or defaults in rackcast.yaml',
    });
  }
  return node.image;
}

/** The plan for `node`, joining the image session on `portbase`. */
export function buildPlan(node: NodeConfig, cfg: Pick<BootConfig, 'cast' | 'dhcp' | 'images'>, portbase: number): InstallPlan {
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
