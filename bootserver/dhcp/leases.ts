import type { DatabaseSync } from 'node:sqlite';
import type { Reservation, SubnetConfig } from '../config.ts';
import { inSubnet, intToIp, ipToInt } from '../../udp/index.ts';
import type { Clock } from '../state/node-store.ts';

// The address pool of full-mode DHCP: reservations by MAC, leases that persist in the state
// database and expire, offers held briefly, declined addresses quarantined. Everything is
// in memory for speed under a boot storm and written through to SQLite on each change.
// Allocation never loops beyond one pass over the range: a full pool answers null.

/** How long an OFFER keeps its address from other clients while the REQUEST is awaited. */
export const OFFER_HOLD_MS = 60_000;
/** RFC 2131 3.1.5: a declined address is in use by someone unknown; keep it out for a while. */
export const DECLINE_HOLD_MS = 10 * 60_000;

export type LeaseState = 'offered' | 'bound' | 'released' | 'declined';

export interface Lease {
  ip: string;
  mac: string;
  state: LeaseState;
  /** Epoch ms. */
  expires: number;
}

export type BindResult =
  | { kind: 'bound'; lease: Lease }
  /** The address belongs to another client, a reservation, or is quarantined. */
  | { kind: 'taken' }
  /** Not an address this subnet hands out. */
  | { kind: 'outside' }
  /** Free, but this client has no record of it (the caller decides: authoritative or silent). */
  | { kind: 'unknown' };

export interface LeaseStoreOptions {
  reservations: Reservation[];
  leaseTimeSec: number;
  /** Our own address: never handed out. */
  serverAddress: string;
  now?: Clock;
}

export class LeaseStore {
  private readonly db: DatabaseSync;
  private readonly now: Clock;
  private readonly leaseMs: number;
  private readonly byIp = new Map<string, Lease>();
  private readonly byMac = new Map<string, string>();
  private readonly reservedFor = new Map<string, string>();
  private readonly reservationOf = new Map<string, string>();
  private readonly serverAddress: string;

  constructor(db: DatabaseSync, opts: LeaseStoreOptions) {
    this.db = db;
    this.now = opts.now ?? Date.now;
    this.leaseMs = opts.leaseTimeSec * 1000;
    this.serverAddress = opts.serverAddress;
    for (const r of opts.reservations) {
      this.reservationOf.set(r.mac, r.ip);
      this.reservedFor.set(r.ip, r.mac);
    }
    db.exec(`CREATE TABLE IF NOT EXISTS leases (
      ip TEXT PRIMARY KEY, mac TEXT NOT NULL, state TEXT NOT NULL, expires INTEGER NOT NULL)`);
    for (const l of db.prepare('SELECT ip, mac, state, expires FROM leases').all() as unknown as Lease[]) this.remember(l);
  }

  get leaseTimeSec(): number {
    return this.leaseMs / 1000;
  }

  /** The lease this client holds (any state), if any. */
  leaseOf(mac: string): Lease | undefined {
    const ip = this.byMac.get(mac);
    return ip ? this.byIp.get(ip) : undefined;
  }

  list(): Lease[] {
    return [...this.byIp.values()].sort((a, b) => ipToInt(a.ip) - ipToInt(b.ip));
  }

  /**
   * Picks an address for a DISCOVER and holds it: the reservation, else the client's
   * previous address, else the one it asks for, else the lowest never-used address, else
   * the one that expired longest ago. null when the pool has nothing free.
   */
  offer(mac: string, subnet: SubnetConfig, requested?: string): string | null {
    const reserved = this.reservationOf.get(mac);
    if (reserved !== undefined) return inSubnet(reserved, subnet.subnet) ? this.hold(mac, reserved) : null;
    const prev = this.leaseOf(mac);
    if (prev && prev.state !== 'declined' && this.inRange(prev.ip, subnet)) return this.hold(mac, prev.ip);
    if (requested && this.inRange(requested, subnet) && this.isFree(requested, mac)) return this.hold(mac, requested);
    const now = this.now();
    let oldest: { ip: string; expires: number } | undefined;
    for (let n = subnet.rangeStart; n <= subnet.rangeEnd; n++) {
      const ip = intToIp(n);
      if (this.reservedFor.has(ip) || ip === this.serverAddress) continue;
      const l = this.byIp.get(ip);
      if (!l) return this.hold(mac, ip);
      if (l.expires <= now && (!oldest || l.expires < oldest.expires)) oldest = { ip, expires: l.expires };
    }
    return oldest ? this.hold(mac, oldest.ip) : null;
  }

  /** Binds `ip` to `mac` for a REQUEST (selecting, init-reboot, renewing). `allowNew`: take a free address the client has no record of. */
  bind(mac: string, ip: string, subnet: SubnetConfig, allowNew: boolean): BindResult {
    const reserved = this.reservationOf.get(mac);
    if (reserved !== undefined && reserved !== ip) return { kind: 'taken' };
    const owner = this.reservedFor.get(ip);
    if (owner !== undefined && owner !== mac) return { kind: 'taken' };
    if (!inSubnet(ip, subnet.subnet) || ip === this.serverAddress) return { kind: 'outside' };
    if (owner === undefined && !this.inRange(ip, subnet)) return { kind: 'outside' };
    const l = this.byIp.get(ip);
    const mine = l?.mac === mac && l.state !== 'declined';
    if (!mine && owner === undefined) {
      if (!this.isFree(ip, mac)) return { kind: 'taken' };
      if (!allowNew) return { kind: 'unknown' };
    }
    return { kind: 'bound', lease: this.put({ ip, mac, state: 'bound', expires: this.now() + this.leaseMs }) };
  }

  /** DHCPRELEASE: the address becomes free now (the client keeps its claim to it if unused). */
  release(mac: string, ip: string): boolean {
    const l = this.byIp.get(ip);
    if (!l || l.mac !== mac || l.state !== 'bound') return false;
    this.put({ ...l, state: 'released', expires: this.now() });
    return true;
  }

  /** DHCPDECLINE: someone else uses the address; quarantine it. */
  decline(mac: string, ip: string): boolean {
    const l = this.byIp.get(ip);
    if (!l || l.mac !== mac) return false;
    this.put({ ip, mac: '', state: 'declined', expires: this.now() + DECLINE_HOLD_MS });
    return true;
  }

  /** An OFFER this client turned down (it chose another server): the address was never used. */
  forgetOffer(mac: string): void {
    const l = this.leaseOf(mac);
    if (l?.state !== 'offered') return;
    this.byIp.delete(l.ip);
    this.byMac.delete(mac);
    this.db.prepare('DELETE FROM leases WHERE ip = ?').run(l.ip);
  }

  private inRange(ip: string, s: SubnetConfig): boolean {
    const n = ipToInt(ip);
    return n >= s.rangeStart && n <= s.rangeEnd && ip !== this.serverAddress && !this.reservedFor.has(ip);
  }

  private isFree(ip: string, mac: string): boolean {
    const l = this.byIp.get(ip);
    return !l || l.mac === mac || l.expires <= this.now();
  }

  private hold(mac: string, ip: string): string {
    const l = this.byIp.get(ip);
    // A bound lease stays bound (a rebooting client DISCOVERs again); others become an offer.
    if (l?.mac === mac && l.state === 'bound' && l.expires > this.now()) return ip;
    this.put({ ip, mac, state: 'offered', expires: this.now() + OFFER_HOLD_MS });
    return ip;
  }

  private put(l: Lease): Lease {
    const prev = this.byIp.get(l.ip);
    if (prev && prev.mac !== l.mac && this.byMac.get(prev.mac) === l.ip) this.byMac.delete(prev.mac);
    const old = this.byMac.get(l.mac);
    if (old !== undefined && old !== l.ip) {
      // One address per client: the old one goes back to the pool.
      this.byIp.delete(old);
      this.db.prepare('DELETE FROM leases WHERE ip = ?').run(old);
    }
    this.remember(l);
    this.db.prepare('INSERT OR REPLACE INTO leases (ip, mac, state, expires) VALUES (?, ?, ?, ?)').run(l.ip, l.mac, l.state, l.expires);
    return l;
  }

  private remember(l: Lease): void {
    this.byIp.set(l.ip, l);
    if (l.mac) this.byMac.set(l.mac, l.ip);
  }
}
