import dhcp from 'dhcp';
import dhcpOptions from 'dhcp/lib/options.js';
import protocol, { type FormatInput } from 'dhcp/lib/protocol.js';
import SeqBuffer from 'dhcp/lib/seqbuffer.js';
import { DecodeError } from '../errors.ts';

// DHCP/BOOTP packets on top of the npm `dhcp` codec: its option table (extended with the
// PXE options through addOption), its typed readers and Protocol.format. Its own parser is
// not used: it prints unknown options to the console, throws on htype != 1 and lets a PAD
// byte swallow the next byte. Decoding here walks the options itself, reads each value
// with the package's reader for that option type, and rejects malformed packets with a
// DecodeError (the server drops and counts them).

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const MAGIC_COOKIE = 0x63825363;
/** RFC 951: a BOOTP message is at least 300 bytes; some old PXE ROMs drop shorter replies. */
export const BOOTP_MIN_BYTES = 300;
const HEADER_BYTES = 236;
export const FLAG_BROADCAST = 0x8000;

export const MessageType = {
  DISCOVER: 1,
  OFFER: 2,
  REQUEST: 3,
  DECLINE: 4,
  ACK: 5,
  NAK: 6,
  RELEASE: 7,
  INFORM: 8,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];
export const MESSAGE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k]));

// The options rackcast reads or writes, by name. The package knows most of them; the PXE
// ones are registered below. Client identifier (61) is binary, so it is re-registered as bytes.
export const OPTION_CODES = {
  subnetMask: 1,
  routers: 3,
  dns: 6,
  hostname: 12,
  domainName: 15,
  broadcast: 28,
  vendorSpecific: 43,
  requestedIp: 50,
  leaseTimeSec: 51,
  messageType: 53,
  serverId: 54,
  paramRequest: 55,
  message: 56,
  maxMessageSize: 57,
  renewalSec: 58,
  rebindingSec: 59,
  vendorClass: 60,
  clientId: 61,
  tftpServer: 66,
  bootFile: 67,
  userClass: 77,
  relayAgent: 82,
  clientArch: 93,
  clientNdi: 94,
  clientUuid: 97,
  ipxe: 175,
} as const;

export interface DhcpOptions {
  subnetMask?: string;
  routers?: string[];
  dns?: string[];
  hostname?: string;
  domainName?: string;
  broadcast?: string;
  vendorSpecific?: number[];
  requestedIp?: string;
  leaseTimeSec?: number;
  messageType?: MessageType;
  serverId?: string;
  paramRequest?: number[];
  message?: string;
  maxMessageSize?: number;
  renewalSec?: number;
  rebindingSec?: number;
  vendorClass?: string;
  clientId?: number[];
  tftpServer?: string;
  bootFile?: string;
  userClass?: string;
  relayAgent?: number[];
  clientArch?: number[];
  clientNdi?: number[];
  clientUuid?: number[];
  ipxe?: number[];
}
type OptionName = keyof typeof OPTION_CODES;
const NAME_BY_CODE = new Map(Object.entries(OPTION_CODES).map(([k, v]) => [v as number, k as OptionName]));

dhcp.addOption(61, { name: 'Client-Identifier', type: 'UInt8s', attr: 'clientId' });
dhcp.addOption(77, { name: 'User Class', type: 'ASCII', attr: 'userClass' });
dhcp.addOption(82, { name: 'Relay Agent Information', type: 'UInt8s', attr: 'relayAgent' });
dhcp.addOption(93, { name: 'Client System Architecture', type: 'UInt16s', attr: 'clientArch' });
dhcp.addOption(94, { name: 'Client Network Device Interface', type: 'UInt8s', attr: 'clientNdi' });
dhcp.addOption(97, { name: 'UUID/GUID-based Client Identifier', type: 'UInt8s', attr: 'clientUuid' });
dhcp.addOption(175, { name: 'iPXE Encapsulated Options', type: 'UInt8s', attr: 'ipxe' });

// Smallest value length each package type can be read from; shorter is malformed.
const MIN_LEN: Record<string, number> = { UInt8: 1, Int8: 1, UInt16: 2, Int16: 2, UInt32: 4, Int32: 4, IP: 4, IPs: 4, UInt16s: 2 };

/** A decoded packet: the BOOTP header fields of the package's format input, typed options. */
export interface DhcpPacket extends Omit<FormatInput, 'htype' | 'hlen' | 'options'> {
  /** Lower-case, colon-separated ("52:54:00:78:00:10"); only Ethernet (htype 1, hlen 6) is accepted. */
  chaddr: string;
  options: DhcpOptions;
  /** Codes present in the packet that rackcast does not interpret (kept for logs and dumps). */
  otherOptions: number[];
}

export function decodeDhcp(buf: Buffer): DhcpPacket {
  if (buf.length < HEADER_BYTES + 4) throw new DecodeError('DHCP', 'SHORT', `${buf.length}-byte datagram is shorter than a DHCP header`, { bytes: buf.length });
  const sb = new SeqBuffer(buf);
  const op = sb.getUInt8();
  const htype = sb.getUInt8();
  const hlen = sb.getUInt8();
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new DecodeError('DHCP', 'OP', `op ${op} is neither BOOTREQUEST nor BOOTREPLY`, { op });
  if (htype !== 1 || hlen !== 6) throw new DecodeError('DHCP', 'HTYPE', `hardware type ${htype}/${hlen} is not Ethernet`, { htype, hlen });
  const hops = sb.getUInt8();
  const xid = sb.getUInt32();
  const secs = sb.getUInt16();
  const flags = sb.getUInt16();
  const ciaddr = sb.getIP();
  const yiaddr = sb.getIP();
  const siaddr = sb.getIP();
  const giaddr = sb.getIP();
  const chaddr = sb.getHex(16).slice(0, 12).replace(/(..)(?!$)/g, '$1:');
  const sname = sb.getUTF8(64);
  const file = sb.getUTF8(128);
  if (sb.getUInt32() !== MAGIC_COOKIE) throw new DecodeError('DHCP', 'COOKIE', 'no DHCP magic cookie (plain BOOTP is not served)');
  const { options, otherOptions } = decodeOptions(buf, HEADER_BYTES + 4);
  return { op, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file, options, otherOptions };
}

function decodeOptions(buf: Buffer, start: number): { options: DhcpOptions; otherOptions: number[] } {
  const options: Record<string, unknown> = {};
  const otherOptions: number[] = [];
  let off = start;
  while (off < buf.length) {
    const code = buf[off]!;
    if (code === 255) break;
    if (code === 0) {
      off++;
      continue;
    }
    const len = buf[off + 1];
    if (len === undefined || off + 2 + len > buf.length) throw new DecodeError('DHCP', 'OPTION', `option ${code} runs past the end of the packet`, { code });
    const name = NAME_BY_CODE.get(code);
    const spec = dhcpOptions.opts[code];
    if (name && spec) {
      if (len < (MIN_LEN[spec.type] ?? 0)) throw new DecodeError('DHCP', 'OPTION', `option ${code} is ${len} bytes, too short for ${spec.type}`, { code, len });
      const sb = new SeqBuffer(buf.subarray(off + 2, off + 2 + len));
      options[name] = sb[`get${spec.type}`]!.call(sb, len);
    } else {
      otherOptions.push(code);
    }
    off += 2 + len;
  }
  const mt = options.messageType;
  if (mt !== undefined && !(typeof mt === 'number' && mt >= 1 && mt <= 8)) throw new DecodeError('DHCP', 'OPTION', `message type ${String(mt)} is unknown`, { messageType: mt });
  return { options: options as DhcpOptions, otherOptions };
}

export interface DhcpReplyFields {
  xid: number;
  flags: number;
  chaddr: string;
  ciaddr?: string;
  yiaddr?: string;
  siaddr?: string;
  giaddr?: string;
  /** BOOTP `file`: some old ROMs read only this, so it repeats option 67. */
  file?: string;
  sname?: string;
  options: DhcpOptions;
}

/** A BOOTREPLY, padded to the BOOTP minimum. Options go out in code order. */
export function encodeDhcpReply(r: DhcpReplyFields): Buffer {
  return encodePacket({ op: BOOTREPLY, ...r });
}

/** Any packet (requests too: tests and the load generator use this). */
export function encodePacket(p: DhcpReplyFields & { op: number; hops?: number; secs?: number }): Buffer {
  const byCode: Record<number, unknown> = {};
  for (const [name, value] of Object.entries(p.options)) {
    if (value !== undefined) byCode[OPTION_CODES[name as OptionName]] = value;
  }
  const sb = protocol.format({
    op: p.op,
    htype: 1,
    hlen: 6,
    hops: p.hops ?? 0,
    xid: p.xid,
    secs: p.secs ?? 0,
    flags: p.flags,
    ciaddr: p.ciaddr ?? '0.0.0.0',
    yiaddr: p.yiaddr ?? '0.0.0.0',
    siaddr: p.siaddr ?? '0.0.0.0',
    giaddr: p.giaddr ?? '0.0.0.0',
    chaddr: p.chaddr,
    sname: p.sname ?? '',
    file: p.file ?? '',
    options: byCode,
  });
  const out = Buffer.alloc(Math.max(sb._w, BOOTP_MIN_BYTES));
  sb._data.copy(out, 0, 0, sb._w);
  return out;
}

/** One readable line per packet, for fixture dumps and debug logs. */
export function formatDhcp(p: DhcpPacket): string {
  const o = p.options;
  const type = o.messageType ? MESSAGE_NAMES[o.messageType] : 'BOOTP';
  const parts = [`${p.op === BOOTREQUEST ? 'request' : 'reply'} ${type} xid=0x${p.xid.toString(16).padStart(8, '0')} chaddr=${p.chaddr}`];
  if (p.flags & FLAG_BROADCAST) parts.push('broadcast');
  for (const k of ['ciaddr', 'yiaddr', 'siaddr', 'giaddr'] as const) if (p[k] !== '0.0.0.0') parts.push(`${k}=${p[k]}`);
  if (p.file) parts.push(`file=${p.file}`);
  for (const [name, value] of Object.entries(o)) {
    if (name === 'messageType' || value === undefined) continue;
    parts.push(`${name}=${Array.isArray(value) ? value.join(',') : String(value)}`);
  }
  if (p.otherOptions.length) parts.push(`other=${p.otherOptions.join(',')}`);
  return parts.join(' ');
}
