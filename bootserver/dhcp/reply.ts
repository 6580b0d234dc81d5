import type { DhcpOptions, DhcpPacket, DhcpReplyFields, MessageType } from './packet.ts';
import type { FirstStage } from '../firmware.ts';

// What full and proxy DHCP share: where a reply goes and how boot information is attached.

export const CLIENT_PORT = 68;
export const SERVER_PORT = 67;
/** PXE boot server port: proxyDHCP REQUESTs arrive here as unicast. */
export const PROXY_PORT = 4011;

/** Where a request came from (rinfo) and on which of our ports. */
export interface Arrival {
  address: string;
  port: number;
  localPort: number;
}

export interface Outgoing {
  data: Buffer;
  address: string;
  port: number;
}

/** Anything that answers DHCP requests: the full server or the proxy. */
export interface DhcpResponder {
  handle(p: DhcpPacket, from: Arrival): Outgoing | null;
}

/**
 * RFC 2131 4.1: through a relay to giaddr:67; a NAK or a client without an address by
 * broadcast (without raw sockets we cannot unicast to an address the client does not have
 * yet, which the RFC allows); a client with an address (renew, inform) by unicast.
 */
export function destination(p: DhcpPacket, nak: boolean): { address: string; port: number } {
  if (p.giaddr !== '0.0.0.0') return { address: p.giaddr, port: SERVER_PORT };
  if (!nak && p.ciaddr !== '0.0.0.0') return { address: p.ciaddr, port: CLIENT_PORT };
  return { address: '255.255.255.255', port: CLIENT_PORT };
}

/** The reply skeleton: same transaction, client, relay and flags as the request. */
export function replyTo(p: DhcpPacket, type: MessageType, serverId: string, options: DhcpOptions = {}): DhcpReplyFields {
  return {
    xid: p.xid,
    flags: p.flags,
    chaddr: p.chaddr,
    giaddr: p.giaddr,
    siaddr: serverId,
    options: {
      messageType: type,
      serverId,
      ...options,
      // RFC 3046: a relay's agent information comes back unchanged.
      ...(p.options.relayAgent ? { relayAgent: p.options.relayAgent } : {}),
    },
  };
}

/** Adds the first stage: option 67 and the BOOTP file field (old ROMs read only the latter). */
export function withStage(r: DhcpReplyFields, stage: FirstStage | undefined): DhcpReplyFields {
  if (!stage) return r;
  return {
    ...r,
    file: Buffer.byteLength(stage.bootFile) < 128 ? stage.bootFile : '',
    options: { ...r.options, bootFile: stage.bootFile, ...(stage.vendorClass ? { vendorClass: stage.vendorClass } : {}) },
  };
}
