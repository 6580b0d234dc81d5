import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLogger, type LogRecord } from '../../../../common/log.ts';
import { parseConfig } from '../../../../bootserver/config.ts';
import { Counters } from '../../../../bootserver/counters.ts';
import { ServedFiles } from '../../../../bootserver/files.ts';
import { TftpServer } from '../../../../bootserver/tftp/server.ts';
import { mmsgAddon } from '../../../../udp/index.ts';
import { rrq, tftpGet, type TftpGetOptions } from '../../../helpers/tftp-client.ts';

// TFTP on loopback with a client that misbehaves on purpose. The npm package as published
// is run in a child process next to ours, so the duplicate-ACK tests show the bug they guard.

const HOST = '127.0.0.1';
let dir: string;
let file: Buffer;
let server: TftpServer;
let port: number;
let stockPort: number;
let stock: ChildProcess;
const counters = new Counters();
const logs: LogRecord[] = [];

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((ok) => s.bind(0, HOST, () => ok()));
  const p = s.address().port;
  s.close();
  return p;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const get = (o: Partial<TftpGetOptions> & { file?: string }, p = port) => tftpGet({ host: HOST, port: p, file: 'stage.efi', ...o });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rctftp-'));
  mkdirSync(join(dir, 'root'));
  file = randomBytes(600 * 1024 + 123);
  writeFileSync(join(dir, 'root', 'stage.efi'), file);
  writeFileSync(join(dir, 'outside.efi'), 'secret');
  symlinkSync(join(dir, 'outside.efi'), join(dir, 'root', 'escape.efi'));
  symlinkSync('stage.efi', join(dir, 'root', 'alias.efi'));
  port = await freeUdpPort();
  const cfg = parseConfig('t.yaml', {
    server: { interface: 'lo', address: HOST },
    dhcp: { mode: 'off' },
    tftp: { enabled: true, root: join(dir, 'root'), blockSizeMax: 1468, windowSizeMax: 8, timeoutMs: 300, retries: 3 },
  });
  server = new TftpServer({ cfg, files: new ServedFiles(cfg.tftp.root, []), counters, log: createLogger((r) => logs.push(r), 't', 'debug'), port });
  await server.listen();
  stockPort = await freeUdpPort();
  stock = spawn(
    process.execPath,
    ['-e', `const s=require('tftp').createServer({host:'${HOST}',port:${stockPort},root:process.argv[1],denyPUT:true,windowSize:8,timeout:300,retries:3});s.on('error',()=>{});s.on('listening',()=>console.log('ready'));s.listen();`, join(dir, 'root')],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  await new Promise<void>((ok) => stock.stdout!.once('data', () => ok()));
});

afterAll(() => {
  server?.close();
  stock?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('duplicate ACKs (npm tftp issue #16)', () => {
  test.each([
    ['every ACK sent twice, lockstep', { ackCopies: 2 }],
    ['every ACK sent twice, windowsize 4', { ackCopies: 2, options: { blksize: '1428', windowsize: '4' } }],
    ['ACK 0 of the OACK repeated (iPXE under load)', { duplicateOackAck: true, options: { blksize: '1432', windowsize: '4' } }],
    ["the previous window's ACK repeated before each new one", { staleAcks: true, options: { blksize: '1468', windowsize: '4' } }],
  ] as [string, Partial<TftpGetOptions>][])('%s: the transfer completes byte-exact', async (_name, o) => {
    const r = await get(o);
    expect(r.ok, JSON.stringify({ error: r.error, timedOut: r.timedOut, got: r.data.length })).toBe(true);
    expect(sha(r.data)).toBe(sha(file));
  });

  test('the package as published fails the same transfers (the test can fail)', async () => {
    const runs = await Promise.all([
      get({ staleAcks: true, options: { blksize: '1468', windowsize: '4' }, timeoutMs: 3000 }, stockPort),
      get({ duplicateOackAck: true, options: { blksize: '1432', windowsize: '4' }, timeoutMs: 3000 }, stockPort),
    ]);
    for (const r of runs) expect(r.ok && sha(r.data) === sha(file)).toBe(false);
  });

  test('ignored duplicates are counted', () => {
    const c = server.transferCounters();
    expect((c['tftp.dropped.duplicateAck'] ?? 0) + (c['tftp.dropped.staleAck'] ?? 0)).toBeGreaterThan(0);
  });
});

describe('options, paths and odd clients', () => {
  test('blksize and windowsize are capped by the config; tsize is the file size', async () => {
    const r = await get({ options: { blksize: '65464', windowsize: '64', tsize: '0' } });
    expect(r.oack).toEqual({ blksize: '1468', windowsize: '8', tsize: String(file.length) });
    expect(r.ok).toBe(true);
  });

  test("EDK2's size probe (OACK answered with error 8) is normal: counted as a client abort, not a failure", async () => {
    const before = counters.get('tftp.failed');
    await get({ options: { tsize: '0', blksize: '1468' }, abortAfterOack: true });
    await new Promise((r) => setTimeout(r, 100));
    expect(counters.get('tftp.clientAborted')).toBeGreaterThanOrEqual(1);
    expect(counters.get('tftp.failed')).toBe(before);
    expect(logs.filter((l) => l.level === 'warn' && l.msg.includes('failed'))).toHaveLength(0);
  });

  test('links inside the root work; links out of it and missing files are refused with the right TFTP error', async () => {
    expect(sha((await get({ file: 'alias.efi' })).data)).toBe(sha(file));
    expect((await get({ file: 'escape.efi' })).error?.code).toBe(2);
    expect((await get({ file: '../outside.efi' })).error).toBeDefined();
    expect((await get({ file: 'nothere.efi' })).error?.code).toBe(1);
    expect(counters.get('tftp.denied')).toBeGreaterThanOrEqual(1);
  });

  test('writes are refused', async () => {
    const s = createSocket('udp4');
    const reply = new Promise<Buffer>((ok) => s.once('message', ok));
    s.send(Buffer.concat([Buffer.from([0, 2]), Buffer.from('x.bin\0octet\0')]), port, HOST);
    const r = await reply;
    s.close();
    expect(r.readUInt16BE(0)).toBe(5);
  });

  test('runts, garbage and packets from a stranger to a transfer port do not disturb the transfer or the server', async () => {
    const stranger = createSocket('udp4');
    await new Promise<void>((ok) => stranger.bind(0, HOST, ok));
    // Garbage to the listening port.
    for (const junk of [Buffer.from([1]), Buffer.alloc(600, 0xff), Buffer.from([0, 9, 1, 2, 3, 4, 5, 6, 7, 8]), rrq('stage.efi', { blksize: 'disable' })]) stranger.send(junk, port, HOST);
    // A transfer, hit mid-way by a runt and a forged ACK from another port.
    const t = tftpGet({ host: HOST, port, file: 'stage.efi', options: { blksize: '8192' }, ackDelayMs: 5, localAddress: HOST });
    await new Promise((r) => setTimeout(r, 100));
    // The transfer socket is the server's only one bound to 0.0.0.0 (clients here bind 127.0.0.1).
    const transferPorts = new Set(await wildcardUdpPortsOfSelf());
    for (const p of transferPorts) {
      stranger.send(Buffer.from([7]), p, HOST);
      stranger.send(Buffer.from([0, 4, 0, 200]), p, HOST);
      // Longer than any datagram of a transfer (and than the addon's staging slot).
      stranger.send(Buffer.alloc(10_000, 4), p, HOST);
    }
    const r = await t;
    stranger.close();
    expect(r.ok).toBe(true);
    expect(sha(r.data)).toBe(sha(file));
    expect(transferPorts.size).toBeGreaterThan(0);
    const c = server.transferCounters();
    expect(c['tftp.dropped.foreignTid'] ?? 0).toBeGreaterThan(0);
    expect(c['tftp.dropped.long'] ?? 0).toBeGreaterThan(0);
    expect((await get({})).ok).toBe(true);
  });
});

describe('transfer I/O (transfer-io.ts)', () => {
  test("transfers read and write through the batched-I/O addon; with server.batchIo: false, through dgram; both byte-exact", async () => {
    expect(mmsgAddon(), 'build/native/mmsg.node is missing: run make native').not.toBeNull();
    const before = server.transferCounters();
    const delta = (k: string) => (server.transferCounters()[k] ?? 0) - (before[k] ?? 0);
    const batched = await get({ options: { blksize: '1468', windowsize: '4' }, ackCopies: 2 });
    expect(delta('tftp.io.mmsg')).toBe(1);
    // The switch is per server: one with batchIo off beside this one changes nothing here.
    const plainPort = await freeUdpPort();
    const cfg = parseConfig('t.yaml', { server: { interface: 'lo', address: HOST, batchIo: false }, dhcp: { mode: 'off' }, tftp: { enabled: true, root: join(dir, 'root') } });
    const plainServer = new TftpServer({ cfg, files: new ServedFiles(cfg.tftp.root, []), counters: new Counters(), log: createLogger(() => {}, 't'), port: plainPort });
    await plainServer.listen();
    try {
      const plain = await get({ options: { blksize: '1468', windowsize: '4' }, ackCopies: 2 }, plainPort);
      expect(plain.ok && sha(plain.data)).toBe(sha(file));
      expect(plainServer.transferCounters()).toMatchObject({ 'tftp.io.dgram': 1, 'tftp.io.mmsg': 0, 'tftp.io.wakeups': 0 });
      expect((await get({})).ok).toBe(true);
    } finally {
      plainServer.close();
    }
    expect(batched.ok && sha(batched.data)).toBe(sha(file));
    expect(delta('tftp.io.dgram')).toBe(0);
    expect(delta('tftp.io.mmsg')).toBe(2);
  });
});

describe('resends back off (atftp re-ACKs a gap only once)', () => {
  // Config here: timeoutMs 300, retries 3. Lockstep, so each DATA block is one datagram.
  test('a silent client gets each block again after 300, 600, 1200 ms, the clock restarts on progress, and the transfer is given up 2.4 s after the last resend', async () => {
    const failedBefore = counters.get('tftp.failed');
    const s = createSocket('udp4');
    await new Promise<void>((ok) => s.bind(0, HOST, ok));
    const arrivals = new Map<number, number[]>();
    let acked1 = false;
    s.on('message', (m, r) => {
      if (m.readUInt16BE(0) !== 3) return;
      const block = m.readUInt16BE(2);
      arrivals.set(block, [...(arrivals.get(block) ?? []), performance.now()]);
      // Block 1 is confirmed after its third copy; block 2 never is.
      if (block === 1 && arrivals.get(1)!.length === 3 && !acked1) {
        acked1 = true;
        s.send(Buffer.from([0, 4, 0, 1]), r.port, r.address);
      }
    });
    s.send(rrq('stage.efi'), port, HOST);
    // 0.9 s for block 1, then 0.3 + 0.6 + 1.2 s of resends of block 2 and the 2.4 s wait: 5.4 s.
    await new Promise((r) => setTimeout(r, 6000));
    s.close();
    const gaps = (ts: number[]) => ts.slice(1).map((t, i) => t - ts[i]!);
    const g1 = gaps(arrivals.get(1) ?? []);
    const g2 = gaps(arrivals.get(2) ?? []);
    expect(g1).toHaveLength(2);
    expect(g2, 'three resends of block 2, then no more').toHaveLength(3);
    for (const [got, want] of [...g1.map((g, i) => [g, [300, 600][i]!]), ...g2.map((g, i) => [g, [300, 600, 1200][i]!])]) {
      expect(got).toBeGreaterThan(want! * 0.9);
      expect(got).toBeLessThan(want! * 1.5);
    }
    expect(counters.get('tftp.failed')).toBe(failedBefore + 1);
    expect(logs.some((l) => l.level === 'warn' && l.msg === 'transfer failed' && l.fields.error === 'Timed out')).toBe(true);
  });

  test('closing the server ends the transfers under way with an error to the client', async () => {
    const cfg = parseConfig('t.yaml', { server: { interface: 'lo', address: HOST }, dhcp: { mode: 'off' }, tftp: { enabled: true, root: join(dir, 'root') } });
    const p = await freeUdpPort();
    const ended: boolean[] = [];
    const local = new TftpServer({ cfg, files: new ServedFiles(cfg.tftp.root, []), counters: new Counters(), log: createLogger(() => {}, 't'), port: p, onTransfer: (_a, _f, ok) => ended.push(ok) });
    await local.listen();
    const s = createSocket('udp4');
    await new Promise<void>((ok) => s.bind(0, HOST, ok));
    const got: number[] = [];
    const error = new Promise<Buffer>((ok) =>
      s.on('message', (m) => {
        got.push(m.readUInt16BE(0));
        if (m.readUInt16BE(0) === 5) ok(m);
      }),
    );
    s.send(rrq('stage.efi'), p, HOST);
    await new Promise((r) => setTimeout(r, 100));
    local.close();
    const e = await error;
    s.close();
    expect(got[0]).toBe(3);
    expect(e.subarray(4, -1).toString()).toBe('server stopping');
    expect(ended).toEqual([false]);
  });
});

/** UDP ports this process has bound to 0.0.0.0 (from /proc/net/udp, by socket inode of our fds). */
async function wildcardUdpPortsOfSelf(): Promise<number[]> {
  const { readdirSync, readlinkSync, readFileSync } = await import('node:fs');
  const inodes = new Set(
    readdirSync('/proc/self/fd')
      .map((fd) => {
        try {
          return /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
        } catch {
          return undefined;
        }
      })
      .filter(Boolean),
  );
  return readFileSync('/proc/net/udp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[9] && inodes.has(f[9]) && f[1]?.startsWith('00000000:'))
    .map((f) => parseInt(f[1]!.split(':')[1]!, 16));
}
