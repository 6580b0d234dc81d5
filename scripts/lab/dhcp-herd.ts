// A herd of simulated DHCP clients from one socket: N distinct MACs, each runs DISCOVER ->
// OFFER -> REQUEST -> ACK with the broadcast flag and retransmits like a real client.
// Run inside a lab namespace; prints one JSON summary on stdout.
//
//   node scripts/lab/dhcp-herd.ts --clients 500 --spread-ms 10000 [--timeout-ms 30000]
//                                 [--mac-prefix 02:00] [--port 67] [--arch 0]
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { decodeDhcp, encodePacket, FLAG_BROADCAST, MessageType, type DhcpPacket } from '../../bootserver/index.ts';

const { values: v } = parseArgs({
  options: {
    clients: { type: 'string', default: '500' },
    'spread-ms': { type: 'string', default: '10000' },
    'timeout-ms': { type: 'string', default: '30000' },
    'mac-prefix': { type: 'string', default: '02:00' },
    port: { type: 'string', default: '67' },
    arch: { type: 'string' },
  },
});
const N = Number(v.clients);
const SPREAD = Number(v['spread-ms']);
const DEADLINE = Number(v['timeout-ms']);
const PORT = Number(v.port);
// RFC 2131 4.1: retransmit after ~4 s; shorter here to keep a lossy run bounded.
const RETRY_MS = 2000;
const MAX_TRIES = 5;

interface Client {
  mac: string;
  xid: number;
  state: 'idle' | 'selecting' | 'requesting' | 'bound' | 'failed';
  tries: number;
  started: number;
  offered?: string;
  serverId?: string;
  ip?: string;
  doneMs?: number;
  offers: number;
  acks: number;
  naks: number;
  timer?: NodeJS.Timeout;
}

const clients: Client[] = Array.from({ length: N }, (_, i) => ({
  mac: `${v['mac-prefix']}:${[(i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`,
  xid: (0x5a000000 + i) >>> 0,
  state: 'idle',
  tries: 0,
  started: 0,
  offers: 0,
  acks: 0,
  naks: 0,
}));
const byXid = new Map(clients.map((c) => [c.xid, c]));
const sock = createSocket({ type: 'udp4', reuseAddr: true });
const t0 = Date.now();
let malformed = 0;

function send(c: Client, type: MessageType): void {
  const data = encodePacket({
    op: 1,
    xid: c.xid,
    flags: FLAG_BROADCAST,
    chaddr: c.mac,
    secs: Math.min(65535, Math.floor((Date.now() - c.started) / 1000)),
    options: {
      messageType: type,
      ...(type === MessageType.REQUEST ? { serverId: c.serverId!, requestedIp: c.offered! } : {}),
      ...(v.arch !== undefined ? { clientArch: [Number(v.arch)], vendorClass: `PXEClient:Arch:${v.arch.padStart(5, '0')}:UNDI:002001` } : {}),
      paramRequest: [1, 3, 6, 12, 15, 28, 51, 54, 58, 59],
    },
  });
  sock.send(data, PORT, '255.255.255.255');
  clearTimeout(c.timer);
  c.timer = setTimeout(() => retry(c), RETRY_MS);
}

function retry(c: Client): void {
  if (c.state === 'bound' || c.state === 'failed') return;
  if (++c.tries >= MAX_TRIES) {
    c.state = 'failed';
    return finishIfDone();
  }
  // A lost OFFER or ACK: start over with DISCOVER, as a client in SELECTING/REQUESTING would.
  c.state = 'selecting';
  send(c, MessageType.DISCOVER);
}

function start(c: Client): void {
  c.started = Date.now();
  c.state = 'selecting';
  send(c, MessageType.DISCOVER);
}

function onReply(p: DhcpPacket): void {
  const c = byXid.get(p.xid);
  if (!c || p.chaddr !== c.mac) return;
  const t = p.options.messageType;
  if (t === MessageType.OFFER) {
    c.offers++;
    if (c.state !== 'selecting') return;
    c.state = 'requesting';
    c.offered = p.yiaddr;
    c.serverId = p.options.serverId ?? p.siaddr;
    send(c, MessageType.REQUEST);
  } else if (t === MessageType.ACK) {
    c.acks++;
    if (c.state !== 'requesting') return;
    c.state = 'bound';
    c.ip = p.yiaddr;
    c.doneMs = Date.now() - c.started;
    clearTimeout(c.timer);
    finishIfDone();
  } else if (t === MessageType.NAK) {
    c.naks++;
    if (c.state === 'requesting') retry(c);
  }
}

let finished = false;
let giveUp: NodeJS.Timeout | undefined;
function finishIfDone(force = false): void {
  if (finished || (!force && !clients.every((c) => c.state === 'bound' || c.state === 'failed'))) return;
  finished = true;
  clearTimeout(giveUp);
  for (const c of clients) clearTimeout(c.timer);
  const bound = clients.filter((c) => c.state === 'bound');
  const ips = bound.map((c) => c.ip!);
  const dup = ips.length - new Set(ips).size;
  const lat = bound.map((c) => c.doneMs!).sort((a, b) => a - b);
  const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]! : null);
  const summary = {
    clients: N,
    bound: bound.length,
    failed: clients.filter((c) => c.state === 'failed').length,
    unfinished: clients.filter((c) => c.state !== 'bound' && c.state !== 'failed').length,
    duplicateIps: dup,
    retries: clients.reduce((n, c) => n + c.tries, 0),
    naks: clients.reduce((n, c) => n + c.naks, 0),
    malformedReplies: malformed,
    wallMs: Date.now() - t0,
    latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: lat.at(-1) ?? null },
    leases: Object.fromEntries(bound.map((c) => [c.mac, c.ip])),
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
  sock.close();
}

sock.on('message', (msg) => {
  try {
    onReply(decodeDhcp(msg));
  } catch {
    malformed++;
  }
});
sock.bind(68, () => {
  sock.setBroadcast(true);
  clients.forEach((c, i) => setTimeout(() => start(c), N > 1 ? Math.floor((i * SPREAD) / (N - 1)) : 0));
  giveUp = setTimeout(() => finishIfDone(true), SPREAD + DEADLINE);
});
