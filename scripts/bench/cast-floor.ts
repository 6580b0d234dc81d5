// The least a one-to-many transfer in Node can do per datagram: a reference for
// `make bench-cast`, not a transfer tool. No protocol: the sender waits until N receivers
// said hello, sends the file as numbered 1,456-byte blocks from a connected socket (64 sends
// in flight) to a multicast group, or to the one receiver as udpcast and rackcast do for one,
// then an end mark; a receiver writes each block at
// its place and saves the copy at the end mark. Nothing lost is resent, so a copy is
// byte-exact only if nothing was lost. Whatever this reaches is the ceiling of Node's dgram
// and event loop for this lab, whatever the protocol code. With --batched, the same blocks
// go through the addon built from cast-floor-batched.c (sendmmsg/recvmmsg, 64 per call).
//
//   node scripts/bench/cast-floor.ts send <file> <receivers> <own address> [--batched <addon>]
//   node scripts/bench/cast-floor.ts receive <out> <size> <sender address> <own address> [--batched <addon>]
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

interface BatchedFloor {
  send(data: Buffer, to: string, port: number, own: string): number;
  receive(copy: Buffer, port: number, group: string, own: string, rcvbufBytes: number, done: (error: string | null, blocks: number, calls: number) => void): void;
}

const GROUP = '239.77.1.1';
const DATA_PORT = 9000;
const HELLO_PORT = 9101;
const BLOCK = 1456;
const IN_FLIGHT = 64;
const END = 0xffffffff;
/** The end mark is sent this many times, 1 ms apart: a receiver that misses all of them times out in the bench. */
const END_COPIES = 20;

const RCVBUF = 8 << 20;

const argv = process.argv.slice(2);
const at = argv.indexOf('--batched');
const batched = at < 0 ? null : (createRequire(import.meta.url)(argv.splice(at, 2)[1]!) as BatchedFloor);
const [mode, ...args] = argv;
if (mode === 'send' && args.length === 3) send(readFileSync(args[0]!), Number(args[1]), args[2]!);
else if (mode === 'receive' && args.length === 4) receive(args[0]!, Number(args[1]), args[2]!, args[3]!);
else throw new Error('usage: cast-floor.ts send <file> <receivers> <own address> | receive <out> <size> <sender address> <own address>, each [--batched <addon>]');

function send(data: Buffer, receivers: number, own: string): void {
  const hello = createSocket('udp4');
  const ready = new Set<string>();
  hello.on('message', (_m, peer) => {
    ready.add(peer.address);
    if (ready.size === receivers) {
      hello.close();
      const to = receivers === 1 ? peer.address : GROUP;
      if (batched) blastBatched(batched, data, own, to);
      else blast(data, own, to);
    }
  });
  hello.bind(HELLO_PORT);
}

function blast(data: Buffer, own: string, to: string): void {
  const tx = createSocket('udp4');
  // Unicast: once the receiver saved its copy and left, the later end marks come back refused.
  tx.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ECONNREFUSED') throw err;
  });
  const blocks = Math.ceil(data.length / BLOCK);
  let next = 0;
  let inFlight = 0;
  const pump = (): void => {
    for (; inFlight < IN_FLIGHT && next < blocks; next++, inFlight++) {
      const header = Buffer.allocUnsafe(4);
      header.writeUInt32BE(next, 0);
      tx.send([header, data.subarray(next * BLOCK, (next + 1) * BLOCK)], sent);
    }
    if (next === blocks && inFlight === 0) end();
  };
  const sent = (): void => {
    inFlight--;
    pump();
  };
  let ending = false;
  const end = (): void => {
    if (ending) return;
    ending = true;
    const mark = Buffer.alloc(4);
    mark.writeUInt32BE(END, 0);
    let copies = 0;
    const t = setInterval(() => {
      tx.send(mark);
      if (++copies === END_COPIES) {
        clearInterval(t);
        tx.close();
      }
    }, 1);
  };
  tx.bind(0, own, () => {
    tx.setMulticastTTL(1);
    tx.setMulticastInterface(own);
    tx.connect(DATA_PORT, to, (err?: Error) => {
      if (err) throw err;
      process.stderr.write('floor: sending\n');
      pump();
    });
  });
}

function blastBatched(addon: BatchedFloor, data: Buffer, own: string, to: string): void {
  process.stderr.write('floor: sending\n');
  const calls = addon.send(data, to, DATA_PORT, own);
  process.stderr.write(`floor: ${calls} sendmmsg calls\n`);
}

function receive(out: string, size: number, sender: string, own: string): void {
  const copy = Buffer.alloc(size);
  const hello = createSocket('udp4');
  let blocks = 0;
  const save = (extra = ''): void => {
    writeFileSync(out, copy);
    process.stderr.write(`floor: ${blocks} of ${Math.ceil(size / BLOCK)} blocks${extra}\n`);
    process.exit(0);
  };
  // Hello until the data flows: the sender may start after this receiver. The addon reports
  // only at the end mark, so a batched receiver says hello (5 a second, ignored) until then.
  const sayHello = (): void => {
    const t = setInterval(() => (blocks ? clearInterval(t) : hello.send('hello', HELLO_PORT, sender)), 200);
    hello.send('hello', HELLO_PORT, sender);
  };
  if (batched) {
    batched.receive(copy, DATA_PORT, GROUP, own, RCVBUF, (error, got, calls) => {
      if (error) throw new Error(`batched receive: ${error}`);
      blocks = got;
      save(` (${(got / Math.max(calls, 1)).toFixed(1)} per recvmmsg)`);
    });
    sayHello();
    return;
  }
  const rx = createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: RCVBUF });
  rx.on('message', (m) => {
    if (m.length < 4) return;
    const n = m.readUInt32BE(0);
    if (n !== END) {
      blocks++;
      m.copy(copy, n * BLOCK, 4);
      return;
    }
    save();
  });
  rx.bind(DATA_PORT, () => {
    rx.addMembership(GROUP, own);
    sayHello();
  });
}
