import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/log.ts';
import { API_PATHS, type InstallPlan, type NextAction } from '../../contract/index.ts';
import type { ApiErrorBody, InstallStatus, NodeChangeResult, NodeDetail, NodePhase, NodeSummary, ServerStatus } from '../api-types.ts';
import type { BootConfig, NodeConfig } from '../config.ts';
import type { Counters } from '../counters.ts';
import type { LeaseStore } from '../dhcp/leases.ts';
import {
  ApiError,
  BootError,
  DecodeError,
  DigestMismatchError,
  ImageMissingError,
  NoImageError,
  NoSuchNodeError,
  NotInstallableError,
  PhaseError,
  SessionsFullError,
} from '../errors.ts';
import type { Lifecycle } from '../install/lifecycle.ts';
import { buildPlan, imageOf } from '../install/plan.ts';
import type { SessionManager } from '../install/sessions.ts';
import { installStatus } from '../install/status.ts';
import { normalizeMac } from '../mac.ts';
import { expandNodeRange } from '../noderange.ts';
import { describeEvent } from '../state/events.ts';
import type { NodeRecord, NodeStore } from '../state/node-store.ts';
import { requireNode, requireToken, type Auth, type ServerTokens } from './auth.ts';
import { parseInstallComplete, parseInventory, parseLogLines, parseNodeSelection, parseStepReport, readJson } from './bodies.ts';
import { RateLimit } from './rate-limit.ts';

// The JSON API under /api/v1: reads with the read (or admin) token, node changes with the
// admin token, and the agent calls of the contract (contract/agent-api.ts) with the node's
// token. Bodies are checked in bodies.ts; the handlers ask the lifecycle and
// the sessions, whose errors become status codes here and nowhere else.

export const API_PREFIX = '/api/v1';
const VERSION = '0.1.0';
/** An agent logs a few lines a second; the burst covers what it buffered while the server was away. */
const LOG_BUDGET = { perSec: 100, burst: 5000 };
/** Two reports per step, progress every 5 s, a heartbeat every 30 s; the burst covers an outage's backlog. */
const STEP_BUDGET = { perSec: 2, burst: 100 };

export interface ApiDeps {
  cfg: BootConfig;
  lifecycle: Lifecycle;
  leases: LeaseStore | null;
  sessions: SessionManager;
  counters: Counters;
  log: Logger;
  tokens: ServerTokens;
  startedAt: number;
  /** Extra counters to include in the status (e.g. TFTP transfer drops). */
  extraCounters?: () => Record<string, number>;
}

interface Ctx {
  req: IncomingMessage;
  /** Path parameters (":node"), decoded once. */
  params: Record<string, string>;
  node: NodeRecord | null;
  body: () => Promise<unknown>;
}

interface Route {
  method: 'GET' | 'POST';
  /** Segments; one that starts with ':' matches any segment and names it. */
  path: string;
  auth: Auth;
  run: (ctx: Ctx) => Promise<unknown> | unknown;
}

/** Domain errors and the status each is answered with. */
const STATUS_OF: [new (...args: never[]) => BootError, number][] = [
  [DecodeError, 400],
  [NoSuchNodeError, 404],
  [PhaseError, 409],
  [NotInstallableError, 409],
  [NoImageError, 409],
  [ImageMissingError, 409],
  [SessionsFullError, 503],
  [DigestMismatchError, 409],
];

export class Api {
  private readonly d: ApiDeps;
  private readonly nodes: NodeStore;
  private readonly configured: Map<string, NodeConfig>;
  private readonly routes: Route[];
  private readonly logLimit = new RateLimit('log lines', LOG_BUDGET);
  private readonly stepLimit = new RateLimit('step reports', STEP_BUDGET);

  constructor(deps: ApiDeps) {
    this.d = deps;
    this.nodes = deps.lifecycle.store;
    this.configured = new Map(deps.cfg.nodes.map((n) => [n.mac, n]));
    this.routes = [
      { method: 'GET', path: '/status', auth: 'read', run: () => this.status() },
      { method: 'GET', path: '/nodes', auth: 'read', run: () => this.nodes.list().map((n) => this.summary(n)) },
      { method: 'GET', path: '/nodes/:node', auth: 'read', run: (c) => this.detail(this.findOne(c.params.node!)) },
      { method: 'POST', path: '/nodes/reinstall', auth: 'admin', run: async (c) => this.change('reinstall', await c.body()) },
      { method: 'POST', path: '/nodes/localboot', auth: 'admin', run: async (c) => this.change('localboot', await c.body()) },
      { method: 'GET', path: '/leases', auth: 'read', run: () => this.d.leases?.list() ?? [] },
      { method: 'GET', path: '/installs', auth: 'read', run: (): InstallStatus => installStatus(this.nodes.list(), this.configured, this.d.sessions.list()) },
      { method: 'GET', path: agentPath(API_PATHS.plan), auth: 'agent', run: (c) => this.plan(c.node!, c.req.socket.remoteAddress ?? '') },
      { method: 'POST', path: agentPath(API_PATHS.inventory), auth: 'agent', run: async (c) => this.inventory(c.node!, await c.body()) },
      { method: 'POST', path: agentPath(API_PATHS.step), auth: 'agent', run: async (c) => this.step(c.node!, await c.body()) },
      { method: 'POST', path: agentPath(API_PATHS.log), auth: 'agent', run: async (c) => this.logLines(c.node!, await c.body()) },
      { method: 'POST', path: agentPath(API_PATHS.complete), auth: 'agent', run: async (c) => this.complete(c.node!, await c.body()) },
      { method: 'GET', path: agentPath(API_PATHS.next), auth: 'agent', run: (c) => ({ action: nextAction(c.node!.phase) }) },
    ];
  }

  /** Answers a request whose path (as sent, not decoded) starts with /api/v1. */
  async handle(req: IncomingMessage, res: ServerResponse, rawPath: string): Promise<void> {
    const sub = rawPath.slice(API_PREFIX.length) || '/';
    try {
      const matches = this.routes.map((r) => ({ r, params: match(r.path, sub) })).filter((m) => m.params !== null);
      const hit = matches.find((m) => m.r.method === req.method);
      if (!hit) {
        const known = matches.length > 0;
        throw new ApiError(known ? 405 : 404, known ? 'BOOT_API_METHOD' : 'BOOT_API_NOT_FOUND', `${req.method} ${rawPath} is not an API call`);
      }
      const route = hit.r;
      let node: NodeRecord | null = null;
      if (route.auth !== 'agent') requireToken(req, route.auth, this.d.tokens, { admin: this.d.cfg.server.adminTokenFile, read: this.d.cfg.server.readTokenFile });
      else node = requireNode(req, this.d.lifecycle, route.path === agentPath(API_PATHS.next));
      const result = await route.run({ req, params: hit.params!, node, body: () => readJson(req) });
      this.d.counters.inc('api.ok');
      send(res, 200, result);
    } catch (err) {
      this.fail(res, err, req);
    }
  }

  private fail(res: ServerResponse, err: unknown, req: IncomingMessage): void {
    const status = err instanceof ApiError ? err.status : STATUS_OF.find(([cls]) => err instanceof cls)?.[1];
    if (status === undefined || !(err instanceof BootError)) {
      this.d.counters.inc('api.500');
      this.d.log.error('API call failed', { method: req.method, url: req.url, error: (err as Error).stack ?? String(err) });
      return send(res, 500, { error: { code: 'BOOT_API_INTERNAL', message: 'internal error; see the server log' } } satisfies ApiErrorBody);
    }
    if (err instanceof DecodeError) this.d.counters.inc(`http.dropped.${err.code}`);
    else this.d.counters.inc(`api.${status}`);
    if (status === 409) this.d.log.warn(err.message, err.details);
    send(res, status, errorBody(err), status === 429 ? { 'retry-after': String(err.details.retryAfterSec) } : {});
  }

  private status(): ServerStatus {
    return {
      version: VERSION,
      startedAt: new Date(this.d.startedAt).toISOString(),
      dhcpMode: this.d.cfg.dhcp.mode,
      counters: { ...this.d.counters.snapshot(), ...(this.d.extraCounters?.() ?? {}) },
    };
  }

  private summary(n: NodeRecord): NodeSummary {
    const conf = this.configured.get(n.mac);
    return {
      mac: n.mac,
      hostname: n.hostname,
      phase: n.phase,
      configured: n.configured,
      ip: conf?.ip ?? this.d.leases?.leaseOf(n.mac)?.ip ?? n.ip,
      image: conf?.image ?? null,
      arch: n.arch,
      lastSeen: n.lastSeen ? new Date(n.lastSeen).toISOString() : null,
      updated: new Date(n.updated).toISOString(),
    };
  }

  private detail(n: NodeRecord): NodeDetail {
    const events = this.nodes.events(n.mac).map((e) => ({ time: new Date(e.time).toISOString(), kind: e.data.kind, message: describeEvent(e.data), data: e.data }));
    return { ...this.summary(n), inventory: n.inventory, events };
  }

  /** A MAC (any spelling) or a host name. */
  private lookup(name: string): NodeRecord | null {
    const mac = normalizeMac(name);
    return (mac ? this.nodes.get(mac) : null) ?? this.nodes.byHostname(name);
  }

  private findOne(name: string): NodeRecord {
    const n = this.lookup(name);
    if (!n) throw new NoSuchNodeError([name]);
    return n;
  }

  private change(verb: 'reinstall' | 'localboot', body: unknown): NodeChangeResult {
    const { nodes: selector } = parseNodeSelection(body);
    let names: string[];
    try {
      names = expandNodeRange(selector);
    } catch (err) {
      throw new ApiError(400, 'BOOT_API_RANGE', (err as Error).message, { details: { nodes: selector } });
    }
    const found = names.map((name) => ({ name, node: this.lookup(name) }));
    const missing = found.filter((f) => !f.node).map((f) => f.name);
    if (missing.length) throw new NoSuchNodeError(missing);
    const result: NodeChangeResult = { changed: [], unchanged: [] };
    const { lifecycle } = this.d;
    this.nodes.transaction(() => {
      for (const { node } of found) {
        const n = this.nodes.get(node!.mac)!;
        const changed = verb === 'reinstall' ? (lifecycle.reinstall(n), true) : lifecycle.localboot(n);
        (changed ? result.changed : result.unchanged).push(n.hostname ?? n.mac);
      }
    });
    this.d.log.info(`${verb}: ${result.changed.length} node(s)`, { nodes: selector });
    return result;
  }

  /** The node's plan, pointing at the image session it joins from `address`. */
  private async plan(node: NodeRecord, address: string): Promise<InstallPlan> {
    const conf = this.configured.get(node.mac);
    if (!conf) throw new NotInstallableError(node.mac, node.phase);
    const { lifecycle } = this.d;
    lifecycle.assertPlanAllowed(node);
    imageOf(conf, this.d.cfg);
    const joined = this.d.sessions.assign(conf, node, address.replace(/^::ffff:/, ''));
    if (joined.note) this.d.log.info(`${conf.hostname}: ${joined.note}`);
    lifecycle.planFetched(node, joined.session.id, joined.note);
    const plan = buildPlan(conf, this.d.cfg, joined.session.portbase);
    const cap = await joined.tarBytes;
    return cap === null ? plan : { ...plan, stagingCapBytes: cap };
  }

  private inventory(node: NodeRecord, body: unknown): Record<string, never> {
    const inv = parseInventory(body);
    this.nodes.setInventory(node.mac, inv);
    this.nodes.event(node.mac, { kind: 'inventory', cpus: inv.cpus, memoryBytes: inv.memoryBytes, disks: inv.disks.length, nics: inv.nics.length });
    return {};
  }

  private step(node: NodeRecord, body: unknown): Record<string, never> {
    const r = parseStepReport(body);
    this.stepLimit.take(node.mac);
    // A report from an install that was superseded (reinstall) or finished: kept, not acted on.
    if (!this.d.lifecycle.stepReported(node, r) && r.status !== 'running') this.d.log.warn('step report outside an install', { mac: node.mac, phase: node.phase, step: r.step });
    return {};
  }

  private complete(node: NodeRecord, body: unknown): Record<string, never> {
    this.d.lifecycle.installCompleted(node, parseInstallComplete(body));
    return {};
  }

  private logLines(node: NodeRecord, body: unknown): Record<string, never> {
    const lines = parseLogLines(body);
    this.logLimit.take(node.mac, lines.length);
    this.nodes.transaction(() => {
      for (const l of lines) this.nodes.event(node.mac, { kind: 'log', level: l.level, msg: l.msg, agentTime: l.time });
    });
    return {};
  }
}

/** What an agent does next, by phase: after a failure it waits for the admin, after the end it reboots into the disk. */
function nextAction(phase: NodePhase): NextAction {
  switch (phase) {
    case 'install':
      return 'retry';
    case 'installed':
    case 'localboot':
      return 'reboot';
    case 'discovered':
      return 'poweroff';
    case 'installing':
    case 'failed':
      return 'wait';
  }
}

/** An agent call's path below the API prefix. */
function agentPath(path: string): string {
  return path.slice(API_PREFIX.length);
}

/** The route's parameters if `path` (raw, percent-encoded) matches `pattern`, else null. */
function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (w.startsWith(':')) {
      if (g === '') return null;
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        throw new DecodeError('HTTP', 'URL', `bad percent-encoding in ${path}`);
      }
    } else if (w !== g) {
      return null;
    }
  }
  return params;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length, ...headers });
  res.end(data);
}

function errorBody(err: BootError): ApiErrorBody {
  return { error: { code: err.code, message: err.message, ...(err.remedy ? { remedy: err.remedy } : {}), ...(Object.keys(err.details).length ? { details: err.details } : {}) } };
}
