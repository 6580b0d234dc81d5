import type { BootConfig, LocalBootMethod, NodeConfig, Reservation } from './config.ts';
import type { BootClient } from './firmware.ts';
import type { Lifecycle } from './install/lifecycle.ts';
import type { NodeStore } from './state/node-store.ts';

// "What should this MAC boot?" The protocol files (dhcp/, http/) ask a BootPolicy and never
// decide themselves. StatePolicy answers from the config and the node state; tests plug in
// their own object.

export interface Admission {
  hostname?: string;
}

export type BootDecision =
  /** Boot the installer; `inventory`: report hardware and power off (an unknown machine). */
  | { action: 'install'; mode: 'install' | 'inventory'; hostname: string | null }
  | { action: 'localboot'; method: LocalBootMethod; reason: string }
  /** Serve nothing to boot; the script says why and hands back to the firmware. */
  | { action: 'none'; reason: string };

export interface BootPolicy {
  /** May rackcast serve this machine at all (lease and boot answers)? null: leave it alone. */
  admit(client: BootClient): Admission | null;
  /** What the machine boots now; asked when iPXE fetches its script. */
  decide(client: Pick<BootClient, 'mac' | 'arch'>): BootDecision;
}

export class StatePolicy implements BootPolicy {
  private readonly lifecycle: Lifecycle;
  private readonly nodes: NodeStore;
  private readonly unknownNodes: BootConfig['dhcp']['unknownNodes'];
  private readonly configured: Map<string, NodeConfig>;
  private readonly reserved: Map<string, Reservation>;

  constructor(lifecycle: Lifecycle, cfg: Pick<BootConfig, 'dhcp' | 'nodes'>) {
    this.lifecycle = lifecycle;
    this.nodes = lifecycle.store;
    this.unknownNodes = cfg.dhcp.unknownNodes;
    this.configured = new Map(cfg.nodes.map((n) => [n.mac, n]));
    this.reserved = new Map(cfg.dhcp.reservations.map((r) => [r.mac, r]));
  }

  admit(client: BootClient): Admission | null {
    const conf = this.configured.get(client.mac);
    if (conf) return { hostname: conf.hostname };
    // A reservation (a BMC, a switch) is a machine the admin named: served, never installed.
    const res = this.reserved.get(client.mac);
    if (res) return res.hostname ? { hostname: res.hostname } : {};
    if (this.nodes.get(client.mac)) return {};
    if (this.unknownNodes === 'ignore') return null;
    // discover: a netbooting stranger is registered and will boot the inventory installer;
    // an OS DHCP client (a node's installed system, a BMC) just gets a lease.
    if (client.kind !== 'plain') this.lifecycle.discover(client.mac, client.arch);
    return {};
  }

  decide(client: Pick<BootClient, 'mac' | 'arch'>): BootDecision {
    let node = this.nodes.get(client.mac);
    if (!node) {
      if (this.unknownNodes === 'ignore') return { action: 'none', reason: 'unknown machine (unknownNodes: ignore)' };
      node = this.lifecycle.discover(client.mac, client.arch);
    }
    const method = this.configured.get(client.mac)?.localBoot ?? 'auto';
    switch (node.phase) {
      case 'discovered':
        return { action: 'install', mode: 'inventory', hostname: node.hostname };
      case 'install':
      case 'installing':
        return { action: 'install', mode: 'install', hostname: node.hostname };
      case 'installed':
      case 'localboot':
        return { action: 'localboot', method, reason: node.phase };
      case 'failed':
        return { action: 'none', reason: 'the last install failed; run `rackcast node reinstall` to try again' };
    }
  }
}
