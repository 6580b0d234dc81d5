import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { collect, Lab, type HostSpec } from './netns.ts';
import { Vm, type VmSpec, type WaitResult } from './qemu.ts';

// A boot network in namespaces (tests, benchmarks and `make demo`): the rackcast server (role "srv", 10.78.0.1 on eth0) on a
// bridge, optional client hosts, VMs on taps of the same bridge, IPv6 router
// advertisements (iPXE otherwise waits 13-19 s for one), and the real `rackcast serve`
// process started from a generated config. Everything is removed by destroy(), and by the
// Lab's exit hook if a test dies.

export const CLI = resolve(import.meta.dirname, '../../cli/main.ts');
export const SRV_IP = '10.78.0.1';
export const NODE_MAC = '52:54:00:78:00:10';

export type ConfigDoc = Record<string, any>;

export interface BootLabOptions {
  /** Extra hosts (roles) on the bridge, e.g. DHCP clients, at 10.78.0.2.. unless given. */
  hosts?: HostSpec[];
  /** Send IPv6 RAs from the server namespace (default true). */
  ra?: boolean;
  /** The installer kernel and initrd to serve. */
  installer: { kernel: string; initrd: string };
}

export class BootLab {
  readonly lab: Lab;
  readonly dir: string;
  readonly configFile: string;
  config: ConfigDoc;
  private server: ChildProcess | null = null;
  private serverOut = '';
  private vms: Vm[] = [];
  private kept = false;

  private constructor(lab: Lab, dir: string, config: ConfigDoc) {
    this.lab = lab;
    this.dir = dir;
    this.configFile = join(dir, 'rackcast.yaml');
    this.config = config;
  }

  static async create(opts: BootLabOptions): Promise<BootLab> {
    const dir = mkdtempSync(join(tmpdir(), 'rcboot-'));
    const lab = await Lab.create({ hosts: [{ role: 'srv', cidr: `${SRV_IP}/24` }, ...(opts.hosts ?? [])] });
    const config: ConfigDoc = {
      server: { interface: 'eth0', address: SRV_IP, httpPort: 8080 },
      paths: { stateDir: join(dir, 'state') },
      dhcp: { mode: 'full', leaseTime: '1h', subnets: [{ subnet: '10.78.0.0/24', range: '10.78.0.100-10.78.0.199', router: SRV_IP }] },
      installer: { ...opts.installer, cmdline: 'console=ttyS0,115200 panic=-1' },
      images: { test: { dir: join(dir, 'images/test') } },
      defaults: { image: 'test' },
      nodes: [{ mac: NODE_MAC, hostname: 'n001' }],
    };
    const bl = new BootLab(lab, dir, config);
    mkdirSync(join(dir, 'images/test'), { recursive: true });
    try {
      if (opts.ra !== false) await bl.startRa();
    } catch (err) {
      await bl.destroy();
      throw err;
    }
    return bl;
  }

  /** A DHCP-less dnsmasq that only sends IPv6 router advertisements (lab fixture). */
  private async startRa(): Promise<void> {
    await this.lab.exec('srv', ['ip', '-6', 'addr', 'add', 'fd00:78::1/64', 'dev', 'eth0', 'nodad']);
    this.lab.spawn('srv', [
      'dnsmasq', '-k', '-C', '/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces', '--enable-ra',
      '--dhcp-range=fd00:78::,ra-only,64', `--pid-file=${join(this.dir, 'ra.pid')}`, `--dhcp-leasefile=${join(this.dir, 'ra.leases')}`, '--user=root',
    ], { stdio: 'ignore' });
  }

  writeConfig(): void {
    writeFileSync(this.configFile, stringify(this.config));
  }

  /** The site's own DHCP server for proxy-mode tests: dnsmasq, addresses only, on a lab host. */
  startSiteDhcp(role: string): void {
    this.lab.spawn(role, [
      'dnsmasq', '-k', '-C', '/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces', '--no-ping', '--dhcp-authoritative',
      '--dhcp-range=10.78.0.100,10.78.0.199,255.255.255.0,1h', `--dhcp-leasefile=${join(this.dir, `${role}.leases`)}`, `--pid-file=${join(this.dir, `${role}.pid`)}`, '--user=root',
    ], { stdio: 'ignore' });
  }

  /** Starts `rackcast serve` in the server namespace and waits until it serves. */
  async startServer(args: string[] = []): Promise<void> {
    this.writeConfig();
    mkdirSync(this.config.paths.stateDir, { recursive: true });
    this.serverOut = '';
    const child = this.lab.spawn('srv', [process.execPath, CLI, 'serve', '--config', this.configFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.server = child;
    const onData = (d: Buffer) => (this.serverOut += d.toString());
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const deadline = Date.now() + 60_000;
    while (!this.serverOut.includes(' serving ')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`rackcast serve did not start (exit ${child.exitCode}):\n${this.serverOut}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  serverLog(): string {
    return this.serverOut;
  }

  serverPid(): number | undefined {
    return this.server?.pid;
  }

  /** Stops `rackcast serve`: SIGTERM (a clean stop), or SIGKILL (a crash). Its exit code. */
  async stopServer(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    const child = this.server;
    if (!child) return null;
    this.server = null;
    if (child.exitCode !== null) return child.exitCode;
    child.kill(signal);
    const code = await new Promise<number | null>((r) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', (c) => {
        clearTimeout(t);
        r(c);
      });
    });
    writeFileSync(join(this.dir, 'server.log'), this.serverOut);
    return code;
  }

  /** Runs the rackcast CLI in the server namespace (where the API is reachable). */
  async cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const child = this.lab.spawn('srv', [process.execPath, CLI, ...args, '--config', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    return collect(child, 60_000);
  }

  /** The server's admin token (made on its first start). */
  adminToken(): string {
    return readFileSync(join(this.config.paths.stateDir, 'admin.token'), 'utf8').trim();
  }

  /**
   * An HTTP request from inside the server namespace (curl): status and body. Admin API calls
   * carry the admin token unless `token` names another ('' for none).
   */
  async http(path: string, opts: { method?: string; body?: unknown; token?: string } = {}): Promise<{ status: number; body: string }> {
    const args = ['curl', '-s', '-o', '-', '-w', '\n%{http_code}', '-X', opts.method ?? 'GET'];
    const token = opts.token ?? (path.startsWith('/api/v1/') && !path.startsWith('/api/v1/agent/') ? this.adminToken() : '');
    if (token) args.push('-H', `Authorization: Bearer ${token}`);
    if (opts.body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(opts.body));
    const r = await this.lab.exec('srv', [...args, `http://${SRV_IP}:8080${path}`]);
    const cut = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
  }

  /** A VM on a new tap of the lab bridge, run in the switch namespace. */
  async vm(spec: Omit<VmSpec, 'workDir' | 'launch' | 'nics'> & { mac?: string; rom?: 'ipxe' | 'none'; disks?: VmSpec['disks'] }): Promise<Vm> {
    const tap = await this.lab.addTap();
    const vm = Vm.start({
      ...spec,
      workDir: join(this.dir, 'vm'),
      nics: [{ tap, mac: spec.mac ?? NODE_MAC, rom: spec.rom ?? 'ipxe', bootindex: 1 }],
      launch: (argv, o) => this.lab.spawnOnSwitch(argv, o),
    });
    this.vms.push(vm);
    return vm;
  }

  /** Boots a VM until every marker shows (or a boot failure, or the timeout); keeps the logs if not. */
  async boot(spec: Parameters<BootLab['vm']>[0], markers: string[], timeoutMs = 240_000): Promise<WaitResult & { vm: Vm; explain: string }> {
    const vm = await this.vm(spec);
    const r = await vm.waitFor(markers, { timeoutMs });
    const explain = r.ok
      ? ''
      : `boot of ${spec.name} failed: ${r.failure} after ${r.elapsedSec.toFixed(1)} s; seen ${JSON.stringify(r.marks)}; logs kept in ${this.keep()}\n--- serial tail ---\n${r.tail}\n--- server log tail ---\n${this.serverOut.slice(-3000)}`;
    return { ...r, vm, explain };
  }

  /** Keeps the logs of a failed test (serial, server) and says where. */
  keep(): string {
    this.kept = true;
    writeFileSync(join(this.dir, 'server.log'), this.serverOut);
    return this.dir;
  }

  async destroy(): Promise<void> {
    for (const vm of this.vms) await vm.kill();
    await this.stopServer();
    await this.lab.destroy();
    if (!this.kept) rmSync(this.dir, { recursive: true, force: true });
  }
}
