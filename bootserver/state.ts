import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Inventory, NodeEvent, NodePhase } from './api-types.ts';
import type { NodeConfig } from './config.ts';
import { ApiError } from './errors.ts';

// Node state in SQLite under the state dir: one row per node (phase, token, last boot) and
// an append-only event log. Every change is written before the call returns, so a restart
// loses nothing. Phase changes follow the machine below; anything else is a conflict.
//
//   discovered -> install -> installing -> installed
//                               |-> failed
//   any phase  -> install   (reinstall)
//   any phase  -> localboot (admin: boot the disk, never install)
//
// The agent's token changes when a node enters install from a phase in which no agent of
// it runs (discovered, installed, localboot): anything still using the old one is stale.
// From failed or installing the token stays, so a waiting agent learns `retry` from /next.

export type Clock = () => number;

const TRANSITIONS: Record<NodePhase, readonly NodePhase[]> = {
  discovered: ['install', 'localboot'],
  install: ['install', 'installing', 'localboot'],
  installing: ['install', 'installing', 'installed', 'failed', 'localboot'],
  installed: ['install', 'localboot'],
  failed: ['install', 'localboot'],
  localboot: ['install', 'localboot'],
};

const ROTATE_FROM: readonly NodePhase[] = ['discovered', 'installed', 'localboot'];

export interface NodeRecord {
  mac: string;
  hostname: string | null;
  phase: NodePhase;
  configured: boolean;
  /** The agent's bearer token while an install or inventory may run. */
  token: string | null;
  arch: number | null;
  ip: string | null;
  inventory: Inventory | null;
  lastSeen: number | null;
  updated: number;
}

interface Row {
  mac: string;
  hostname: string | null;
  phase: string;
  configured: number;
  token: string | null;
  arch: number | null;
  ip: string | null;
  inventory: string | null;
  last_seen: number | null;
  updated: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (
  mac TEXT PRIMARY KEY,
  hostname TEXT,
  phase TEXT NOT NULL,
  configured INTEGER NOT NULL DEFAULT 0,
  token TEXT UNIQUE,
  arch INTEGER,
  ip TEXT,
  inventory TEXT,
  last_seen INTEGER,
  updated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mac TEXT NOT NULL,
  time INTEGER NOT NULL,
  kind TEXT NOT NULL,
  message TEXT NOT NULL,
  data TEXT
);
CREATE INDEX IF NOT EXISTS events_by_mac ON events (mac, id);
`;

/** Opens (creating) the state database; WAL keeps writes cheap under a boot storm. */
export function openStateDb(stateDir: string): DatabaseSync {
  mkdirSync(stateDir, { recursive: true });
  const db = new DatabaseSync(join(stateDir, 'rackcast.db'));
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
  return db;
}

export function newToken(): string {
  return randomBytes(32).toString('hex');
}

function toRecord(r: Row): NodeRecord {
  return {
    mac: r.mac,
    hostname: r.hostname,
    phase: r.phase as NodePhase,
    configured: r.configured === 1,
    token: r.token,
    arch: r.arch,
    ip: r.ip,
    inventory: r.inventory ? (JSON.parse(r.inventory) as Inventory) : null,
    lastSeen: r.last_seen,
    updated: r.updated,
  };
}

export class NodeStore {
  private readonly db: DatabaseSync;
  private readonly now: Clock;

  constructor(db: DatabaseSync, now: Clock = Date.now) {
    this.db = db;
    this.now = now;
    db.exec(SCHEMA);
  }

  /**
   * Brings the table in line with the config: new nodes start in `install` (a configured
   * node is meant to be installed), discovered ones that are now configured too; known
   * phases are kept. Nodes no longer in the config stay, marked unconfigured.
   */
  syncConfig(nodes: NodeConfig[]): void {
    const macs = new Set(nodes.map((n) => n.mac));
    this.transaction(() => {
      for (const r of this.list()) {
        if (r.configured && !macs.has(r.mac)) this.db.prepare('UPDATE nodes SET configured = 0 WHERE mac = ?').run(r.mac);
      }
      for (const n of nodes) {
        const cur = this.get(n.mac);
        if (!cur) {
          this.db
            .prepare('INSERT INTO nodes (mac, hostname, phase, configured, token, updated) VALUES (?, ?, ?, 1, ?, ?)')
            .run(n.mac, n.hostname, 'install', newToken(), this.now());
          this.event(n.mac, 'phase', 'configured: install');
          continue;
        }
        this.db.prepare('UPDATE nodes SET hostname = ?, configured = 1 WHERE mac = ?').run(n.hostname, n.mac);
        if (cur.phase === 'discovered') this.setPhase(n.mac, 'install', 'now in the config');
      }
    });
  }

  get(mac: string): NodeRecord | null {
    const r = this.db.prepare('SELECT * FROM nodes WHERE mac = ?').get(mac) as Row | undefined;
    return r ? toRecord(r) : null;
  }

  byHostname(hostname: string): NodeRecord | null {
    const r = this.db.prepare('SELECT * FROM nodes WHERE hostname = ?').get(hostname) as Row | undefined;
    return r ? toRecord(r) : null;
  }

  byToken(token: string): NodeRecord | null {
    const r = this.db.prepare('SELECT * FROM nodes WHERE token = ?').get(token) as Row | undefined;
    return r ? toRecord(r) : null;
  }

  list(): NodeRecord[] {
    return (this.db.prepare('SELECT * FROM nodes ORDER BY hostname IS NULL, hostname, mac').all() as unknown as Row[]).map(toRecord);
  }

  /** Registers an unknown machine seen netbooting (unknownNodes: discover). */
  discover(mac: string, arch: number | null): NodeRecord {
    const existing = this.get(mac);
    if (existing) return existing;
    this.db.prepare('INSERT INTO nodes (mac, phase, token, arch, updated) VALUES (?, ?, ?, ?, ?)').run(mac, 'discovered', newToken(), arch, this.now());
    this.event(mac, 'phase', 'discovered');
    return this.get(mac)!;
  }

  /** Moves a node to `phase` (entering install may issue a new token, see above). Throws a 409 ApiError if the machine forbids it. */
  setPhase(mac: string, phase: NodePhase, reason: string, data?: Record<string, unknown>): NodeRecord {
    const cur = this.get(mac);
    if (!cur) throw new ApiError(404, 'BOOT_API_NO_NODE', `no node with MAC ${mac}`);
    if (!TRANSITIONS[cur.phase].includes(phase)) {
      throw new ApiError(409, 'BOOT_API_PHASE', `node ${cur.hostname ?? mac} is ${cur.phase}; it cannot become ${phase}`, {
        details: { mac, from: cur.phase, to: phase },
        remedy: phase === 'installing' ? 'run `rackcast node reinstall` first' : 'check the node with `rackcast node show`',
      });
    }
    if (phase === 'install' && ROTATE_FROM.includes(cur.phase)) {
      this.db.prepare('UPDATE nodes SET phase = ?, token = ?, updated = ? WHERE mac = ?').run(phase, newToken(), this.now(), mac);
    } else {
      this.db.prepare('UPDATE nodes SET phase = ?, updated = ? WHERE mac = ?').run(phase, this.now(), mac);
    }
    if (cur.phase !== phase) this.event(mac, 'phase', `${cur.phase} -> ${phase}: ${reason}`, data);
    return this.get(mac)!;
  }

  /** Notes a network boot (DHCP or script fetch): last seen, architecture, address. */
  seen(mac: string, fields: { arch?: number | null; ip?: string | null }): void {
    this.db
      .prepare('UPDATE nodes SET last_seen = ?, arch = COALESCE(?, arch), ip = COALESCE(?, ip) WHERE mac = ?')
      .run(this.now(), fields.arch ?? null, fields.ip ?? null, mac);
  }

  setInventory(mac: string, inventory: Inventory): void {
    this.db.prepare('UPDATE nodes SET inventory = ?, updated = ? WHERE mac = ?').run(JSON.stringify(inventory), this.now(), mac);
  }

  event(mac: string, kind: string, message: string, data?: Record<string, unknown>): void {
    this.db.prepare('INSERT INTO events (mac, time, kind, message, data) VALUES (?, ?, ?, ?, ?)').run(mac, this.now(), kind, message, data ? JSON.stringify(data) : null);
  }

  /** The newest `limit` events of a node, oldest first. */
  events(mac: string, limit = 100): NodeEvent[] {
    const rows = this.db.prepare('SELECT time, kind, message, data FROM events WHERE mac = ? ORDER BY id DESC LIMIT ?').all(mac, limit) as unknown as {
      time: number;
      kind: string;
      message: string;
      data: string | null;
    }[];
    return rows.reverse().map((r) => ({
      time: new Date(r.time).toISOString(),
      kind: r.kind,
      message: r.message,
      ...(r.data ? { data: JSON.parse(r.data) as Record<string, unknown> } : {}),
    }));
  }

  transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN');
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }
}
