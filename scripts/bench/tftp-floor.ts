// The least a TFTP server in Node can do per block: a reference for `make bench-boot`, not a
// server to use. Read requests only, lockstep (no windowsize), blksize and tsize; no resends,
// no checks beyond the opcode and block number. Each transfer's socket is connected to its
// client, which saves the per-send address lookup. Whatever this reaches is the ceiling of
// Node's event loop and dgram for a lockstep client on this host, for a server that sleeps
// between blocks. With --batched, each transfer socket's I/O goes through the batched-I/O
// addon (udp/) instead of dgram's events and sends: the ceiling of a server on that path
// that does not busy-poll (rackcast serve does: docs/bootserver.md).
//
//   node scripts/bench/tftp-floor.ts <root> <address> [--batched]   (listens on <address>:69)
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchReader, BatchWriter } from '../../udp/index.ts';

const [root, address, flag] = process.argv.slice(2);
const batched = flag === '--batched';
if (!root || !address) throw new Error('usage: tftp-floor.ts <root> <address>');

const RRQ = 1;
const DATA = 3;
const ACK = 4;
const OACK = 6;

const listener = createSocket('udp4');
listener.on('message', (msg, peer) => {
  if (msg.length < 4 || msg.readUInt16BE(0) !== RRQ) return;
  const [file = '', , ...pairs] = msg.subarray(2).toString('latin1').split('\0');
  const opts = new Map<string, string>();
  for (let i = 0; i + 1 < pairs.length; i += 2) opts.set(pairs[i]!.toLowerCase(), pairs[i + 1]!);
  serve(readFileSync(join(root, file)), opts, peer.port, peer.address);
});
listener.bind(69, address);

function serve(data: Buffer, opts: Map<string, string>, port: number, host: string): void {
  const blksize = Math.min(Number(opts.get('blksize') ?? 512), 65464);
  // The last block is shorter than blksize, empty when the size is a multiple of it.
  const blocks = Math.floor(data.length / blksize) + 1;
  const sock = createSocket('udp4');
  let sent = 0;
  const sendBlock = (n: number) => {
    const chunk = data.subarray((n - 1) * blksize, Math.min(n * blksize, data.length));
    const packet = Buffer.allocUnsafe(4 + chunk.length);
    packet.writeUInt16BE(DATA, 0);
    packet.writeUInt16BE(n & 0xffff, 2);
    chunk.copy(packet, 4);
    send(packet);
  };
  let send = (packet: Buffer) => sock.send(packet);
  let reader: BatchReader | null = null;
  const onAck = (m: Buffer) => {
    if (m.length < 4 || m.readUInt16BE(0) !== ACK) return close();
    if (m.readUInt16BE(2) !== (sent & 0xffff)) return;
    if (sent === blocks) return close();
    sendBlock(++sent);
  };
  const close = () => {
    reader?.stop();
    sock.close();
  };
  sock.on('message', onAck);
  sock.connect(port, host, () => {
    if (batched) {
      const writer = BatchWriter.open(sock, port, { pending: () => 0, send: (p) => sock.send(p), error: (e) => console.error(e.message) });
      reader = BatchReader.start(sock, { datagram: onAck, truncated: () => {}, error: (e) => console.error(e.message) });
      if (!writer || !reader) throw new Error('--batched: the addon is missing (make native)');
      send = (packet) => {
        writer.push(packet);
        writer.flush();
      };
    }
    const ack: string[] = [];
    if (opts.has('blksize')) ack.push('blksize', String(blksize));
    if (opts.has('tsize')) ack.push('tsize', String(data.length));
    if (ack.length === 0) return sendBlock(++sent);
    sock.send(Buffer.concat([Buffer.from([0, OACK]), Buffer.from(`${ack.join('\0')}\0`, 'latin1')]));
  });
}
