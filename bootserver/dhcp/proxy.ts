import type { Logger } from '../../common/log.ts';
import type { BootConfig } from '../config.ts';
import type { Counters } from '../counters.ts';
import { BOOTREQUEST, encodeDhcpReply, MessageType, type DhcpPacket } from './packet.ts';
import { destination, PROXY_PORT, replyTo, withStage, type Arrival, type DhcpResponder, type Outgoing } from './reply.ts';
import type { NodeEvents } from './full.ts';
import { firstStageFor, identifyClient } from '../firmware.ts';
import type { BootPolicy } from '../policy.ts';

// proxyDHCP (PXE spec 2.1, the site's DHCP server owns the addresses): answers only
// netbooting clients, with boot information and no address. A DISCOVER on port 67 gets a
// broadcast OFFER; a REQUEST unicast to port 4011 (iPXE and some NIC ROMs send one after
// the site's ACK) gets an ACK back to its sender. Everything else belongs to the site server.

/** PXE vendor option 43: sub-option 6 (discovery control) = 8: boot the file named in this offer, skip boot-server discovery. */
const PXE_DISCOVERY_CONTROL = [6, 1, 8, 255];

export interface ProxyDhcpDeps {
  cfg: Pick<BootConfig, 'server' | 'firstStage'>;
  policy: BootPolicy;
  counters: Counters;
  log: Logger;
  events: NodeEvents;
}

export class ProxyDhcp implements DhcpResponder {
  private readonly d: ProxyDhcpDeps;

  constructor(deps: ProxyDhcpDeps) {
    this.d = deps;
  }

  handle(p: DhcpPacket, from: Arrival): Outgoing | null {
    const { counters } = this.d;
    if (p.op !== BOOTREQUEST) return this.ignore('notRequest');
    const type = p.options.messageType;
    const onProxyPort = from.localPort === PROXY_PORT;
    if (!(type === MessageType.DISCOVER && !onProxyPort) && !((type === MessageType.REQUEST || type === MessageType.INFORM) && onProxyPort)) {
      // REQUESTs on 67 are for the site server (ours never offers an address).
      return this.ignore('notForProxy');
    }
    const client = identifyClient(p);
    if (client.kind === 'plain') return this.ignore('notPxe');
    if (!this.d.policy.admit(client)) return this.ignore('unknownMac', { mac: p.chaddr });
    const r = firstStageFor(client, this.d.cfg);
    if (!r.ok) {
      counters.inc('dhcp.noFirstStage');
      this.d.log.warn(`no boot answer: ${r.reason}`, { mac: p.chaddr, arch: client.arch });
      return null;
    }
    const server = this.d.cfg.server.address;
    const reply = withStage(
      replyTo(p, onProxyPort ? MessageType.ACK : MessageType.OFFER, server, {
        // A proxy offer is recognised by option 60 and carries the PXE options (43) and the client's UUID (97).
        vendorClass: client.kind === 'http' ? 'HTTPClient' : 'PXEClient',
        ...(client.kind === 'http' ? {} : { vendorSpecific: PXE_DISCOVERY_CONTROL }),
        ...(client.uuid ? { clientUuid: client.uuid } : {}),
      }),
      r.stage,
    );
    counters.inc(onProxyPort ? 'dhcp.tx.proxyAck' : 'dhcp.tx.proxyOffer');
    this.d.events(p.chaddr, { kind: 'dhcp', message: onProxyPort ? 'proxy-ack' : 'proxy-offer', bootFile: r.stage.bootFile, client: client.kind, arch: client.arch });
    const data = encodeDhcpReply(reply);
    // Port 4011 requests come unicast from an address the client already has: answer the sender.
    return onProxyPort ? { data, address: from.address, port: from.port } : { data, ...destination(p, false) };
  }

  private ignore(reason: string, fields: Record<string, unknown> = {}): null {
    this.d.counters.inc(`dhcp.ignored.${reason}`);
    this.d.log.debug(`ignored: ${reason}`, fields);
    return null;
  }
}
