import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

// A private L2 network built from namespaces: one "switch" namespace holding a bridge,
// and one namespace per host, each joined to the bridge by a veth pair. Nothing touches
// the host's own interfaces. Every name starts with "rc" + the creating PID (base 36),
// so leftovers of a crashed run are recognisable and swept when that PID is gone.

const run = promisify(execFile);

export interface HostSpec {
  /** Short role name: "srv", "r1", ... (part of the namespace name). */
  role: string;
  /** Address on the lab subnet, e.g. 10.77.0.1/24. */
  cidr: string;
}

export interface Host {
  ns: string;
  role: string;
  address: string;
  /** The interface name inside the host's namespace. */
  ifname: string;
}

export interface LabOptions {
  hosts: HostSpec[];
  /** Let the bridge snoop IGMP (default off: multicast floods, as on a dumb switch). */
  igmpSnooping?: boolean;
  /** Extra sysctls set in every host namespace. */
  sysctls?: Record<string, string>;
}

let counter = 0;
const PREFIX_RE = /^rc([0-9a-z]+)x[0-9a-z]+-/;

export function labId(): string {
  return `rc${process.pid.toString(36)}x${(counter++).toString(36)}`;
}

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args);
  return stdout;
}

/** Names of lab namespaces (ours or stale) present now. */
export async function labNamespaces(): Promise<string[]> {
  const out = await ip('netns', 'list');
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => PREFIX_RE.test(n));
}

/** Deletes namespaces left by lab runs whose process no longer exists. */
export async function sweepStale(): Promise<string[]> {
  const swept: string[] = [];
  for (const ns of await labNamespaces()) {
    const pid = parseInt(PREFIX_RE.exec(ns)![1]!, 36);
    if (existsSync(`/proc/${pid}`)) continue;
    killNamespaceProcesses(ns);
    await run('ip', ['netns', 'del', ns]).catch(() => {});
    swept.push(ns);
  }
  return swept;
}

// When br_netfilter is loaded (Docker loads it), every new namespace starts with
// bridge-nf-call-* = 1: each frame the lab bridge forwards then takes a trip through the
// IP layer's netfilter hooks and a route lookup, about a quarter of a cast sender's CPU at
// N = 1 here. A switch does none of that, so the lab's switch namespace turns it off.
async function plainSwitch(ns: string): Promise<void> {
  const keys = ['iptables', 'ip6tables', 'arptables'].map((t) => `net.bridge.bridge-nf-call-${t}=0`);
  await run('ip', ['netns', 'exec', ns, 'sh', '-c', `[ ! -d /proc/sys/net/bridge ] || sysctl -q -w ${keys.join(' ')}`]);
}

function killNamespaceProcesses(ns: string): void {
  let pids: string[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export class Lab {
  readonly id: string;
  readonly switchNs: string;
  readonly bridge: string;
  readonly hosts = new Map<string, Host>();
  private readonly children = new Set<ChildProcess>();
  private readonly segments = new Map<string, string>();
  private nextPort = 0;
  private nextTap = 0;
  private destroyed = false;
  private readonly onExit = () => this.destroySync();

  private constructor(id: string) {
    this.id = id;
    this.switchNs = `${id}-sw`;
    this.bridge = `${id}br`.slice(0, 15);
  }

  static async create(opts: LabOptions): Promise<Lab> {
    await sweepStale();
    const lab = new Lab(labId());
    process.once('exit', lab.onExit);
    try {
      await lab.build(opts);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async build(opts: LabOptions): Promise<void> {
    const sw = this.switchNs;
    await ip('netns', 'add', sw);
    await ip('-n', sw, 'link', 'set', 'lo', 'up');
    await plainSwitch(sw);
    await ip('-n', sw, 'link', 'add', this.bridge, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', opts.igmpSnooping ? '1' : '0');
    await ip('-n', sw, 'link', 'set', this.bridge, 'up');
    for (const spec of opts.hosts) {
      const ns = `${this.id}-${spec.role}`;
      await ip('netns', 'add', ns);
      await this.plug(ns, 'eth0', this.bridge, spec.cidr);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      // Broadcast to 255.255.255.255 must leave through the lab NIC (Node cannot bind a device).
      await ip('-n', ns, 'route', 'add', '255.255.255.255/32', 'dev', 'eth0');
      for (const [k, v] of Object.entries(opts.sysctls ?? {})) {
        await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${k}=${v}`]);
      }
      this.hosts.set(spec.role, { ns, role: spec.role, address: spec.cidr.split('/')[0]!, ifname: 'eth0' });
    }
  }

  /** A veth from a host namespace (as `ifname`) to a bridge port in the switch namespace. */
  private async plug(ns: string, ifname: string, bridge: string, cidr: string): Promise<void> {
    const sw = this.switchNs;
    const port = `p${this.nextPort++}`;
    await ip('-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns);
    await ip('-n', sw, 'link', 'set', port, 'master', bridge);
    await ip('-n', sw, 'link', 'set', port, 'up');
    await ip('-n', ns, 'addr', 'add', cidr, 'brd', '+', 'dev', ifname);
    // Like a physical NIC without UDP segmentation offload: a GSO message (cast sends
    // runs of blocks as one) is cut into datagrams as it leaves the host, so the bridge,
    // loss rules and peers see them one by one, as on a wire. veth would carry it whole
    // to each peer's UDP layer: one bridge pass and one loss roll for 44 datagrams.
    await ip('-n', ns, 'link', 'set', ifname, 'gso_max_segs', '1');
    await ip('-n', ns, 'link', 'set', ifname, 'up');
  }

  /** Adds a second L2 segment (another bridge in the switch namespace). */
  async addSegment(name: string): Promise<string> {
    const bridge = `${this.id}${name}`.slice(0, 15);
    await ip('-n', this.switchNs, 'link', 'add', bridge, 'type', 'bridge', 'stp_state', '0');
    await ip('-n', this.switchNs, 'link', 'set', bridge, 'up');
    this.segments.set(name, bridge);
    return bridge;
  }

  /** Gives a host another NIC (`ifname`) on a segment made by addSegment. */
  async attach(role: string, segment: string, ifname: string, cidr: string): Promise<void> {
    const bridge = this.segments.get(segment);
    if (!bridge) throw new Error(`lab ${this.id} has no segment ${segment}`);
    await this.plug(this.host(role).ns, ifname, bridge, cidr);
  }

  /** A tap port on the lab bridge (or a segment) for a VM started with spawnOnSwitch. */
  async addTap(segment?: string): Promise<string> {
    const bridge = segment === undefined ? this.bridge : this.segments.get(segment);
    if (!bridge) throw new Error(`lab ${this.id} has no segment ${segment}`);
    const tap = `tap${this.nextTap++}`;
    await ip('-n', this.switchNs, 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
    await ip('-n', this.switchNs, 'link', 'set', tap, 'master', bridge);
    await ip('-n', this.switchNs, 'link', 'set', tap, 'up');
    return tap;
  }

  host(role: string): Host {
    const h = this.hosts.get(role);
    if (!h) throw new Error(`lab ${this.id} has no host ${role}`);
    return h;
  }

  /** Runs a command in a host namespace and collects its output. */
  async exec(role: string, argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.execIn(this.host(role).ns, argv, opts);
  }

  /** Runs a command in the switch namespace (e.g. nft on bridge ports p0, p1, ... in host order). */
  async execOnSwitch(argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.execIn(this.switchNs, argv, opts);
  }

  private async execIn(ns: string, argv: string[], opts: { timeoutMs?: number; input?: string }): Promise<{ code: number; stdout: string; stderr: string }> {
    const child = this.spawnIn(ns, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
    return collect(child, opts.timeoutMs ?? 60_000);
  }

  /** Starts a process inside a host namespace (ip netns exec execs, so the PID is the command's). */
  spawn(role: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
    return this.spawnIn(this.host(role).ns, argv, opts);
  }

  /** Starts a process in the switch namespace, where the taps are (QEMU). */
  spawnOnSwitch(argv: string[], opts: SpawnOptions = {}): ChildProcess {
    return this.spawnIn(this.switchNs, argv, opts);
  }

  private spawnIn(ns: string, argv: string[], opts: SpawnOptions): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], opts);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Applies an nft ruleset inside a host namespace. */
  async nft(role: string, ruleset: string): Promise<void> {
    const r = await this.exec(role, ['nft', '-f', '-'], { input: ruleset });
    if (r.code !== 0) throw new Error(`nft in ${role} failed: ${r.stderr}`);
  }

  /** Drops `percent` % of UDP packets arriving at a host (netem is missing on this kernel). */
  async setIngressLoss(role: string, percent: number, match = 'meta l4proto udp'): Promise<void> {
    const h = this.host(role);
    await this.exec(role, ['nft', 'delete', 'table', 'netdev', 'rcloss']);
    if (percent <= 0) return;
    await this.nft(
      role,
      `table netdev rcloss {\n  chain ingress {\n    type filter hook ingress device ${h.ifname} priority 0;\n    ${match} numgen random mod 100 < ${percent} counter drop\n  }\n}\n`,
    );
  }

  /** Interface counters inside a host namespace (e.g. RcvbufErrors via /proc/net/snmp). */
  async udpStats(role: string): Promise<Record<string, number>> {
    const r = await this.exec(role, ['cat', '/proc/net/snmp']);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('Udp:'));
    const keys = lines[0]?.split(/\s+/).slice(1) ?? [];
    const vals = lines[1]?.split(/\s+/).slice(1).map(Number) ?? [];
    return Object.fromEntries(keys.map((k, i) => [k, vals[i] ?? 0]));
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off('exit', this.onExit);
    for (const c of this.children) c.kill('SIGKILL');
    for (const ns of this.namespaces()) {
      killNamespaceProcesses(ns);
      await run('ip', ['netns', 'del', ns]).catch(() => {});
    }
  }

  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const c of this.children) c.kill('SIGKILL');
    for (const ns of this.namespaces()) {
      killNamespaceProcesses(ns);
      try {
        execFileSync('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
  }

  private namespaces(): string[] {
    return [...[...this.hosts.values()].map((h) => h.ns), this.switchNs];
  }
}

/** Waits for a child to exit (killing it after `timeoutMs`) and returns its output. */
export function collect(child: ChildProcess, timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr, timedOut });
    });
  });
}
