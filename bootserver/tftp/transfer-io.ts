import { isIPv4 } from 'node:net';
import { BatchReader, BatchWriter, ipToInt, type BatchIo, type ReaderStats } from '../../udp/index.ts';
import { checkedReceive, countDrop, type Transfer } from './transfer.ts';

// One transfer socket moved onto the batched-I/O addon (udp/): datagrams arrive in recvmmsg
// batches and pass the same checks as dgram's 'message' events, sends leave with sendmmsg.
// A lockstep client waits for every block, and dgram's per-datagram layer was most of a Node
// server's CPU per block (docs/bootserver.md, "Batched I/O"). On the addon the socket also
// busy-polls for the next ACK after answering one: a lockstep block costs two wake-ups of a
// sleeping process, and with the server awake one of them is saved (docs/bootserver.md,
// "Busy-polling"). Without the addon, or when the server says so, the transfer stays on
// dgram as the package set it up.

export interface TransferIoOptions {
  /** Use the addon when this build has it (server.batchIo). */
  batched: boolean;
  /** How long to read on for the next ACK after answering one, 0 for not at all (tftp.busyPollUs). */
  busyPollUs: number;
}

export interface TransferIo {
  readonly path: BatchIo;
  /** The reader's wake-ups and spins so far, final once ended; null on dgram. */
  stats(): ReaderStats | null;
  /** Stops reading (again: nothing); the package closes the socket itself. */
  end(): void;
}

const ON_DGRAM: TransferIo = { path: 'dgram', stats: () => null, end: () => {} };

/** Call when the package has bound the transfer's socket and sent nothing yet (its 'request' event). */
export function startTransferIo(t: Transfer, o: TransferIoOptions): TransferIo {
  if (!o.batched || !isIPv4(t._address)) return ON_DGRAM;
  const sock = t._socket;
  let queued = 0;
  const writer = BatchWriter.open(sock, t._port, {
    pending: () => queued,
    send: (pkt) => {
      queued++;
      sock.send(pkt, t._port, t._address, () => queued--);
    },
    error: (err) => sock.emit('error', err),
  });
  const receive = checkedReceive(t);
  const reader =
    writer &&
    BatchReader.start(sock, {
      // The view is valid during the call only; the package may keep what it is given.
      datagram: (buf, from) => !t._closed && !t._closing && receive(Buffer.from(buf), from),
      truncated: () => countDrop(t, 'long'),
      error: (err) => sock.emit('error', err),
    });
  if (!writer || !reader) return ON_DGRAM;
  reader.busyPoll(o.busyPollUs);
  const to = ipToInt(t._address);
  t._send = (packet, cb) => {
    if (t._closed || t._closing) return;
    writer.push(packet, to);
    writer.flush();
    if (cb) process.nextTick(cb);
  };
  return { path: 'mmsg', stats: () => reader.stats(), end: () => reader.stop() };
}
