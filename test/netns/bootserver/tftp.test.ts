import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { ServerStatus } from '../../../bootserver/api-types.ts';
import { BootLab, testBootLab } from '../../helpers/boot-lab.ts';

// TFTP to real clients (atftp with RFC 7440 windows, curl in lockstep) from `rackcast serve`,
// clean, with 10 % loss each way, and with every client packet duplicated on the wire (nft
// `dup` on the switch port), which is how duplicate ACKs reach a server in the field.

const FILES = { 'ipxe.efi': '/usr/lib/ipxe/ipxe.efi', 'undionly.kpxe': '/usr/lib/ipxe/undionly.kpxe' } as const;
let bl: BootLab;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type Client = 'atftp' | 'curl';
function command(client: Client, file: string, out: string): string[] {
  return client === 'atftp'
    ? ['atftp', '--get', '-r', file, '-l', out, '--option', 'blksize 1468', '--option', 'windowsize 8', '--tftp-timeout', '1', '10.78.0.1']
    : ['curl', '-sS', '--tftp-blksize', '1468', '--max-time', '120', '-o', out, `tftp://10.78.0.1/${file}`];
}

async function fetchWith(client: Client, file: keyof typeof FILES): Promise<{ ok: boolean; why: string }> {
  const out = join(bl.dir, `${client}-${file}`);
  rmSync(out, { force: true });
  const r = await bl.lab.exec('cl', command(client, file, out), { timeoutMs: 150_000 });
  let got: Buffer;
  try {
    got = readFileSync(out);
  } catch {
    return { ok: false, why: `no file; exit ${r.code}: ${r.stderr}` };
  }
  const want = readFileSync(FILES[file]);
  return { ok: sha(got) === sha(want), why: `exit ${r.code}, ${got.length}/${want.length} bytes: ${r.stderr.slice(-1500)}` };
}

async function counters(): Promise<Record<string, number>> {
  return (JSON.parse((await bl.http('/api/v1/status')).body) as ServerStatus).counters;
}

beforeAll(async () => {
  bl = await testBootLab({ hosts: [{ role: 'cl', cidr: '10.78.0.250/24' }], ra: false });
  bl.config.dhcp = { mode: 'off' };
  // A short first resend keeps lockstep curl quick under loss (each loss costs one); the
  // server's backoff (bootserver/tftp/backoff-retransmitter.ts) lets atftp, which re-ACKs a
  // gap only once, catch up.
  bl.config.tftp = { enabled: true, windowSizeMax: 16, timeoutMs: 300 };
  await bl.startServer();
});
afterEach(async () => {
  await bl.lab.setIngressLoss('cl', 0);
  await bl.lab.setIngressLoss('srv', 0);
  await bl.lab.execOnSwitch(['nft', 'delete', 'table', 'netdev', 'rcdup']);
});
afterAll(async () => {
  await bl?.destroy();
});

describe.each(['atftp', 'curl'] as Client[])('%s', (client) => {
  test('gets both first stages byte-exact, through the batched-I/O addon, busy-polling for the ACKs', async () => {
    const before = await counters();
    for (const f of Object.keys(FILES) as (keyof typeof FILES)[]) {
      const r = await fetchWith(client, f);
      expect(r.ok, r.why).toBe(true);
    }
    const after = await counters();
    const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect(delta('tftp.io.mmsg')).toBe(2);
    // Each window (curl: each block) is answered by an ACK. Asleep, the server is woken for
    // every one; busy-polling, once in up to 16 (bootserver/tftp/transfer-io.ts), more after a
    // spin the client left unanswered (the next 16 windows do not spin): atftp's 80 windows
    // of 8 leave little room for that, curl's 631 blocks much.
    const windows = Object.values(FILES).reduce((n, f) => n + Math.ceil((statSync(f).size + 1) / 1468 / (client === 'curl' ? 1 : 8)), 0);
    const detail = JSON.stringify({ windows, wakeups: delta('tftp.io.wakeups'), answered: delta('tftp.busyPoll.answered'), missed: delta('tftp.busyPoll.missed') });
    expect(delta('tftp.io.wakeups'), detail).toBeLessThan(client === 'curl' ? windows / 4 : windows);
  });

  test('with 3 % of the data blocks and 3 % of the ACKs lost', async () => {
    // Not the OACK or its ACK 0: atftp 0.8.0 aborts ("unexpected OACK") when a server repeats
    // an OACK whose ACK was lost, as any server must; that is the client's limit, not ours.
    await bl.lab.setIngressLoss('cl', 3, 'udp sport != 69 @th,64,16 == 3');
    await bl.lab.setIngressLoss('srv', 3, 'udp dport != 69 @th,64,16 == 4 @th,80,16 != 0');
    const r = await fetchWith(client, 'ipxe.efi');
    expect(r.ok, r.why).toBe(true);
  });

  test('with every client packet duplicated (duplicate ACKs)', async () => {
    const before = await counters();
    // On the switch: what the client (port p1) sends is bridged as usual, and a copy goes
    // straight out of the server's port p0.
    const r0 = await bl.lab.execOnSwitch(['nft', '-f', '-'], {
      input: 'table netdev rcdup {\n  chain c {\n    type filter hook ingress device p1 priority 0;\n    udp dport != 69 dup to "p0"\n  }\n}\n',
    });
    expect(r0.code, r0.stderr).toBe(0);
    const r = await fetchWith(client, 'ipxe.efi');
    expect(r.ok, r.why).toBe(true);
    const after = await counters();
    const seen = (c: Record<string, number>) => ['duplicateAck', 'staleAck'].reduce((n, k) => n + (c[`tftp.dropped.${k}`] ?? 0), 0);
    expect(seen(after) - seen(before)).toBeGreaterThan(0);
  });
});
