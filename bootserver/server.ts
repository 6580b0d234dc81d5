import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import type { Logger } from '../common/log.ts';
import { Api } from './http/api.ts';
import type { BootConfig } from './config.ts';
import { Counters } from './counters.ts';
import { ServedFiles } from './files.ts';
import { DhcpListener, type BoundSocket } from './dhcp/listener.ts';
import { ProxyDhcp } from './dhcp/proxy.ts';
import { FullDhcp, type NodeEvents } from './dhcp/full.ts';
import { HttpServer } from './http/server.ts';
import { LeaseStore } from './dhcp/leases.ts';
import { StatePolicy } from './policy.ts';
import { Lifecycle } from './install/lifecycle.ts';
import { SessionManager } from './install/sessions.ts';
import { openStateDb } from './state/db.ts';
import { NodeStore, newToken } from './state/node-store.ts';
import { SessionStore } from './state/session-store.ts';
import { TftpServer } from './tftp/server.ts';

// The boot server: state, policy and the three protocols wired together. Built from a
// validated config and, for DHCP, sockets that are already bound to the boot interface
// (see dhcp/socket.ts); everything it starts, stop() ends.

/** How often discovered machines past their retention are forgotten. */
const HOUSEKEEPING_MS = 3600_000;

export interface BootServerOptions {
  cfg: BootConfig;
  log: Logger;
  /** Port 67 (and 4011 in proxy mode) sockets, bound to the boot interface; required unless dhcp.mode is off. */
  dhcpSockets?: BoundSocket[];
  /** Override ports (tests): 0 = any free port. */
  httpPort?: number;
  tftpPort?: number;
}

export class BootServer {
  readonly counters = new Counters();
  readonly nodes: NodeStore;
  readonly lifecycle: Lifecycle;
  readonly leases: LeaseStore | null;
  readonly adminToken: string;
  readonly readToken: string;
  readonly sessions: SessionManager;
  httpPort = 0;
  private readonly db: DatabaseSync;
  private readonly http: HttpServer;
  private readonly tftp: TftpServer | null;
  private readonly dhcp: DhcpListener | null;
  private readonly log: Logger;
  private readonly housekeeping: NodeJS.Timeout;

  private constructor(opts: BootServerOptions) {
    const { cfg, log } = opts;
    this.log = log;
    this.db = openStateDb(cfg.paths.stateDir);
    this.nodes = new NodeStore(this.db, Date.now, cfg.retention);
    this.lifecycle = new Lifecycle(this.nodes);
    this.lifecycle.configure(cfg.nodes);
    this.adminToken = tokenFile(cfg.server.adminTokenFile);
    this.readToken = tokenFile(cfg.server.readTokenFile);
    const policy = new StatePolicy(this.lifecycle, cfg);
    this.leases =
      cfg.dhcp.mode === 'full'
        ? new LeaseStore(this.db, {
            reservations: [...cfg.dhcp.reservations, ...cfg.nodes.flatMap((n) => (n.ip ? [{ mac: n.mac, ip: n.ip }] : []))],
            leaseTimeSec: cfg.dhcp.leaseTimeSec,
            serverAddress: cfg.server.address,
          })
        : null;
    const events: NodeEvents = (mac, event) => {
      if (!this.nodes.get(mac)) return;
      // The installed OS renewing its lease is not a boot step: it updates last-seen only.
      if (event.client !== 'plain') this.nodes.event(mac, event);
      this.nodes.seen(mac, { arch: event.arch ?? null, ip: event.ip ?? null });
    };
    const fs = cfg.firstStage;
    mkdirSync(cfg.tftp.root, { recursive: true });
    const files = new ServedFiles(cfg.tftp.root, [fs.bios, fs.uefiX64, ...(fs.uefiArm64 ? [fs.uefiArm64] : [])]);
    const dlog = log.child('dhcp');
    if (cfg.dhcp.mode === 'off') {
      this.dhcp = null;
    } else {
      if (!opts.dhcpSockets?.length) throw new Error('dhcp.mode is not off but no DHCP sockets were given');
      const responder =
        cfg.dhcp.mode === 'full'
          ? new FullDhcp({ cfg, leases: this.leases!, policy, counters: this.counters, log: dlog, events })
          : new ProxyDhcp({ cfg, policy, counters: this.counters, log: dlog, events });
      this.dhcp = new DhcpListener(opts.dhcpSockets, responder, this.counters, dlog);
    }
    this.tftp = cfg.tftp.enabled
      ? new TftpServer({
          cfg,
          files,
          counters: this.counters,
          log: log.child('tftp'),
          ...(opts.tftpPort !== undefined ? { port: opts.tftpPort } : {}),
          onTransfer: (address, file, ok) => {
            const mac = this.leases?.list().find((l) => l.ip === address)?.mac;
            if (mac && this.nodes.get(mac)) this.nodes.event(mac, { kind: 'tftp', file, ok });
          },
        })
      : null;
    const stored = new SessionStore(this.db);
    const orphans = stored.takeOrphans();
    const recovered = this.lifecycle.recover();
    if (orphans.length || recovered) log.warn(`the last run stopped with ${orphans.length} session(s) open; ${recovered} node(s) whose image had not arrived join the next session`, { sessions: orphans.map((s) => s.id) });
    this.sessions = new SessionManager({ cfg, lifecycle: this.lifecycle, sessions: stored, log: log.child('session') });
    const api = new Api({
      cfg,
      lifecycle: this.lifecycle,
      leases: this.leases,
      sessions: this.sessions,
      counters: this.counters,
      log: log.child('api'),
      tokens: { admin: this.adminToken, read: this.readToken },
      startedAt: Date.now(),
      extraCounters: () => this.tftp?.transferCounters() ?? {},
    });
    this.http = new HttpServer({
      cfg,
      files,
      policy,
      api,
      counters: this.counters,
      log: log.child('http'),
      issueToken: (mac, address) => this.lifecycle.issueToken(this.nodes.get(mac)!, address),
      onScript: (mac, decision, address) => {
        if (!this.nodes.get(mac)) return;
        this.nodes.event(mac, { kind: 'http', decision, address });
        this.nodes.seen(mac, {});
      },
    });
    const expire = () => {
      const gone = this.lifecycle.expireDiscovered(cfg.retention.discoveredTtlSec * 1000);
      if (gone) log.info(`forgot ${gone} discovered machine(s) not seen for ${cfg.retention.discoveredTtlSec} s (retention.discoveredTtl)`);
    };
    expire();
    this.housekeeping = setInterval(expire, HOUSEKEEPING_MS).unref();
    for (const [what, path] of [['installer.kernel', cfg.installer.kernel], ['installer.initrd', cfg.installer.initrd]] as const) {
      if (!existsSync(path)) log.warn(`${what} ${path} does not exist yet: installs cannot start`);
    }
    for (const [name, image] of Object.entries(cfg.images)) {
      if (!existsSync(image.dir)) log.warn(`image ${name}: directory ${image.dir} does not exist yet: its nodes cannot install`);
    }
  }

  static async start(opts: BootServerOptions): Promise<BootServer> {
    const s = new BootServer(opts);
    try {
      s.httpPort = await s.http.listen(opts.httpPort);
      await s.tftp?.listen();
    } catch (err) {
      await s.stop();
      throw err;
    }
    const { cfg } = opts;
    s.log.info('serving', { interface: cfg.server.interface, address: cfg.server.address, dhcp: cfg.dhcp.mode, tftp: cfg.tftp.enabled, http: `${cfg.server.httpBind}:${s.httpPort}`, nodes: cfg.nodes.length });
    return s;
  }

  async stop(): Promise<void> {
    clearInterval(this.housekeeping);
    await this.sessions.stop();
    this.dhcp?.close();
    this.tftp?.close();
    await this.http.close().catch(() => {});
    this.db.close();
  }
}

/** The admin or read token: read from its file, or made once (mode 0600) on first start. */
function tokenFile(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dirname(file), { recursive: true });
  const token = newToken();
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return token;
}
