import { closeSync, createReadStream, createWriteStream, fstatSync, openSync, type ReadStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { defined, intOption, parseCommandLine, secondsOption } from '../common/args.ts';
import { describeError, RackcastError, UsageError } from '../common/errors.ts';
import { createLogger } from '../common/log.ts';
import { Terminal } from '../common/terminal.ts';
import { formatBytes, formatRate, parseBitrate, parseSize } from '../common/units.ts';
import { CastReceiver, type ReceiverOptions } from './receiver.ts';
import { CastSender, type SenderOptions } from './sender.ts';
import { isStream, type CastInput } from './slice-reader.ts';

// `rackcast send` and `rackcast receive`: udpcast's option names and meanings, our
// defaults and exit codes. 0 = every receiver got everything, 1 = the transfer failed
// for some receiver (they are listed), 2 = bad usage, 3 = could not run at all.

export const EXIT_OK = 0;
export const EXIT_INCOMPLETE = 1;
export const EXIT_USAGE = 2;
export const EXIT_FAILED = 3;

const COMMON = {
  file: { type: 'string' },
  interface: { type: 'string' },
  portbase: { type: 'string' },
  'mcast-rdv-address': { type: 'string' },
  ttl: { type: 'string' },
  'start-timeout': { type: 'string' },
  nokbd: { type: 'boolean' },
  'no-batch-io': { type: 'boolean' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const SEND_HELP = `usage: rackcast send [--file F] [options]     (reads stdin without --file)
  --interface IF            NIC name or IPv4 address to send on
  --portbase P              receivers use P, the sender P+1 (default 9000)
  --min-receivers N         start once N receivers joined
  --min-wait S / --max-wait S   start no earlier / at the latest S seconds after the first join
  --start-timeout S         give up if no receiver speaks for S seconds before the start
  --drop-timeout S          drop a receiver silent for S seconds (default 5)
  --max-bitrate R           cap the send rate (bits/s, e.g. 600m)
  --blocksize B             payload bytes per packet (default 1456)
  --slice-size N            blocks per slice (default: sized to the receivers' buffers)
  --mcast-data-address G    data group (default derived from the sender IP, as udpcast)
  --mcast-rdv-address G     rendezvous group (default: interface broadcast address)
  --ttl N                   multicast TTL (default 1)
  --pointopoint / --nopointopoint   unicast for one receiver: force / never (default: auto)
  --rexmit-hello-interval MS    HELLO repeat period (default 1000)
  --nokbd                   accepted for udpcast compatibility (never reads the keyboard)
  --no-batch-io             one system call per datagram (plain dgram), not sendmmsg batches
  --json                    progress and results as JSON lines on stderr
exit status: 0 all receivers got everything, 1 some did not (listed), 2 usage, 3 error`;

export const RECEIVE_HELP = `usage: rackcast receive [--file F] [options]  (writes stdout without --file)
  --interface IF            NIC name or IPv4 address to listen on
  --portbase P              must match the sender's (default 9000)
  --rcvbuf N                socket receive buffer (default 8m; capped by net.core.rmem_max)
  --start-timeout S         give up if the transfer has not started after S seconds
  --receive-timeout S       give up if the sender is silent for S seconds mid-transfer
  --exit-wait MS            linger after the end to answer late REQACKs (default 500)
  --mcast-rdv-address G, --ttl N   must match the sender's
  --nokbd                   accepted for udpcast compatibility
  --no-batch-io             one system call per datagram (plain dgram), not recvmmsg batches
  --json                    progress and results as JSON lines on stderr
exit status: 0 received everything, 1 transfer failed, 2 usage, 3 error`;

function portbase(v: string | undefined): number | undefined {
  const p = intOption('portbase', v, 1, 65534);
  if (p !== undefined && p % 2 !== 0) throw UsageError.badValue('--portbase', v, 'an even port number (receivers use P, the sender P+1)');
  return p;
}

function ipv4(key: string, v: string | undefined): string | undefined {
  if (v !== undefined && !/^(\d{1,3})(\.\d{1,3}){3}$/.test(v)) throw UsageError.badValue(`--${key}`, v, 'an IPv4 address');
  return v;
}

export function parseSendArgs(argv: string[]): { file?: string; json: boolean; verbose: boolean; help: boolean; options: Partial<SenderOptions> } {
  const { values: v } = parseCommandLine(argv, {
    ...COMMON,
    'min-receivers': { type: 'string' },
    'min-wait': { type: 'string' },
    'max-wait': { type: 'string' },
    'drop-timeout': { type: 'string' },
    'max-bitrate': { type: 'string' },
    blocksize: { type: 'string' },
    'slice-size': { type: 'string' },
    'mcast-data-address': { type: 'string' },
    pointopoint: { type: 'boolean' },
    nopointopoint: { type: 'boolean' },
    'rexmit-hello-interval': { type: 'string' },
  });
  if (v.pointopoint && v.nopointopoint) throw new UsageError('--pointopoint and --nopointopoint exclude each other');
  const options = defined<Partial<SenderOptions>>({
    interface: v.interface,
    portbase: portbase(v.portbase),
    minReceivers: intOption('min-receivers', v['min-receivers'], 1, 1024),
    minWaitMs: secondsOption('min-wait', v['min-wait']),
    maxWaitMs: secondsOption('max-wait', v['max-wait']),
    startTimeoutMs: secondsOption('start-timeout', v['start-timeout']),
    dropTimeoutMs: secondsOption('drop-timeout', v['drop-timeout']),
    maxBitrate: v['max-bitrate'] === undefined ? undefined : parseBitrate('--max-bitrate', v['max-bitrate']),
    blockSize: intOption('blocksize', v.blocksize, 64, 8972),
    sliceBlocks: intOption('slice-size', v['slice-size'], 1, 1024),
    mcastDataAddress: ipv4('mcast-data-address', v['mcast-data-address']),
    mcastRdvAddress: ipv4('mcast-rdv-address', v['mcast-rdv-address']),
    ttl: intOption('ttl', v.ttl, 1, 255),
    pointToPoint: v.pointopoint ? 'on' : v.nopointopoint ? 'off' : undefined,
    helloIntervalMs: intOption('rexmit-hello-interval', v['rexmit-hello-interval'], 10, 60000),
    batchIo: v['no-batch-io'] ? false : undefined,
  });
  return { file: v.file, json: Boolean(v.json), verbose: Boolean(v.verbose), help: Boolean(v.help), options };
}

export function parseReceiveArgs(argv: string[]): { file?: string; json: boolean; verbose: boolean; help: boolean; options: Partial<ReceiverOptions> } {
  const { values: v } = parseCommandLine(argv, {
    ...COMMON,
    rcvbuf: { type: 'string' },
    'receive-timeout': { type: 'string' },
    'exit-wait': { type: 'string' },
  });
  const options = defined<Partial<ReceiverOptions>>({
    interface: v.interface,
    portbase: portbase(v.portbase),
    rcvbufBytes: v.rcvbuf === undefined ? undefined : parseSize('--rcvbuf', v.rcvbuf),
    startTimeoutMs: secondsOption('start-timeout', v['start-timeout']),
    receiveTimeoutMs: secondsOption('receive-timeout', v['receive-timeout']),
    exitWaitMs: intOption('exit-wait', v['exit-wait'], 0, 60000),
    mcastRdvAddress: ipv4('mcast-rdv-address', v['mcast-rdv-address']),
    ttl: intOption('ttl', v.ttl, 1, 255),
    batchIo: v['no-batch-io'] ? false : undefined,
  });
  return { file: v.file, json: Boolean(v.json), verbose: Boolean(v.verbose), help: Boolean(v.help), options };
}

function abortOnSignals(): AbortSignal {
  const ac = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => ac.abort());
  return ac.signal;
}

export async function sendCommand(argv: string[]): Promise<number> {
  const args = parseSendArgs(argv);
  if (args.help) {
    process.stdout.write(SEND_HELP + '\n');
    return EXIT_OK;
  }
  const term = new Terminal({ json: args.json });
  const log = createLogger(term.log, 'cast:sender', args.verbose ? 'debug' : 'info');
  const sender = new CastSender(args.options, { log });
  sender.on('listening', (l) => term.event('cast:listening', { ...l }));
  sender.on('progress', (p) => {
    term.event('cast:progress', { ...p });
    if (p.phase === 'transfer') {
      term.status(`sent ${formatBytes(p.bytes)}  ${formatRate(p.rateBytesPerSec)}  ${p.receivers} receivers  ${p.blocksRetransmitted} blocks retransmitted`);
    }
  });
  sender.on('receiver-joined', (r) => term.event('cast:receiver-joined', { ...r }));
  sender.on('receiver-left', (r) => term.event('cast:receiver-left', { ...r }));
  sender.on('started', (s) => term.event('cast:started', { ...s }));
  const input = openInput(args.file);
  try {
    const r = await sender.send(input, { signal: abortOnSignals() });
    closeInput(input);
    const mb = r.stats.bytes;
    const secs = r.durationMs / 1000;
    term.event('cast:done', { ok: r.ok, durationMs: r.durationMs, receivers: r.receivers, stats: r.stats });
    term.line(
      `${r.ok ? 'done' : 'INCOMPLETE'}: ${formatBytes(mb)} in ${secs.toFixed(1)} s (${formatRate(secs > 0 ? mb / secs : 0)}) to ` +
        `${r.receivers.filter((x) => x.status === 'done').length}/${r.receivers.length} receivers, ` +
        `${r.stats.blocksRetransmitted} of ${r.stats.blocksSent} blocks retransmitted` +
        (r.stats.malformed + r.stats.foreign ? `, ${r.stats.malformed + r.stats.foreign} bad datagrams dropped` : ''),
    );
    for (const x of r.receivers.filter((x) => x.status !== 'done')) {
      term.line(`  FAILED ${x.address} (#${x.slot}): ${x.status}, ${x.reason ?? ''} after ${formatBytes(x.bytesAcked)}`);
    }
    return r.ok ? EXIT_OK : EXIT_INCOMPLETE;
  } catch (err) {
    closeInput(input);
    term.event('cast:error', errorFields(err));
    term.line(`error: ${describeError(err)}`);
    return EXIT_FAILED;
  }
}

export async function receiveCommand(argv: string[]): Promise<number> {
  const args = parseReceiveArgs(argv);
  if (args.help) {
    process.stdout.write(RECEIVE_HELP + '\n');
    return EXIT_OK;
  }
  const term = new Terminal({ json: args.json });
  const log = createLogger(term.log, 'cast:receiver', args.verbose ? 'debug' : 'info');
  const receiver = new CastReceiver(args.options, { log });
  receiver.on('listening', (l) => term.event('cast:listening', { ...l }));
  receiver.on('progress', (p) => {
    term.event('cast:progress', { ...p });
    if (p.phase === 'transfer') term.status(`received ${formatBytes(p.bytes)}  ${formatRate(p.rateBytesPerSec)}  ${p.retransmitRequests} retransmit requests`);
  });
  receiver.on('connected', (c) => term.event('cast:connected', { ...c }));
  const output = args.file ? createWriteStream(args.file) : process.stdout;
  try {
    const r = await receiver.receive(output, { signal: abortOnSignals() });
    if (args.file) {
      output.end();
      await finished(output);
    }
    const secs = r.durationMs / 1000;
    term.event('cast:done', { ok: true, ...r });
    term.line(`done: ${formatBytes(r.stats.bytes)} in ${secs.toFixed(1)} s (${formatRate(secs > 0 ? r.stats.bytes / secs : 0)}) from ${r.sender}, ${r.stats.retransmitRequests} retransmit requests`);
    return EXIT_OK;
  } catch (err) {
    if (args.file) output.destroy();
    term.event('cast:error', errorFields(err));
    term.line(`error: ${describeError(err)}${args.file ? ` (${args.file} is incomplete)` : ''}`);
    return err instanceof RackcastError && err.code === 'CAST_BIND' ? EXIT_FAILED : EXIT_INCOMPLETE;
  }
}

/** Regular files are read by fd (one readv per slice); pipes and terminals as streams. */
function openInput(file: string | undefined): CastInput {
  if (file === undefined) {
    if (process.stdin.isTTY) throw new UsageError('refusing to send what is typed on a terminal; give --file or pipe data in');
    return fstatSync(0).isFile() ? { fd: 0 } : process.stdin;
  }
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new UsageError(`cannot read --file ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (fstatSync(fd).isFile()) return { fd };
  closeSync(fd);
  return createReadStream(file, { highWaterMark: 1 << 20 });
}

function closeInput(input: CastInput): void {
  if (!isStream(input)) {
    if (input.fd !== 0) closeSync(input.fd);
  } else if (input !== process.stdin) (input as ReadStream).destroy();
}

function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof RackcastError) return { code: err.code, message: err.message, remedy: err.remedy, details: err.details };
  return { code: 'INTERNAL', message: String(err) };
}
