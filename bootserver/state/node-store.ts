import { createHash, randomBytes } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Inventory, StepError, StepStatus } from '../../contract/index.ts';
import type { NodePhase } from '../api-types.ts';
import type { NodeEventData } from './events.ts';

// Node rows and their event log in SQLite. Every change is written before the call returns,
// so a restart loses nothing. The store keeps what it is given: which phase follows which,
// and when a token changes, is install/lifecycle.ts's to decide.

export type Clock = () => number;

export interface NodeRecord {
  mac: string;
  hostname: string | null;
  phase: NodePhase;
  configured: boolean;
  /** sha256 of the agent's bearer token (the token itself is never stored); null until a script fetch issued one. */
  tokenHash: string | null;
  /** What the token may still do: a whole install, or only ask `next` after the completion report. */
  tokenScope: TokenScope | null;
  /** sha256 of the token it replaced: a call with it is a second claimant for this node. */
  revokedTokenHash: string | null;
  arch: number | null;
  ip: string | null;
  inventory: Inventory | null;
  lastSeen: number | null;
  updated: number;
  install: InstallRecord;
}

/** Why the current install failed: the agent's report of its step, or the server's reason. */
export interface InstallFailure extends Omit<StepError, 'code'> {
  step: string | null;
  code: string | null;
}

/**
 * The node's current install, kept up to date as its reports arrive, so `rackcast status`
 * reads one row per node instead of its events. A reinstall starts a fresh one.
 */
export interface InstallRecord {
  /** When the agent fetched its plan (ms); null while none did. */
  startedAt: number | null;
  session: number | null;
  /** The step last reported, and how it stands. */
  step: string | null;
  stepStatus: StepStatus | null;
  /** Steps that succeeded, in order. */
  stepsDone: string[];
  /** The stream received so far (the receive step), its rate while it runs, and its size once whole. */
  bytes: number | null;
  rateBytesPerSec: number | null;
  receivedBytes: number | null;
  failure: InstallFailure | null;
  /** Why the node waits (the next session, a missing image). */
  note: string | null;
  /** Two hosts claimed this node during the install (its token was issued again, or a revoked one used). */
  conflict: string | null;
  /** Times its installer was fetched again while it installed (each revoked the token before). */
  netboots: number;
  /** The sha256 of the image stream the server sent it; the completion report must name the same. */
  sentSha256?: string;
}

export type TokenScope = 'install' | 'done';

export const NO_INSTALL: InstallRecord = {
  startedAt: null,
  session: null,
  step: null,
  stepStatus: null,
  stepsDone: [],
  bytes: null,
  rateBytesPerSec: null,
  receivedBytes: null,
  failure: null,
  note: null,
  conflict: null,
  netboots: 0,
};

export interface StoredEvent {
  time: number;
  data: NodeEventData;
}

interface Row {
  mac: string;
  hostname: string | null;
  phase: string;
  configured: number;
  token: string | null;
  token_scope: string | null;
  prev_token: string | null;
  arch: number | null;
  ip: string | null;
  inventory: string | null;
  last_seen: number | null;
  updated: number;
  install: string | null;
}

/** user_version of the schema below; older databases are brought up to it on open. */
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (
  mac TEXT PRIMARY KEY,
  hostname TEXT,
  phase TEXT NOT NULL,
  configured INTEGER NOT NULL DEFAULT 0,
  token TEXT UNIQUE,
  token_scope TEXT,
  prev_token TEXT,
  arch INTEGER,
  ip TEXT,
  inventory TEXT,
  last_seen INTEGER,
  updated INTEGER NOT NULL,
  install TEXT
);
CREATE INDEX IF NOT EXISTS nodes_by_hostname ON nodes (hostname);
CREATE INDEX IF NOT EXISTS nodes_by_prev_token ON nodes (prev_token);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mac TEXT NOT NULL,
  time INTEGER NOT NULL,
  kind TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_mac ON events (mac, id);
`;

/**
 * Version 0 kept events as prose (a message column) and tokens in the clear. The old events
 * are kept aside, not converted (nothing reads them); tokens are replaced by their hashes, so
 * an agent that runs across the upgrade keeps working; phases carry over as they are.
 */
function migrate(db: DatabaseSync): void {
  const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  if (version >= SCHEMA_VERSION) return;
  const columns = (table: string) => (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  if (columns('events').includes('message')) db.exec('ALTER TABLE events RENAME TO events_v0; DROP INDEX IF EXISTS events_by_mac;');
  const nodeColumns = columns('nodes');
  if (nodeColumns.length > 0 && !nodeColumns.includes('install')) {
    db.exec('ALTER TABLE nodes ADD COLUMN install TEXT; ALTER TABLE nodes ADD COLUMN token_scope TEXT; ALTER TABLE nodes ADD COLUMN prev_token TEXT;');
    const hash = db.prepare("UPDATE nodes SET token = ?, token_scope = 'install' WHERE mac = ?");
    for (const r of db.prepare('SELECT mac, token FROM nodes WHERE token IS NOT NULL').all() as { mac: string; token: string }[]) hash.run(hashToken(r.token), r.mac);
  }
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
}

export function newToken(): string {
  return randomBytes(32).toString('hex');
}

/** What the store keeps of a token: a leaked database gives no working token away. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function toRecord(r: Row): NodeRecord {
  return {
    mac: r.mac,
    hostname: r.hostname,
    phase: r.phase as NodePhase,
    configured: r.configured === 1,
    tokenHash: r.token,
    tokenScope: r.token_scope as TokenScope | null,
    revokedTokenHash: r.prev_token,
    arch: r.arch,
    ip: r.ip,
    inventory: r.inventory ? (JSON.parse(r.inventory) as Inventory) : null,
    lastSeen: r.last_seen,
    updated: r.updated,
    // Fields a record written by an older version lacks take their defaults.
    install: r.install ? { ...NO_INSTALL, ...(JSON.parse(r.install) as Partial<InstallRecord>) } : NO_INSTALL,
  };
}

export interface NewNode {
  mac: string;
  hostname: string | null;
  phase: NodePhase;
  configured: boolean;
  arch: number | null;
}

/** How many events a node keeps (retention.eventsPerNode), and how often they are trimmed to it. */
export interface Retention {
  eventsPerNode: number;
}

/** A node's events are trimmed after this many new ones: the cost of a trim is spread thin. */
const TRIM_EVERY = 100;

export class NodeStore {
  private readonly db: DatabaseSync;
  private readonly now: Clock;
  private readonly retention: Retention;
  /** Events written per node since its last trim. */
  private readonly sinceTrim = new Map<string, number>();
  /** Prepared once: a boot storm runs these thousands of times a second. */
  private readonly q: Record<
    'get' | 'byHostname' | 'byToken' | 'byRevokedToken' | 'list' | 'insert' | 'configured' | 'phase' | 'token' | 'install' | 'seen' | 'inventory' | 'event' | 'events' | 'trim' | 'expire' | 'orphanEvents',
    StatementSync
  >;

  constructor(db: DatabaseSync, now: Clock = Date.now, retention: Retention = { eventsPerNode: 1000 }) {
    this.db = db;
    this.now = now;
    this.retention = retention;
    migrate(db);
    db.exec(SCHEMA);
    this.q = {
      get: db.prepare('SELECT * FROM nodes WHERE mac = ?'),
      byHostname: db.prepare('SELECT * FROM nodes WHERE hostname = ?'),
      byToken: db.prepare('SELECT * FROM nodes WHERE token = ?'),
      byRevokedToken: db.prepare('SELECT * FROM nodes WHERE prev_token = ?'),
      list: db.prepare('SELECT * FROM nodes ORDER BY hostname IS NULL, hostname, mac'),
      insert: db.prepare('INSERT INTO nodes (mac, hostname, phase, configured, arch, updated) VALUES (?, ?, ?, ?, ?, ?)'),
      configured: db.prepare('UPDATE nodes SET hostname = ?, configured = ? WHERE mac = ?'),
      phase: db.prepare('UPDATE nodes SET phase = ?, install = ?, updated = ? WHERE mac = ?'),
      token: db.prepare('UPDATE nodes SET token = ?, token_scope = ?, prev_token = ? WHERE mac = ?'),
      install: db.prepare('UPDATE nodes SET install = ?, updated = ? WHERE mac = ?'),
      seen: db.prepare('UPDATE nodes SET last_seen = ?, arch = COALESCE(?, arch), ip = COALESCE(?, ip) WHERE mac = ?'),
      inventory: db.prepare('UPDATE nodes SET inventory = ?, updated = ? WHERE mac = ?'),
      event: db.prepare('INSERT INTO events (mac, time, kind, data) VALUES (?, ?, ?, ?)'),
      events: db.prepare('SELECT time, data FROM events WHERE mac = ? ORDER BY id DESC LIMIT ?'),
      // Past the newest `keep`, events go, but for those of the current install other than
      // log lines: its steps, session and phase changes stay however long it runs.
      trim: db.prepare(`DELETE FROM events WHERE mac = :mac
        AND id <= (SELECT id FROM events WHERE mac = :mac ORDER BY id DESC LIMIT 1 OFFSET :keep)
        AND (kind = 'log' OR time < (SELECT COALESCE(json_extract(install, '$.startedAt'), 9e15) FROM nodes WHERE mac = :mac))`),
      expire: db.prepare("DELETE FROM nodes WHERE phase = 'discovered' AND configured = 0 AND COALESCE(last_seen, updated) < ?"),
      orphanEvents: db.prepare('DELETE FROM events WHERE mac NOT IN (SELECT mac FROM nodes)'),
    };
  }

  get(mac: string): NodeRecord | null {
    const r = this.q.get.get(mac) as Row | undefined;
    return r ? toRecord(r) : null;
  }

  byHostname(hostname: string): NodeRecord | null {
    const r = this.q.byHostname.get(hostname) as Row | undefined;
    return r ? toRecord(r) : null;
  }

  /** The node whose current token this is. */
  byToken(token: string): NodeRecord | null {
    const r = this.q.byToken.get(hashToken(token)) as Row | undefined;
    return r ? toRecord(r) : null;
  }

  /** The node whose previous token this is (it was issued again since). */
  byRevokedToken(token: string): NodeRecord | null {
    const r = this.q.byRevokedToken.get(hashToken(token)) as Row | undefined;
    return r ? toRecord(r) : null;
  }

  list(): NodeRecord[] {
    return (this.q.list.all() as unknown as Row[]).map(toRecord);
  }

  insert(n: NewNode): void {
    this.q.insert.run(n.mac, n.hostname, n.phase, n.configured ? 1 : 0, n.arch, this.now());
  }

  setConfigured(mac: string, hostname: string | null, configured: boolean): void {
    this.q.configured.run(hostname, configured ? 1 : 0, mac);
  }

  /** Phase and install record in one write. */
  setPhase(mac: string, phase: NodePhase, install: InstallRecord): void {
    this.q.phase.run(phase, JSON.stringify(install), this.now(), mac);
  }

  setToken(mac: string, tokenHash: string | null, scope: TokenScope | null, revokedTokenHash: string | null): void {
    this.q.token.run(tokenHash, scope, revokedTokenHash, mac);
  }

  setInstall(mac: string, install: InstallRecord): void {
    this.q.install.run(JSON.stringify(install), this.now(), mac);
  }

  /** Notes a network boot (DHCP or script fetch): last seen, architecture, address. */
  seen(mac: string, fields: { arch?: number | null; ip?: string | null }): void {
    this.q.seen.run(this.now(), fields.arch ?? null, fields.ip ?? null, mac);
  }

  setInventory(mac: string, inventory: Inventory): void {
    this.q.inventory.run(JSON.stringify(inventory), this.now(), mac);
  }

  event(mac: string, data: NodeEventData): void {
    this.q.event.run(mac, this.now(), data.kind, JSON.stringify(data));
    const n = (this.sinceTrim.get(mac) ?? 0) + 1;
    this.sinceTrim.set(mac, n);
    if (n >= TRIM_EVERY) this.trim(mac);
  }

  /** Drops a node's events past its retention (see the statement). */
  trim(mac: string): void {
    this.sinceTrim.delete(mac);
    this.q.trim.run({ mac, keep: this.retention.eventsPerNode });
  }

  /** Deletes discovered machines not seen since `before` (ms), with their events; how many went. */
  expireDiscovered(before: number): number {
    return this.transaction(() => {
      const gone = Number(this.q.expire.run(before).changes);
      if (gone > 0) this.q.orphanEvents.run();
      return gone;
    });
  }

  /** The newest `limit` events of a node, oldest first. */
  events(mac: string, limit = 100): StoredEvent[] {
    const rows = this.q.events.all(mac, limit) as unknown as { time: number; data: string }[];
    return rows.reverse().map((r) => ({ time: r.time, data: JSON.parse(r.data) as NodeEventData }));
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
