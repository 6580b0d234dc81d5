import { createSocket, type RemoteInfo } from 'node:dgram';

// A scriptable TFTP reader for tests: RFC 1350 + options (blksize, windowsize, tsize),
// with hooks that misbehave on purpose (duplicate ACKs, aborts after the OACK) the way
// firmware and loaded clients do. Not a product client.

export interface TftpGetOptions {
  host: string;
  port: number;
  file: string;
  options?: Record<string, string>;
  /** How many times each ACK is sent (2 = every ACK duplicated). */
  ackCopies?: number;
  /** Send ACK 0 again right after answering the OACK (what iPXE under load does). */
  duplicateOackAck?: boolean;
  /** Re-send the ACK of the previous window's last block each time a new window starts. */
  staleAcks?: boolean;
  /** Answer the OACK with ERROR 8 (EDK2's tsize probe). */
  abortAfterOack?: boolean;
  /** Wait this long before each ACK (a slow client, to keep a transfer open). */
  ackDelayMs?: number;
  /** Local address to bind (default any). */
  localAddress?: string;
  timeoutMs?: number;
}

export interface TftpGetResult {
  ok: boolean;
  data: Buffer;
  oack: Record<string, string> | null;
  error?: { code: number; message: string };
  timedOut: boolean;
  serverPort: number | null;
}

const RRQ = 1;
const DATA = 3;
const ACK = 4;
const ERROR = 5;
const OACK = 6;

function ack(block: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(ACK, 0);
  b.writeUInt16BE(block & 0xffff, 2);
  return b;
}

export function rrq(file: string, options: Record<string, string> = {}): Buffer {
  const parts = [file, 'octet', ...Object.entries(options).flat()];
  return Buffer.concat([Buffer.from([0, RRQ]), ...parts.map((p) => Buffer.from(p + '\0'))]);
}

export function tftpGet(o: TftpGetOptions): Promise<TftpGetResult> {
  const sock = createSocket('udp4');
  const blocks: Buffer[] = [];
  let blksize = 512;
  let windowsize = 1;
  let expected = 1;
  let oack: Record<string, string> | null = null;
  let server: { address: string; port: number } | null = null;
  let lastAcked = 0;
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout;
    const done = (r: Omit<TftpGetResult, 'data' | 'oack' | 'serverPort'>) => {
      clearTimeout(timer);
      sock.close();
      resolve({ ...r, data: Buffer.concat(blocks), oack, serverPort: server?.port ?? null });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => done({ ok: false, timedOut: true }), o.timeoutMs ?? 8000);
    };
    /** `then` runs once the ACK is out (closing the socket earlier would drop it). */
    const sendAck = (block: number, then?: () => void) => {
      const copies = o.ackCopies ?? 1;
      const send = () => {
        for (let i = 0; i < copies; i++) sock.send(ack(block), server!.port, server!.address, i === copies - 1 ? then : undefined);
      };
      if (o.ackDelayMs) setTimeout(send, o.ackDelayMs);
      else send();
      lastAcked = block;
    };
    sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      arm();
      server ??= { address: rinfo.address, port: rinfo.port };
      const op = msg.readUInt16BE(0);
      if (op === ERROR) return done({ ok: false, timedOut: false, error: { code: msg.readUInt16BE(2), message: msg.subarray(4).toString().replace(/\0.*$/s, '') } });
      if (op === OACK) {
        const f = msg.subarray(2).toString().split('\0');
        oack = {};
        for (let i = 0; i + 1 < f.length; i += 2) if (f[i]) oack[f[i]!] = f[i + 1]!;
        blksize = Number(oack.blksize ?? 512);
        windowsize = Number(oack.windowsize ?? 1);
        if (o.abortAfterOack) {
          const abort = Buffer.concat([Buffer.from([0, ERROR, 0, 8]), Buffer.from('User aborted the transfer\0')]);
          return sock.send(abort, server.port, server.address, () => done({ ok: false, timedOut: false }));
        }
        sendAck(0);
        if (o.duplicateOackAck) sendAck(0);
        return;
      }
      if (op !== DATA) return;
      const block = msg.readUInt16BE(2);
      if (block !== (expected & 0xffff)) {
        // Out of order: ask again from the last good block (RFC 7440 behaviour).
        return sendAck(lastAcked);
      }
      const payload = msg.subarray(4);
      blocks.push(Buffer.from(payload));
      const last = payload.length < blksize;
      if (last || expected % windowsize === 0) {
        if (o.staleAcks && expected > windowsize) sock.send(ack(lastAcked), server.port, server.address);
        sendAck(block, last ? () => done({ ok: true, timedOut: false }) : undefined);
      }
      expected++;
    });
    sock.bind(0, o.localAddress, () => {
      arm();
      sock.send(rrq(o.file, o.options), o.port, o.host);
    });
  });
}
