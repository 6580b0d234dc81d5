import { readFileSync } from 'node:fs';
import { parseCommandLine } from '../../common/args.ts';
import { UsageError } from '../../common/errors.ts';
import { ApiClient } from './client.ts';
import type { InstallStatus, NodeChangeResult, NodeDetail, NodeSelection, NodeSummary } from '../api-types.ts';
import { DEFAULT_CONFIG_FILE, loadConfig, type BootConfig } from '../config.ts';
import { expandNodeRange } from '../noderange.ts';
import { renderStatus } from './status-view.ts';

// `rackcast nodes`, `rackcast node show|reinstall|localboot` and `rackcast status`: the
// admin side, talking to the running server's API. Its address and the admin token come
// from the server's config file (or --server / --token, RACKCAST_SERVER / RACKCAST_ADMIN_TOKEN).

const NODES_HELP = `usage: rackcast nodes [--json] [server options]
Lists every node the server knows, with its phase.
server options: --config FILE, --server URL, --token TOKEN`;

const NODE_HELP = `usage: rackcast node show|reinstall|localboot <nodes> [--json] [server options]
  <nodes>     a MAC, a host name, or an xCAT-style range: n[001-288], r1n[01-10],r2n01
  show        phase, addresses, inventory and recent events
  reinstall   install again at the next network boot (new agent token)
  localboot   boot the local disk from now on, never install
server options: --config FILE, --server URL, --token TOKEN`;

const STATUS_HELP = `usage: rackcast status [<nodes>] [--watch] [--interval SEC] [--timeout SEC] [--json] [server options]
  <nodes>         only these (a MAC, a host name or a range like n[001-288]); default: all
  --watch         refresh until no node is waiting to install or installing; exit 0 if
                  none of them failed, 1 if one did (each failure is shown with its reason),
                  2 if --timeout passed first
  --interval SEC  refresh period with --watch (default 2)
  --timeout SEC   give up watching after this long (default 7200)
  --json          the status as JSON (one object per refresh with --watch)
Shows the image sessions and each node's phase, step, progress, rate and time left.
server options: --config FILE, --server URL, --token TOKEN`;

const SERVER_OPTIONS = {
  config: { type: 'string' },
  server: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function help(text: string): number {
  process.stdout.write(text + '\n');
  return 0;
}

/** The API client for the CLI: URL and token from the flags, the environment or the config. */
function client(v: { config?: string | undefined; server?: string | undefined; token?: string | undefined }): ApiClient {
  let cfg: BootConfig | undefined;
  const fromConfig = () => (cfg ??= loadConfig(v.config ?? DEFAULT_CONFIG_FILE, { interfaceAddress: () => '127.0.0.1' }));
  const base =
    v.server ??
    (process.env.RACKCAST_SERVER || undefined) ??
    (() => {
      const s = fromConfig().server;
      return `http://${s.httpBind === '0.0.0.0' ? '127.0.0.1' : s.httpBind}:${s.httpPort}`;
    })();
  let token = v.token ?? (process.env.RACKCAST_ADMIN_TOKEN || undefined);
  if (token === undefined && (v.config !== undefined || v.server === undefined)) {
    // The admin token if this user may read it, else the read token; without either the
    // server's 401 says where they are.
    const s = fromConfig().server;
    token = [s.adminTokenFile, s.readTokenFile].map(readToken).find((t) => t !== undefined);
  }
  return new ApiClient(base, token);
}

function readToken(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export async function nodesCommand(argv: string[]): Promise<number> {
  const { values: v } = parseCommandLine(argv, SERVER_OPTIONS);
  if (v.help) return help(NODES_HELP);
  const nodes = await client(v).get<NodeSummary[]>('/nodes');
  if (v.json) process.stdout.write(JSON.stringify(nodes, null, 2) + '\n');
  else process.stdout.write(table(nodes));
  return 0;
}

export async function nodeCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandLine(argv, SERVER_OPTIONS, true);
  if (v.help) return help(NODE_HELP);
  const [verb, selector, ...extra] = positionals;
  if (!verb || !['show', 'reinstall', 'localboot'].includes(verb)) throw UsageError.badValue('the verb', verb ?? '', 'show, reinstall or localboot');
  if (!selector || extra.length) throw new UsageError('name the nodes: a MAC, a host name or a range like n[001-288]');
  let names: string[];
  try {
    names = expandNodeRange(selector);
  } catch (err) {
    throw UsageError.badValue('<nodes>', selector, `a node range (${(err as Error).message})`);
  }
  const api = client(v);
  if (verb === 'show') {
    const details: NodeDetail[] = [];
    for (const n of names) details.push(await api.get<NodeDetail>(`/nodes/${encodeURIComponent(n)}`));
    process.stdout.write(v.json ? JSON.stringify(details, null, 2) + '\n' : details.map(describe).join('\n'));
    return 0;
  }
  const r = await api.post<NodeChangeResult>(`/nodes/${verb}`, { nodes: selector } satisfies NodeSelection);
  if (v.json) process.stdout.write(JSON.stringify(r) + '\n');
  else process.stdout.write(`${verb}: ${r.changed.length} node(s) changed${r.unchanged.length ? `, ${r.unchanged.length} already so` : ''}\n`);
  return 0;
}

/** Without a terminal, `status --watch` repeats an unchanged view this often. */
const LOG_REFRESH_MS = 30_000;

export async function statusCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandLine(
    argv,
    { ...SERVER_OPTIONS, watch: { type: 'boolean' }, interval: { type: 'string' }, timeout: { type: 'string' } },
    true,
  );
  if (v.help) return help(STATUS_HELP);
  if (positionals.length > 1) throw new UsageError('name the nodes as one argument: a MAC, a host name or a range like n[001-288]');
  const seconds = (key: string, text: string | undefined, dflt: number) => {
    const n = text === undefined ? dflt : Number(text);
    if (!Number.isFinite(n) || n <= 0) throw UsageError.badValue(`--${key}`, text ?? '', 'a number of seconds above 0');
    return n;
  };
  const intervalMs = seconds('interval', v.interval, 2) * 1000;
  const deadline = Date.now() + seconds('timeout', v.timeout, 7200) * 1000;
  let wanted: Set<string> | null = null;
  if (positionals[0]) {
    try {
      wanted = new Set(expandNodeRange(positionals[0]).map((n) => n.toLowerCase()));
    } catch (err) {
      throw UsageError.badValue('<nodes>', positionals[0], `a node range (${(err as Error).message})`);
    }
  }
  const api = client(v);
  const tty = process.stdout.isTTY && !v.json;
  let shown = { what: '', at: 0 };
  for (;;) {
    const s = await api.get<InstallStatus>('/installs');
    if (wanted) s.nodes = s.nodes.filter((n) => wanted.has(n.mac) || (n.hostname !== null && wanted.has(n.hostname.toLowerCase())));
    const text = v.json ? JSON.stringify(s) + '\n' : renderStatus(s);
    // On a terminal the view is redrawn in place. In a log a refresh follows the last
    // only when a node changed step or phase, or every 30 s.
    const what = s.nodes.map((n) => `${n.phase}/${n.step}/${n.stepStatus}`).join();
    if (!v.watch || tty) process.stdout.write(tty && v.watch ? `\x1b[H\x1b[J${text}` : text);
    else if (v.json || what !== shown.what || Date.now() - shown.at >= LOG_REFRESH_MS) {
      process.stdout.write(v.json ? text : `--- ${s.time}\n${text}`);
      shown = { what, at: Date.now() };
    }
    if (!v.watch) return 0;
    const busy = s.nodes.some((n) => n.phase === 'install' || n.phase === 'installing');
    if (!busy) return s.nodes.some((n) => n.phase === 'failed') ? 1 : 0;
    if (Date.now() + intervalMs > deadline) {
      process.stderr.write(`rackcast status: still installing after --timeout; stopped watching (the installs go on)\n`);
      return 2;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

const COLUMNS: [string, (n: NodeSummary) => string][] = [
  ['HOSTNAME', (n) => n.hostname ?? '-'],
  ['MAC', (n) => n.mac],
  ['IP', (n) => n.ip ?? '-'],
  ['PHASE', (n) => n.phase + (n.configured ? '' : ' (unconfigured)')],
  ['IMAGE', (n) => n.image ?? '-'],
  ['ARCH', (n) => (n.arch === null ? '-' : String(n.arch))],
  ['LAST SEEN', (n) => n.lastSeen?.replace('T', ' ').slice(0, 19) ?? '-'],
];

export function table(nodes: NodeSummary[]): string {
  const rows = [COLUMNS.map(([h]) => h), ...nodes.map((n) => COLUMNS.map(([, f]) => f(n)))];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + `\n${nodes.length} node(s)\n`;
}

function describe(n: NodeDetail): string {
  const inv = n.inventory ? `${n.inventory.cpus} cpus, ${(n.inventory.memoryBytes / 2 ** 30).toFixed(1)} GiB, disks ${n.inventory.disks.map((d) => d.name).join(' ')}` : '-';
  const events = n.events.slice(-15).map((e) => `    ${e.time.replace('T', ' ').slice(0, 19)}  ${e.kind.padEnd(9)} ${e.message}`);
  return [
    `${n.hostname ?? n.mac}`,
    `  mac ${n.mac}  ip ${n.ip ?? '-'}  phase ${n.phase}${n.configured ? '' : ' (unconfigured)'}  image ${n.image ?? '-'}  arch ${n.arch ?? '-'}`,
    `  inventory ${inv}`,
    '  events:',
    ...events,
    '',
  ].join('\n');
}
