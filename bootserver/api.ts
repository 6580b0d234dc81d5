import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/log.ts';
import type {
  ApiErrorBody,
  InstallPlan,
  Inventory,
  LogLine,
  NextAction,
  NodeChangeResult,
  NodeDetail,
  NodePhase,
  NodeSummary,
  ServerStatus,
  StepReport,
} from './api-types.ts';
import type { BootConfig, NodeConfig } from './config.ts';
import type { Counters } from './counters.ts';
import { ApiError, BootError, DecodeError } from './errors.ts';
import type { LeaseStore } from './leases.ts';
import { normalizeMac } from './mac.ts';
import { expandNodeRange } from './noderange.ts';
import { buildPlan, imageOf } from './plan.ts';
import { installStatus } from './install-status.ts';
import type { SessionManager } from './sessions.ts';
import type { NodeRecord, NodeStore } from './state.ts';

// The JSON API under /api/v1: reads for anyone who can reach the server, node changes
// with the admin token, and the agent calls of docs/agent-api.md with the node's token.
// Bodies are parsed and validated here, at the edge; a bad one is a 400 that is counted.

export const API_PREFIX = '/api/v1';
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_LOG_LINES = 1000;
const VERSION = '0.1.0';

export interface ApiDeps {
  cfg: BootConfig;
  nodes: NodeStore;
  leases: LeaseStore | null;
  sessions: SessionManager;
  counters: Counters;
  log: Logger;
  adminToken: string;
  startedAt: number;
  /** Extra counters to include in the status (e.g. TFTP transfer drops). */
  extraCounters?: () => Record<string, number>;
}

type Auth = 'none' | 'admin' | 'agent';

interface Ctx {
  req: IncomingMessage;
  match: RegExpExecArray;
  node: NodeRecord | null;
  body: () => Promise<unknown>;
}

interface Route {
  method: 'GET' | 'POST';
  path: RegExp;
  auth: Auth;
  run: (ctx: Ctx) => Promise<unknown> | unknown;
}

export class Api {
  private readonly d: ApiDeps;
  private readonly configured: Map<string, NodeConfig>;
  private readonly routes: Route[];

  constructor(deps: ApiDeps) {
    this.d = deps;
    this.configured = new Map(deps.cfg.nodes.map((n) => [n.mac, n]));
    this.routes = [
      { method: 'GET', path: /^\/status$/, auth: 'none', run: () => this.status() },
      { method: 'GET', path: /^\/nodes$/, auth: 'none', run: () => this.d.nodes.list().map((n) => this.summary(n)) },
      { method: 'GET', path: /^\/nodes\/([^/]+)$/, auth: 'none', run: (c) => this.detail(this.findOne(decodeURIComponent(c.match[1]!))) },
      { method: 'POST', path: /^\/nodes\/(reinstall|localboot)$/, auth: 'admin', run: async (c) => this.change(c.match[1] as 'reinstall' | 'localboot', await c.body()) },
      { method: 'GET', path: /^\/leases$/, auth: 'none', run: () => this.d.leases?.list() ?? [] },
      { method: 'GET', path: /^\/installs$/, auth: 'none', run: () => installStatus(this.d.nodes, this.configured, this.d.sessions) },
      { method: 'GET', path: /^\/agent\/plan$/, auth: 'agent', run: async (c) => this.plan(c.node!, c.req.socket.remoteAddress ?? '') },
      { method: 'POST', path: /^\/agent\/inventory$/, auth: 'agent', run: async (c) => this.inventory(c.node!, await c.body()) },
      { method: 'POST', path: /^\/agent\/step$/, auth: 'agent', run: async (c) => this.step(c.node!, await c.body()) },
      { method: 'POST', path: /^\/agent\/log$/, auth: 'agent', run: async (c) => this.logLines(c.node!, await c.body()) },
      { method: 'GET', path: /^\/agent\/next$/, auth: 'agent', run: (c) => ({ action: nextAction(c.node!.phase) }) },
    ];
  }

  /** Answers a request whose path starts with /api/v1. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const sub = path.slice(API_PREFIX.length) || '/';
    try {
      const route = this.routes.find((r) => r.path.test(sub) && r.method === req.method);
      if (!route) {
        const known = this.routes.some((r) => r.path.test(sub));
        throw new ApiError(known ? 405 : 404, known ? 'BOOT_API_METHOD' : 'BOOT_API_NOT_FOUND', `${req.method} ${path} is not an API call`);
      }
      const node = this.authorize(req, route.auth);
      const result = await route.run({ req, match: route.path.exec(sub)!, node, body: () => readJson(req) });
      this.d.counters.inc('api.ok');
      send(res, 200, result);
    } catch (err) {
      this.fail(res, err, req);
    }
  }

  private fail(res: ServerResponse, err: unknown, req: IncomingMessage): void {
    if (err instanceof DecodeError) {
      this.d.counters.inc(`http.dropped.${err.code}`);
      return send(res, 400, errorBody(err));
    }
    if (err instanceof ApiError) {
      this.d.counters.inc(`api.${err.status}`);
      if (err.status === 409) this.d.log.warn(err.message, err.details);
      return send(res, err.status, errorBody(err));
    }
    this.d.counters.inc('api.500');
    this.d.log.error('API call failed', { method: req.method, url: req.url, error: (err as Error).stack ?? String(err) });
    send(res, 500, { error: { code: 'BOOT_API_INTERNAL', message: 'internal error; see the server log' } } satisfies ApiErrorBody);
  }

  private authorize(req: IncomingMessage, auth: Auth): NodeRecord | null {
    if (auth === 'none') return null;
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const token = m?.[1];
    if (auth === 'admin') {
      if (!token || !sameSecret(token, this.d.adminToken)) {
        throw new ApiError(401, 'BOOT_API_UNAUTHORIZED', 'this call needs the admin token', { remedy: `pass it as "Authorization: Bearer <token>"; it is in ${this.d.cfg.server.adminTokenFile}` });
      }
      return null;
    }
    const node = token ? this.d.nodes.byToken(token) : null;
    if (!node) throw new ApiError(401, 'BOOT_API_UNAUTHORIZED', 'unknown or stale node token', { remedy: 'the node was reinstalled or reset; reboot it to get a fresh token' });
    return node;
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
    return { ...this.summary(n), inventory: n.inventory, events: this.d.nodes.events(n.mac) };
  }

  /** A MAC (any spelling) or a host name. */
  private findOne(name: string): NodeRecord {
    const mac = normalizeMac(name);
    const n = (mac ? this.d.nodes.get(mac) : null) ?? this.d.nodes.byHostname(name);
    if (!n) throw new ApiError(404, 'BOOT_API_NO_NODE', `no node ${name}`, { details: { node: name }, remedy: 'list the nodes with `rackcast nodes`' });
    return n;
  }

  private change(verb: 'reinstall' | 'localboot', body: unknown): NodeChangeResult {
    const selector = field(body, 'nodes', 'string') as string;
    let names: string[];
    try {
      names = expandNodeRange(selector);
    } catch (err) {
      throw new ApiError(400, 'BOOT_API_RANGE', (err as Error).message, { details: { nodes: selector } });
    }
    const missing = names.filter((n) => !(normalizeMac(n) && this.d.nodes.get(normalizeMac(n)!)) && !this.d.nodes.byHostname(n));
    if (missing.length) throw new ApiError(404, 'BOOT_API_NO_NODE', `no such node: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}`, { details: { missing } });
    const phase: NodePhase = verb === 'reinstall' ? 'install' : 'localboot';
    const result: NodeChangeResult = { changed: [], unchanged: [] };
    this.d.nodes.transaction(() => {
      for (const name of names) {
        const n = this.findOne(name);
        if (n.phase === phase && verb === 'localboot') {
          result.unchanged.push(n.hostname ?? n.mac);
          continue;
        }
        this.d.nodes.setPhase(n.mac, phase, `admin: ${verb}`);
        this.d.nodes.event(n.mac, 'admin', verb);
        result.changed.push(n.hostname ?? n.mac);
      }
    });
    this.d.log.info(`${verb}: ${result.changed.length} node(s)`, { nodes: selector });
    return result;
  }

  /** The node's plan, pointing at the image session it joins from `address`. */
  private async plan(node: NodeRecord, address: string): Promise<InstallPlan> {
    const conf = this.configured.get(node.mac);
    if (!conf) throw new ApiError(409, 'BOOT_API_NOT_INSTALLABLE', `node ${node.mac} is not in the config (phase ${node.phase})`, { remedy: 'add it under nodes: in rackcast.yaml and restart the server' });
    if (node.phase !== 'install' && node.phase !== 'installing') {
      throw new ApiError(409, 'BOOT_API_PHASE', `node ${conf.hostname} is ${node.phase}, not install`, { details: { mac: node.mac, phase: node.phase }, remedy: 'run `rackcast node reinstall` first' });
    }
    imageOf(conf, this.d.cfg);
    const joined = this.d.sessions.assign(conf, address.replace(/^::ffff:/, ''));
    if (joined.note) this.d.log.info(`${conf.hostname}: ${joined.note}`);
    this.d.nodes.setPhase(node.mac, 'installing', 'agent fetched the plan');
    const plan = buildPlan(conf, this.d.cfg, joined.session.portbase);
    const cap = await joined.tarBytes;
    return cap === null ? plan : { ...plan, stagingCapBytes: cap };
  }

  private inventory(node: NodeRecord, body: unknown): Record<string, never> {
    const inv = parseInventory(body);
    this.d.nodes.setInventory(node.mac, inv);
    this.d.nodes.event(node.mac, 'inventory', `${inv.cpus} cpus, ${inv.memoryBytes} bytes, ${inv.disks.length} disks, ${inv.nics.length} nics`);
    return {};
  }

  private step(node: NodeRecord, body: unknown): Record<string, never> {
    const r = parseStepReport(body);
    const data = { ...r } as Record<string, unknown>;
    this.d.nodes.event(node.mac, 'step', `${r.step} ${r.status}${r.error ? `: ${r.error.code} ${r.error.message}` : ''}`, data);
    if (node.phase !== 'installing') {
      // A report from an install that was superseded (reinstall) or finished: kept, not acted on.
      if (r.status !== 'running') this.d.log.warn('step report outside an install', { mac: node.mac, phase: node.phase, step: r.step });
      return {};
    }
    if (r.status === 'failed') this.d.nodes.setPhase(node.mac, 'failed', `step ${r.step} failed`, data);
    else if (r.status === 'succeeded' && r.step === 'bootloader') this.d.nodes.setPhase(node.mac, 'installed', 'bootloader installed');
    return {};
  }

  private logLines(node: NodeRecord, body: unknown): Record<string, never> {
    const lines = field(body, 'lines', 'array') as unknown[];
    if (lines.length > MAX_LOG_LINES) throw new DecodeError('HTTP', 'BODY', `at most ${MAX_LOG_LINES} log lines per call`);
    const parsed = lines.map(parseLogLine);
    this.d.nodes.transaction(() => {
      for (const l of parsed) this.d.nodes.event(node.mac, 'log', l.msg, { level: l.level, agentTime: l.time });
    });
    return {};
  }
}

/** What an agent does next, by phase: after a failure it waits for the admin, after the end it reboots into the disk. */
export function nextAction(phase: NodePhase): NextAction {
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

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length });
  res.end(data);
}

function errorBody(err: BootError): ApiErrorBody {
  return { error: { code: err.code, message: err.message, ...(err.remedy ? { remedy: err.remedy } : {}), ...(Object.keys(err.details).length ? { details: err.details } : {}) } };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  // An oversized body is read to its end and discarded, so the client gets the 400
  // instead of a reset (requestTimeout bounds a client that never stops).
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  if (size > MAX_BODY_BYTES) throw new DecodeError('HTTP', 'BODY', `request body over ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new DecodeError('HTTP', 'BODY', 'request body is not JSON');
  }
}

function field(body: unknown, key: string, type: 'string' | 'number' | 'array' | 'object', optional = false): unknown {
  const v = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
  if (v === undefined && optional) return undefined;
  const ok = type === 'array' ? Array.isArray(v) : type === 'object' ? v !== null && typeof v === 'object' && !Array.isArray(v) : typeof v === type && (type !== 'number' || Number.isFinite(v));
  if (!ok) throw new DecodeError('HTTP', 'BODY', `"${key}" must be ${type === 'array' || type === 'object' ? `an ${type}` : `a ${type}`}`, { key });
  return v;
}

function oneOf<T extends string>(body: unknown, key: string, values: readonly T[]): T {
  const v = field(body, key, 'string') as string;
  if (!(values as readonly string[]).includes(v)) throw new DecodeError('HTTP', 'BODY', `"${key}" must be one of ${values.join(', ')}`, { key, value: v });
  return v as T;
}

function parseStepReport(body: unknown): StepReport {
  const step = field(body, 'step', 'string') as string;
  if (!/^[\w.-]{1,64}$/.test(step)) throw new DecodeError('HTTP', 'BODY', '"step" must be a step name', { step });
  const r: StepReport = { step, status: oneOf(body, 'status', ['running', 'succeeded', 'failed'] as const) };
  for (const k of ['durationMs', 'bytes', 'rateBytesPerSec'] as const) {
    const v = field(body, k, 'number', true) as number | undefined;
    if (v !== undefined) r[k] = v;
  }
  // The agent's step facts (staging, sha256, bootloader targets): kept as sent, the body size is bounded.
  const detail = field(body, 'detail', 'object', true) as Record<string, unknown> | undefined;
  if (detail !== undefined) r.detail = detail;
  const e = field(body, 'error', 'object', true);
  if (e !== undefined) {
    r.error = { code: field(e, 'code', 'string') as string, message: field(e, 'message', 'string') as string };
    const command = field(e, 'command', 'array', true) as unknown[] | undefined;
    if (command) r.error.command = command.map(String);
    const exitCode = field(e, 'exitCode', 'number', true) as number | undefined;
    if (exitCode !== undefined) r.error.exitCode = exitCode;
    const tail = field(e, 'outputTail', 'string', true) as string | undefined;
    if (tail !== undefined) r.error.outputTail = tail.slice(-4096);
  }
  return r;
}

function parseLogLine(l: unknown): LogLine {
  return { time: field(l, 'time', 'string') as string, level: oneOf(l, 'level', ['debug', 'info', 'warn', 'error'] as const), msg: (field(l, 'msg', 'string') as string).slice(0, 4096) };
}

function parseInventory(body: unknown): Inventory {
  const disks = (field(body, 'disks', 'array') as unknown[]).map((d) => ({
    name: field(d, 'name', 'string') as string,
    sizeBytes: field(d, 'sizeBytes', 'number') as number,
    ...optionalFields(d, { model: 'string', rotational: 'boolean' }),
  }));
  const nics = (field(body, 'nics', 'array') as unknown[]).map((n) => ({
    name: field(n, 'name', 'string') as string,
    mac: field(n, 'mac', 'string') as string,
    ...optionalFields(n, { speedMbps: 'number' }),
  }));
  return { cpus: field(body, 'cpus', 'number') as number, memoryBytes: field(body, 'memoryBytes', 'number') as number, disks, nics };
}

function optionalFields(o: unknown, spec: Record<string, 'string' | 'number' | 'boolean'>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, t] of Object.entries(spec)) {
    const v = (o as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (typeof v !== t) throw new DecodeError('HTTP', 'BODY', `"${k}" must be a ${t}`, { key: k });
    out[k] = v;
  }
  return out;
}
