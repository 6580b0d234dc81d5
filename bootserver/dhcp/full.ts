import type { Logger } from '../../common/log.ts';
import type { BootConfig, SubnetConfig } from '../config.ts';
import type { Counters } from '../counters.ts';
import { BOOTREQUEST, encodeDhcpReply, MESSAGE_NAMES, MessageType, type DhcpOptions, type DhcpPacket } from './packet.ts';
import { destination, replyTo, withStage, type Arrival, type DhcpResponder, type Outgoing } from './reply.ts';
import { firstStageFor, identifyClient, type BootClient, type FirstStage } from '../firmware.ts';
import { broadcastOf, inSubnet, intToIp } from '../../udp/index.ts';
import type { LeaseStore } from './leases.ts';
import type { Admission, BootPolicy } from '../policy.ts';
import type { NodeEventData } from '../state/events.ts';

// Full-mode DHCP (rackcast owns the addresses of the boot network): RFC 2131 server
// behaviour for DISCOVER, REQUEST in all four client states, DECLINE, RELEASE and INFORM,
// relays, and the boot answer for netbooting clients. Decides only; listener.ts owns
// the sockets.

/** A DHCP step of a node (offer, ack, nak, release), for its event log. */
export type DhcpEvent = Extract<NodeEventData, { kind: 'dhcp' }>;

export interface NodeEvents {
  (mac: string, event: DhcpEvent): void;
}

export interface FullDhcpDeps {
  cfg: Pick<BootConfig, 'server' | 'dhcp' | 'firstStage'>;
  leases: LeaseStore;
  policy: BootPolicy;
  counters: Counters;
  log: Logger;
  events: NodeEvents;
  now?: () => number;
}

/** How often a full pool may be logged (it is counted every time). */
const POOL_WARN_EVERY_MS = 10_000;

export class FullDhcp implements DhcpResponder {
  private readonly d: FullDhcpDeps;
  private readonly server: string;
  private lastPoolWarn = -Infinity;

  constructor(deps: FullDhcpDeps) {
    this.d = deps;
    this.server = deps.cfg.server.address;
  }

  handle(p: DhcpPacket, from: Arrival): Outgoing | null {
    if (p.op !== BOOTREQUEST) return this.ignore('notRequest');
    this.d.counters.inc(`dhcp.rx.${(MESSAGE_NAMES[p.options.messageType ?? 0] ?? 'bootp').toLowerCase()}`);
    const subnet = this.subnetFor(p);
    if (!subnet) return this.ignore('noSubnet', { giaddr: p.giaddr, from: from.address });
    const client = identifyClient(p);
    const admission = this.d.policy.admit(client);
    if (!admission) return this.ignore('unknownMac', { mac: p.chaddr });
    switch (p.options.messageType) {
      case MessageType.DISCOVER:
        return this.discover(p, client, subnet, admission);
      case MessageType.REQUEST:
        return this.request(p, client, subnet, admission);
      case MessageType.DECLINE:
        if (p.options.serverId === this.server && p.options.requestedIp && this.d.leases.decline(p.chaddr, p.options.requestedIp)) {
          this.d.log.warn('address declined: in use by another host', { mac: p.chaddr, ip: p.options.requestedIp });
        }
        return null;
      case MessageType.RELEASE:
        if (p.options.serverId === this.server && this.d.leases.release(p.chaddr, p.ciaddr)) this.d.events(p.chaddr, { kind: 'dhcp', message: 'released', ip: p.ciaddr });
        return null;
      case MessageType.INFORM:
        // No address and no lease time: the client configured itself (RFC 2131 3.4).
        return this.send(p, MessageType.ACK, this.subnetOptions(subnet, admission), this.bootStage(client));
      default:
        return this.ignore('notHandled', { type: p.options.messageType });
    }
  }

  private discover(p: DhcpPacket, client: BootClient, subnet: SubnetConfig, admission: Admission): Outgoing | null {
    const ip = this.d.leases.offer(p.chaddr, subnet, p.options.requestedIp);
    if (!ip) {
      this.d.counters.inc('dhcp.poolExhausted');
      const now = (this.d.now ?? Date.now)();
      if (now - this.lastPoolWarn >= POOL_WARN_EVERY_MS) {
        this.lastPoolWarn = now;
        this.d.log.warn('address pool exhausted: not answering', { mac: p.chaddr, range: `${intToIp(subnet.rangeStart)}-${intToIp(subnet.rangeEnd)}` });
      }
      return null;
    }
    const stage = this.bootStage(client);
    this.d.events(p.chaddr, { kind: 'dhcp', message: 'offer', ip, ...(stage ? { bootFile: stage.bootFile } : {}), client: client.kind, arch: client.arch });
    return this.send(p, MessageType.OFFER, { ...this.subnetOptions(subnet, admission), ...this.leaseOptions() }, stage, ip);
  }

  private request(p: DhcpPacket, client: BootClient, subnet: SubnetConfig, admission: Admission): Outgoing | null {
    const { leases, cfg } = this.d;
    const sid = p.options.serverId;
    if (sid !== undefined && sid !== this.server) {
      // SELECTING another server's offer: ours is free again.
      leases.forgetOffer(p.chaddr);
      return this.ignore('otherServer', { mac: p.chaddr, serverId: sid });
    }
    const selecting = sid !== undefined;
    const ip = p.options.requestedIp ?? (p.ciaddr !== '0.0.0.0' ? p.ciaddr : undefined);
    if (!ip) return this.ignore('noAddress', { mac: p.chaddr });
    // SELECTING answers our offer; INIT-REBOOT / RENEWING / REBINDING may take a free address only if we are authoritative.
    const r = leases.bind(p.chaddr, ip, subnet, selecting || cfg.dhcp.authoritative);
    if (r.kind === 'unknown') return this.ignore('noRecord', { mac: p.chaddr, ip });
    if (r.kind !== 'bound') {
      this.d.events(p.chaddr, { kind: 'dhcp', message: 'nak', ip, reason: r.kind });
      return this.send(p, MessageType.NAK, { message: r.kind === 'taken' ? 'address in use' : 'wrong network' }, undefined);
    }
    const stage = this.bootStage(client);
    this.d.events(p.chaddr, { kind: 'dhcp', message: 'ack', ip, client: client.kind, arch: client.arch });
    return this.send(p, MessageType.ACK, { ...this.subnetOptions(subnet, admission), ...this.leaseOptions() }, stage, ip);
  }

  private bootStage(client: BootClient): FirstStage | undefined {
    if (client.kind === 'plain') return undefined;
    const r = firstStageFor(client, this.d.cfg);
    if (r.ok) return r.stage;
    this.d.counters.inc('dhcp.noFirstStage');
    this.d.log.warn(`no boot answer: ${r.reason}`, { mac: client.mac, arch: client.arch });
    return undefined;
  }

  private subnetFor(p: DhcpPacket): SubnetConfig | undefined {
    const anchor = p.giaddr !== '0.0.0.0' ? p.giaddr : this.server;
    return this.d.cfg.dhcp.subnets.find((s) => inSubnet(anchor, s.subnet));
  }

  private subnetOptions(s: SubnetConfig, admission: Admission): DhcpOptions {
    const mask = s.subnet.mask;
    return {
      subnetMask: intToIp(mask),
      broadcast: broadcastOf(s.subnet),
      ...(s.router ? { routers: [s.router] } : {}),
      ...(s.dns.length ? { dns: s.dns } : {}),
      ...(s.domain ? { domainName: s.domain } : {}),
      ...(admission.hostname ? { hostname: admission.hostname } : {}),
    };
  }

  private leaseOptions(): DhcpOptions {
    const t = this.d.leases.leaseTimeSec;
    // T1 = 50 %, T2 = 87.5 % of the lease (RFC 2131 4.4.5).
    return { leaseTimeSec: t, renewalSec: Math.floor(t / 2), rebindingSec: Math.floor((t * 7) / 8) };
  }

  private send(p: DhcpPacket, type: MessageType, options: DhcpOptions, stage: FirstStage | undefined, yiaddr?: string): Outgoing {
    const nak = type === MessageType.NAK;
    const r = withStage(replyTo(p, type, this.server, options), nak ? undefined : stage);
    this.d.counters.inc(`dhcp.tx.${MESSAGE_NAMES[type]!.toLowerCase()}`);
    return { data: encodeDhcpReply({ ...r, ...(yiaddr ? { yiaddr } : {}) }), ...destination(p, nak) };
  }

  private ignore(reason: string, fields: Record<string, unknown> = {}): null {
    this.d.counters.inc(`dhcp.ignored.${reason}`);
    this.d.log.debug(`ignored: ${reason}`, fields);
    return null;
  }
}
