import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { collect, Lab } from '../../scripts/lab/netns.ts';

// Runs whole transfers between network namespaces: a sender host and N receiver hosts on
// one bridge, each side either rackcast or the real udpcast programs, with optional
// random loss on the receivers' ingress, and checks every copy by sha256.

export type Impl = 'rackcast' | 'udpcast';

export const CLI = resolve(import.meta.dirname, '../../cli/main.ts');
/** The pinned Node 24, whatever node runs the tests. */
export const NODE = resolve(import.meta.dirname, '../../node_modules/.bin/node');
export const SUBNET = '10.77.0';

export interface TransferSpec {
  sender: Impl;
  receivers: Impl[];
  sizeBytes: number;
  lossPct?: number;
  /** nft match for the lost packets; default: every UDP datagram to the receiver port. */
  lossMatch?: string;
  senderArgs?: string[];
  receiverArgs?: string[];
  /** Replaces the sender command line (e.g. to feed it through a pipe). */
  senderCommand?: (input: string, receivers: number) => string[];
  timeoutMs?: number;
  /** Called once every process runs, e.g. to kill a receiver mid-stream. */
  during?: (ctx: RunningTransfer) => Promise<void>;
}

export interface ProcResult {
  role: string;
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ReceiverOutcome extends ProcResult {
  intact: boolean;
  bytes: number;
}

export interface TransferOutcome {
  sender: ProcResult;
  receivers: ReceiverOutcome[];
  wallMs: number;
  /** Parsed --json events of a rackcast sender. */
  senderEvents: Record<string, unknown>[];
}

export interface RunningTransfer {
  lab: Lab;
  pids: Map<string, number>;
  outputs: Map<string, string>;
  /** The sender's stderr so far (a rackcast sender with --json writes events there). */
  senderLog: () => string;
  /** The sender's stdin, for a senderCommand that reads it: ending it ends the input. */
  senderStdin: Writable;
  senderExit: Promise<ProcResult>;
}

export function receiverRole(i: number): string {
  return `r${i + 1}`;
}

export function jsonEvents(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** How a rackcast end moved its data ('mmsg' or 'dgram'), from its --json events. */
export function castIo(stderr: string): unknown {
  return jsonEvents(stderr).find((e) => e.event === 'cast:listening')?.io;
}

/** The statistics in a rackcast end's final --json event (`cast:done`); {} if it has none. */
export function castStats(stderr: string): Record<string, number> {
  return (jsonEvents(stderr).find((e) => e.event === 'cast:done')?.stats ?? {}) as Record<string, number>;
}

export class CastLab {
  readonly lab: Lab;
  readonly dir: string;

  private constructor(lab: Lab) {
    this.lab = lab;
    this.dir = mkdtempSync(join(tmpdir(), 'rccast-'));
  }

  static async create(receivers: number): Promise<CastLab> {
    const hosts = [{ role: 'srv', cidr: `${SUBNET}.1/24` }];
    for (let i = 0; i < receivers; i++) hosts.push({ role: receiverRole(i), cidr: `${SUBNET}.${11 + i}/24` });
    return new CastLab(await Lab.create({ hosts }));
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }

  senderCommand(impl: Impl, input: string, n: number, extra: string[]): string[] {
    return impl === 'rackcast'
      ? [NODE, CLI, 'send', '--file', input, '--min-receivers', String(n), '--json', ...extra]
      : ['udp-sender', '--interface', 'eth0', '--nokbd', '--min-receivers', String(n), '--file', input, ...extra];
  }

  receiverCommand(impl: Impl, output: string, extra: string[]): string[] {
    return impl === 'rackcast'
      ? [NODE, CLI, 'receive', '--file', output, '--start-timeout', '60', '--receive-timeout', '30', '--json', ...extra]
      : ['udp-receiver', '--interface', 'eth0', '--nokbd', '--file', output, '--start-timeout', '60', '--receive-timeout', '30', ...extra];
  }

  async run(spec: TransferSpec): Promise<TransferOutcome> {
    const input = join(this.dir, 'input.bin');
    const data = randomBytes(spec.sizeBytes);
    writeFileSync(input, data);
    const want = createHash('sha256').update(data).digest('hex');
    const roles = spec.receivers.map((_, i) => receiverRole(i));
    for (const role of this.lab.hosts.keys()) if (role !== 'srv') await this.lab.setIngressLoss(role, 0);
    for (const role of roles) {
      if (spec.lossPct) await this.lab.setIngressLoss(role, spec.lossPct, spec.lossMatch ?? 'udp dport 9000');
    }
    const timeout = spec.timeoutMs ?? 120_000;
    const outputs = new Map(roles.map((r) => [r, join(this.dir, `out-${r}.bin`)]));
    for (const o of outputs.values()) rmSync(o, { force: true });
    const pids = new Map<string, number>();
    const t0 = Date.now();
    const receivers = spec.receivers.map((impl, i) => {
      const role = roles[i]!;
      const child = this.lab.spawn(role, this.receiverCommand(impl, outputs.get(role)!, spec.receiverArgs ?? []));
      pids.set(role, child.pid!);
      return collect(child, timeout).then((r) => ({ role, ...r }));
    });
    // Let the receivers bind before the sender's first HELLO (they would retry anyway).
    await new Promise((r) => setTimeout(r, 300));
    const senderArgv = spec.senderCommand?.(input, spec.receivers.length) ?? this.senderCommand(spec.sender, input, spec.receivers.length, spec.senderArgs ?? []);
    const senderChild = this.lab.spawn('srv', senderArgv);
    pids.set('srv', senderChild.pid!);
    let senderLog = '';
    senderChild.stderr!.on('data', (d: Buffer) => (senderLog += d.toString()));
    const sender = collect(senderChild, timeout).then((r) => ({ role: 'srv', ...r }));
    if (spec.during) await spec.during({ lab: this.lab, pids, outputs, senderLog: () => senderLog, senderStdin: senderChild.stdin!, senderExit: sender });
    const [s, ...rs] = await Promise.all([sender, ...receivers]);
    const wallMs = Date.now() - t0;
    return {
      sender: s!,
      wallMs,
      senderEvents: spec.sender === 'rackcast' ? jsonEvents(s!.stderr) : [],
      receivers: rs.map((r) => {
        const file = outputs.get(r.role)!;
        const got = existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
        return { ...r, bytes: got.length, intact: existsSync(file) && createHash('sha256').update(got).digest('hex') === want };
      }),
    };
  }
}

/** Polls `cond` every 50 ms for at most `ms`; true if it held. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  for (let t = 0; t < ms; t += 50) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** A short text for assertion messages: exit codes and the tail of each log. */
export function explain(o: TransferOutcome): string {
  const tail = (t: string) => t.split('\n').filter((l) => !l.startsWith('{"event":"cast:progress"')).slice(-6).join('\n    ');
  return [
    `sender exit ${o.sender.code}${o.sender.timedOut ? ' (timeout)' : ''}:\n    ${tail(o.sender.stderr)}`,
    ...o.receivers.map((r) => `${r.role} exit ${r.code}${r.timedOut ? ' (timeout)' : ''} intact=${r.intact} bytes=${r.bytes}:\n    ${tail(r.stderr)}`),
  ].join('\n');
}
