// Benchmark of the boot server against dnsmasq, side by side in one lab (make bench-boot).
//
// 1. Boot time: QEMU start to the test initrd's marker, BIOS (SeaBIOS + iPXE ROM) and UEFI
//    (OVMF's PXE -> ipxe.efi over TFTP -> iPXE), with rackcast serving everything, against
//    dnsmasq (DHCP + TFTP) with busybox httpd serving the same script, kernel and initrd.
//    dnsmasq runs twice: in a plain reference configuration (startRef), and tuned (option 60
//    PXEClient sent to iPXE, which saves iPXE's ~3 s proxyDHCP wait, as rackcast does).
// 2. TFTP throughput of a 40 MiB file to real clients (atftp, curl) in another namespace,
//    and the server's CPU per block (steadier than lockstep throughput on a shared host);
//    for lockstep clients also to tftp-floor.ts, the least a Node server can do per block,
//    on dgram and on the batched-I/O addon (udp/).
// 3. A thundering herd of simulated DHCP clients (scripts/lab/dhcp-herd.ts) against each.
// Variants alternate run by run so drift of the shared machine hits all alike; medians.
//
//   node scripts/bench/boot.ts [--runs 2] [--tftp-runs 3] [--herd 500] [--only boot,tftp,herd]
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { BootLab, SRV_IP } from '../lab/boot-lab.ts';
import { KERNEL, MARKER, testInitrd } from '../lab/test-initrd.ts';

const SCRIPT = 'rackcast: install n001';

const { values: v } = parseArgs({
  options: {
    runs: { type: 'string', default: '2' },
    'tftp-runs': { type: 'string', default: '3' },
    'tftp-mib': { type: 'string', default: '40' },
    herd: { type: 'string', default: '500' },
    only: { type: 'string', default: 'boot,tftp,herd' },
  },
});
const RUNS = Number(v.runs);
const TFTP_RUNS = Number(v['tftp-runs']);
const HERD = Number(v.herd);
const ONLY = new Set(v.only.split(','));
const HERD_TOOL = resolve(import.meta.dirname, '../lab/dhcp-herd.ts');
const TFTP_FLOOR = resolve(import.meta.dirname, 'tftp-floor.ts');

type Server = 'rackcast' | 'dnsmasq' | 'dnsmasq+opt60' | 'node floor' | 'node floor, mmsg';
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};

const bl = await BootLab.create({ hosts: [{ role: 'cl', cidr: '10.78.0.250/24' }], installer: { kernel: KERNEL, initrd: testInitrd({ padMiB: 0 }) } });
const procs: ChildProcess[] = [];
// Interrupted: take the lab, the VMs and the servers down with us.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    stopRef();
    void bl.destroy().finally(() => process.exit(130));
  });
}
const ref = join(bl.dir, 'ref');
mkdirSync(ref);

function stopRef(): void {
  for (const p of procs.splice(0)) p.kill('SIGTERM');
}

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The pool both servers use: the /24 of the lab for VMs; the herd needs more addresses (it never leaves L2). */
let pool = { subnet: '10.78.0.0/24', range: '10.78.0.100-10.78.0.199', mask: '255.255.255.0' };

/** dnsmasq (DHCP, TFTP from `tftpRoot`) and busybox httpd on :8080 serving the reference root. */
async function startRef(tuned: boolean, tftpRoot = ref): Promise<void> {
  const args = [
    'dnsmasq', '-k', '-C', '/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces', '--no-ping', '--dhcp-authoritative',
    `--dhcp-range=${pool.range.replace('-', ',')},${pool.mask},1h`, `--dhcp-leasefile=${join(bl.dir, `dnsmasq-${Date.now()}.leases`)}`,
    `--pid-file=${join(bl.dir, 'dnsmasq.pid')}`, '--user=root', '--enable-tftp', `--tftp-root=${tftpRoot}`,
    '--dhcp-userclass=set:ipxe,iPXE', '--dhcp-match=set:efi64,option:client-arch,7', '--dhcp-match=set:bios,option:client-arch,0',
    `--dhcp-boot=tag:ipxe,http://${SRV_IP}:8080/boot.ipxe`, '--dhcp-boot=tag:efi64,tag:!ipxe,ipxe.efi', '--dhcp-boot=tag:bios,tag:!ipxe,undionly.kpxe',
    ...(tuned ? ['--dhcp-option-force=tag:ipxe,60,PXEClient'] : []),
  ];
  procs.push(bl.lab.spawn('srv', args, { stdio: 'ignore' }));
  procs.push(bl.lab.spawn('srv', ['busybox', 'httpd', '-f', '-p', `${SRV_IP}:8080`, '-h', ref], { stdio: 'ignore' }));
  await new Promise((r) => setTimeout(r, 800));
}

async function startFloor(tftpRoot: string, batched: boolean): Promise<void> {
  procs.push(bl.lab.spawn('srv', [process.execPath, TFTP_FLOOR, tftpRoot, SRV_IP, ...(batched ? ['--batched'] : [])], { stdio: 'ignore' }));
  await new Promise((r) => setTimeout(r, 800));
}

async function withServer<T>(server: Server, fn: () => Promise<T>, tftpRoot?: string): Promise<T> {
  bl.config.dhcp.subnets = [{ subnet: pool.subnet, range: pool.range, router: SRV_IP }];
  if (server === 'rackcast') await bl.startServer();
  else if (server.startsWith('node floor')) await startFloor(tftpRoot ?? ref, server === 'node floor, mmsg');
  else await startRef(server === 'dnsmasq+opt60', tftpRoot);
  try {
    return await fn();
  } finally {
    if (server === 'rackcast') await bl.stopServer();
    else stopRef();
    await new Promise((r) => setTimeout(r, 300));
  }
}

// ---- 1. boot time ----
const bootRows: string[][] = [];
if (ONLY.has('boot')) {
  // The reference root: the same first stages, kernel, initrd and an equivalent script.
  for (const f of ['ipxe.efi', 'undionly.kpxe']) copyFileSync(`/usr/lib/ipxe/${f}`, join(ref, f));
  symlinkSync(KERNEL, join(ref, 'vmlinuz'));
  symlinkSync(bl.config.installer.initrd, join(ref, 'initrd.img'));
  writeFileSync(
    join(ref, 'boot.ipxe'),
    `#!ipxe\necho rackcast: install n001\nkernel http://${SRV_IP}:8080/vmlinuz initrd=initrd.img ${bl.config.installer.cmdline} rackcast.mode=install\ninitrd --name initrd.img http://${SRV_IP}:8080/initrd.img\nboot\n`,
  );
  const fws = [
    { label: 'BIOS: SeaBIOS + iPXE ROM', firmware: 'bios' as const, rom: 'ipxe' as const },
    { label: 'UEFI: OVMF PXE -> ipxe.efi (TFTP)', firmware: 'uefi' as const, rom: 'none' as const },
  ];
  const servers: Server[] = ['rackcast', 'dnsmasq', 'dnsmasq+opt60'];
  for (const fw of fws) {
    const times = new Map<Server, number[]>(servers.map((s) => [s, []]));
    const scriptAt = new Map<Server, number[]>(servers.map((s) => [s, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const s of run % 2 ? [...servers].reverse() : servers) {
        const t = await withServer(s, async () => {
          const r = await bl.boot({ name: `${fw.firmware}-${s}-${run}`, firmware: fw.firmware, rom: fw.rom }, [SCRIPT, MARKER], 180_000);
          await r.vm.kill();
          if (!r.ok) process.stderr.write(`${s} ${fw.label} run ${run}: ${r.failure}\n`);
          scriptAt.get(s)!.push(r.marks[SCRIPT] ?? NaN);
          return r.ok ? r.marks[MARKER]! : NaN;
        });
        times.get(s)!.push(t);
        process.stderr.write(`boot ${fw.label} ${s} run ${run}: script ${scriptAt.get(s)!.at(-1)!.toFixed(1)} s, marker ${t.toFixed(1)} s\n`);
      }
    }
    const m = Object.fromEntries(servers.map((s) => [s, median(times.get(s)!.filter(Number.isFinite))])) as Record<Server, number>;
    const sc = Object.fromEntries(servers.map((s) => [s, median(scriptAt.get(s)!.filter(Number.isFinite))])) as Record<Server, number>;
    const cell = (s: Server) => `${m[s].toFixed(1)} (${sc[s].toFixed(1)})`;
    bootRows.push([fw.label, cell('rackcast'), cell('dnsmasq'), cell('dnsmasq+opt60'), (m.rackcast / m.dnsmasq).toFixed(2), (m.rackcast / m['dnsmasq+opt60']).toFixed(2)]);
  }
}

// ---- 2. TFTP throughput ----
const tftpRows: string[][] = [];
if (ONLY.has('tftp')) {
  const root = join(bl.dir, 'tftp');
  mkdirSync(root);
  const data = randomBytes(Number(v['tftp-mib']) * 1024 * 1024);
  writeFileSync(join(root, 'big.bin'), data);
  const want = createHash('sha256').update(data).digest('hex');
  const out = join(bl.dir, 'tftp-out.bin');
  const clients = [
    { label: 'atftp, blksize 1468 (lockstep)', lockstep: true, argv: ['atftp', '--get', '-r', 'big.bin', '-l', out, '--option', 'blksize 1468', SRV_IP] },
    // OVMF asks exactly this.
    { label: 'atftp, blksize 1468, windowsize 4', argv: ['atftp', '--get', '-r', 'big.bin', '-l', out, '--option', 'blksize 1468', '--option', 'windowsize 4', SRV_IP] },
    { label: 'atftp, blksize 1468, windowsize 8', argv: ['atftp', '--get', '-r', 'big.bin', '-l', out, '--option', 'blksize 1468', '--option', 'windowsize 8', SRV_IP] },
    { label: 'curl, blksize 1468 (lockstep)', lockstep: true, argv: ['curl', '-sS', '--tftp-blksize', '1468', '-o', out, `tftp://${SRV_IP}/big.bin`] },
  ];
  bl.config.tftp = { enabled: true, root, windowSizeMax: 16 };
  const servers: Server[] = ['rackcast', 'dnsmasq', 'node floor', 'node floor, mmsg'];
  const results = new Map<string, number[]>();
  const cpuPerBlock = new Map<string, number[]>();
  for (let run = 0; run < TFTP_RUNS; run++) {
    for (const s of run % 2 ? [...servers].reverse() : servers) {
      await withServer(
        s,
        async () => {
          for (const c of clients) {
            if (s.startsWith('node floor') && !c.lockstep) continue;
            rmSync(out, { force: true });
            // The TFTP server: dnsmasq is the first process startRef spawns, a floor the only one.
            const pid = s === 'rackcast' ? bl.serverPid()! : procs[0]!.pid!;
            const cpu0 = cpuSeconds(pid);
            const t0 = process.hrtime.bigint();
            const r = await bl.lab.exec('cl', c.argv, { timeoutMs: 300_000 });
            const sec = Number(process.hrtime.bigint() - t0) / 1e9;
            const usPerBlock = ((cpuSeconds(pid) - cpu0) * 1e6) / Math.ceil(data.length / 1468);
            let ok = false;
            try {
              ok = r.code === 0 && createHash('sha256').update(readFileSync(out)).digest('hex') === want;
            } catch {
              ok = false;
            }
            const key = `${c.label}|${s}`;
            results.set(key, [...(results.get(key) ?? []), ok ? data.length / sec / 1e6 : NaN]);
            cpuPerBlock.set(key, [...(cpuPerBlock.get(key) ?? []), ok ? usPerBlock : NaN]);
            process.stderr.write(`tftp ${c.label} ${s} run ${run}: ${ok ? `${(data.length / sec / 1e6).toFixed(1)} MB/s, server CPU ${usPerBlock.toFixed(0)} us/block` : `FAILED ${r.stderr.slice(-200)}`}\n`);
          }
        },
        root,
      );
    }
  }
  for (const c of clients) {
    const ours = median(results.get(`${c.label}|rackcast`)!.filter(Number.isFinite));
    const theirs = median(results.get(`${c.label}|dnsmasq`)!.filter(Number.isFinite));
    const floors = (['node floor', 'node floor, mmsg'] as const).flatMap((f) => {
      const m = median(results.get(`${c.label}|${f}`)?.filter(Number.isFinite) ?? []);
      return Number.isNaN(m) ? ['-', '-'] : [m.toFixed(1), (m / theirs).toFixed(2)];
    });
    const cpu = (['rackcast', 'dnsmasq'] as const).map((sv) => median(cpuPerBlock.get(`${c.label}|${sv}`)!.filter(Number.isFinite)).toFixed(0));
    tftpRows.push([c.label, ours.toFixed(1), theirs.toFixed(1), (ours / theirs).toFixed(2), cpu.join(' / '), ...floors]);
  }
}

// ---- 3. thundering herd ----
const herdRows: string[][] = [];
if (ONLY.has('herd')) {
  pool = { subnet: '10.78.0.0/22', range: '10.78.0.100-10.78.3.250', mask: '255.255.252.0' };
  bl.config.dhcp.unknownNodes = 'discover';
  for (const s of ['rackcast', 'dnsmasq'] as Server[]) {
    bl.config.paths.stateDir = join(bl.dir, `state-herd-${s}`);
    const r = await withServer(s, async () => {
      const x = await bl.lab.exec('cl', [process.execPath, HERD_TOOL, '--clients', String(HERD), '--spread-ms', '10000'], { timeoutMs: 180_000 });
      return JSON.parse(x.stdout) as { bound: number; failed: number; duplicateIps: number; retries: number; latencyMs: { p50: number; p99: number; max: number }; wallMs: number };
    });
    herdRows.push([s, `${r.bound}/${HERD}`, String(r.failed), String(r.duplicateIps), String(r.retries), String(r.latencyMs.p50), String(r.latencyMs.p99), String(r.latencyMs.max), (r.wallMs / 1000).toFixed(1)]);
  }
}

await bl.destroy();

function table(title: string, head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ') + ' |';
  return [`${title}`, line(head), '|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|', ...rows.map(line), ''].join('\n');
}

const report = [
  bootRows.length ? table(`Boot: QEMU start to the initrd marker (in brackets: to the iPXE script), seconds, median of ${RUNS}, TCG; ratio = rackcast / dnsmasq, <= 1.0 is as fast or faster`, ['firmware path', 'rackcast', 'dnsmasq', 'dnsmasq+opt60', 'ratio', 'ratio vs tuned'], bootRows) : '',
  tftpRows.length ? table(`TFTP: ${v['tftp-mib']} MiB to a real client, MB/s (median of ${TFTP_RUNS}); ratio = rackcast / dnsmasq, >= 1.0 is as fast or faster (dnsmasq has no RFC 7440 windows); node floor = tftp-floor.ts, the least a Node server does per block, on dgram and on the batched-I/O addon (mmsg)`, ['client', 'rackcast', 'dnsmasq', 'ratio', 'server CPU us/block (rackcast / dnsmasq)', 'node floor', 'floor / dnsmasq', 'floor, mmsg', 'mmsg floor / dnsmasq'], tftpRows) : '',
  herdRows.length ? table(`Herd: ${HERD} simulated DHCP clients starting within 10 s (DISCOVER..ACK, broadcast)`, ['server', 'bound', 'failed', 'dup IPs', 'retries', 'p50 ms', 'p99 ms', 'max ms', 'wall s'], herdRows) : '',
].join('\n');
process.stdout.write(report);
mkdirSync('build/bench', { recursive: true });
writeFileSync('build/bench/boot.md', report);
