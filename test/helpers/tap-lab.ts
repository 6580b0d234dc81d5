import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { labId, sweepStale } from '../../scripts/lab/netns.ts';

// One network namespace with a bridge and a tap for a QEMU guest: the services a test
// starts in the namespace (DHCP, HTTP, cast sender) reach the guest and nothing else.
// Named like the netns Lab (rc + creator PID), so leftovers of a crashed run are swept.

export class TapLab {
  readonly ns: string;
  readonly bridge = 'br0';
  readonly tap = 'tap0';
  readonly address: string;
  private readonly children = new Set<ChildProcess>();

  private constructor(ns: string, address: string) {
    this.ns = ns;
    this.address = address;
  }

  /** `cidr` is the bridge's address, e.g. 10.79.1.1/24. */
  static async create(cidr: string): Promise<TapLab> {
    await sweepStale();
    const lab = new TapLab(`${labId()}-vm`, cidr.split('/')[0]!);
    const ip = (...args: string[]) => execFileSync('ip', ['-n', lab.ns, ...args]);
    execFileSync('ip', ['netns', 'add', lab.ns]);
    try {
      ip('link', 'set', 'lo', 'up');
      ip('link', 'add', lab.bridge, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0');
      ip('addr', 'add', cidr, 'brd', '+', 'dev', lab.bridge);
      ip('tuntap', 'add', 'dev', lab.tap, 'mode', 'tap');
      ip('link', 'set', lab.tap, 'master', lab.bridge);
      ip('link', 'set', lab.tap, 'up');
      ip('link', 'set', lab.bridge, 'up');
      ip('route', 'add', '255.255.255.255/32', 'dev', lab.bridge);
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  spawn(argv: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns, ...argv], opts);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  destroy(): void {
    for (const c of this.children) c.kill('SIGKILL');
    try {
      for (const pid of execFileSync('ip', ['netns', 'pids', this.ns], { encoding: 'utf8' }).split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // namespace already gone
    }
    try {
      execFileSync('ip', ['netns', 'del', this.ns]);
    } catch {
      // already gone
    }
  }
}
