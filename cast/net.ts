import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import os from 'node:os';
import { intToIp, ipToInt } from '../udp/index.ts';
import { CastError } from './errors.ts';

// Interface choice, udpcast's address rules, and socket setup; the IPv4 arithmetic is udp's.
// Node's dgram cannot bind a device; a wildcard bind plus IP_MULTICAST_IF and source checks
// does the same job.

export interface NetInterface {
  name: string;
  address: string;
  netmask: string;
  broadcast: string;
}

/** udpcast's default data group: keep the low 27 bits of the sender IP, set 11101 on top. */
export function defaultDataAddress(senderIp: string): string {
  return intToIp(((ipToInt(senderIp) & 0x07ffffff) | 0xe8000000) >>> 0);
}

/**
 * The rendezvous address both sides must agree on: the interface broadcast address
 * when TTL is 1 and no multicast rendezvous is given (udpcast's rule), else the group.
 */
export function rendezvousAddress(iface: NetInterface, opts: { ttl: number; mcastRdvAddress?: string | undefined }): string {
  if (opts.mcastRdvAddress) return opts.mcastRdvAddress;
  return opts.ttl > 1 ? '224.0.0.1' : iface.broadcast;
}

function fromOs(name: string, a: os.NetworkInterfaceInfoIPv4): NetInterface {
  const mask = ipToInt(a.netmask);
  return { name, address: a.address, netmask: a.netmask, broadcast: intToIp((ipToInt(a.address) | ~mask) >>> 0) };
}

/**
 * Resolves --interface (a name or an IPv4 address). Without it, picks eth*, then en*,
 * then any other non-loopback IPv4 interface, as udp-sender does.
 */
export function resolveInterface(spec?: string): NetInterface {
  const all: NetInterface[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4') all.push(fromOs(name, a));
  }
  const usable = all.filter((i) => i.address !== '127.0.0.1' || spec !== undefined);
  if (spec) {
    const hit = usable.find((i) => (isIPv4(spec) ? i.address === spec : i.name === spec));
    if (hit) return hit;
    throw new CastError('CAST_NO_INTERFACE', `interface ${spec} has no IPv4 address here`, {
      details: { interface: spec, available: all.map((i) => `${i.name}=${i.address}`) },
      remedy: `pick one of: ${all.map((i) => `${i.name} (${i.address})`).join(', ') || 'none'}`,
    });
  }
  const external = usable.filter((i) => !i.address.startsWith('127.'));
  const pick = external.find((i) => /^eth/.test(i.name)) ?? external.find((i) => /^en/.test(i.name)) ?? external[0];
  if (!pick) {
    throw new CastError('CAST_NO_INTERFACE', 'no network interface with an IPv4 address', {
      remedy: 'bring up the boot network interface or pass --interface',
    });
  }
  return pick;
}

export interface SocketOptions {
  port: number;
  rcvbufBytes?: number;
  sndbufBytes?: number;
  broadcast?: boolean;
}

/** A UDP socket bound to 0.0.0.0:port with SO_REUSEADDR, buffers set as far as allowed. */
export async function openSocket(opts: SocketOptions): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      sock.close();
      reject(
        new CastError('CAST_BIND', `cannot bind UDP port ${opts.port}: ${err.message}`, {
          cause: err,
          details: { port: opts.port },
          remedy: 'another transfer may use this port base; choose another --portbase',
        }),
      );
    };
    sock.once('error', onError);
    sock.bind(opts.port, '0.0.0.0', () => {
      sock.off('error', onError);
      resolve();
    });
  });
  if (opts.broadcast) sock.setBroadcast(true);
  if (opts.rcvbufBytes) sock.setRecvBufferSize(opts.rcvbufBytes);
  if (opts.sndbufBytes) sock.setSendBufferSize(opts.sndbufBytes);
  return sock;
}
