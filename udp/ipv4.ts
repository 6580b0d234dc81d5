// IPv4 addresses as unsigned 32-bit numbers (host order), for pools, subnets, relay checks,
// multicast groups and the addresses the batched-I/O addon takes and reports. Strict: a
// string that is not a dotted quad throws instead of turning into some other address.

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isIpv4(text: string): boolean {
  const m = DOTTED.exec(text);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** "10.78.0.1" -> 0x0a4e0001; throws on anything else. */
export function ipToInt(text: string): number {
  const m = DOTTED.exec(text);
  if (!m || !m.slice(1).every((o) => Number(o) <= 255)) throw new RangeError(`not an IPv4 address: ${text}`);
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** 224.0.0.0/4. */
export function isMulticast(ip: string): boolean {
  return ipToInt(ip) >>> 28 === 0xe;
}

export function sameSubnet(a: string, b: string, netmask: string): boolean {
  const m = ipToInt(netmask);
  return ((ipToInt(a) & m) >>> 0) === ((ipToInt(b) & m) >>> 0);
}

export interface Subnet {
  address: string;
  prefix: number;
  network: number;
  mask: number;
}

/** "10.78.0.1/24" -> the address, prefix length, network and mask. */
export function parseCidr(text: string): Subnet {
  const [addr, len] = text.split('/');
  const prefix = Number(len);
  if (!addr || !isIpv4(addr) || !Number.isInteger(prefix) || prefix < 1 || prefix > 32) throw new RangeError(`not an IPv4 CIDR: ${text}`);
  const mask = prefix === 32 ? 0xffffffff : (~((1 << (32 - prefix)) - 1)) >>> 0;
  return { address: addr, prefix, network: (ipToInt(addr) & mask) >>> 0, mask };
}

export function inSubnet(ip: string, subnet: Subnet): boolean {
  return isIpv4(ip) && ((ipToInt(ip) & subnet.mask) >>> 0) === subnet.network;
}

export function broadcastOf(subnet: Subnet): string {
  return intToIp((subnet.network | (~subnet.mask >>> 0)) >>> 0);
}
