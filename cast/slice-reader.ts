import { readv } from 'node:fs';
import { writeDataHeader } from './codec/data.ts';
import { DATA_HEADER_BYTES } from './codec/opcodes.ts';

/** readv at the current position (files and pipes alike); resolves with the byte count. */
function readvAsync(fd: number, iov: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => readv(fd, iov, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * A slice as the sender keeps it: ready-to-send DATA packets laid out back to back
 * (16-byte header + payload each), so sending and re-sending a block is a subarray,
 * never a copy.
 */
export interface OutSlice {
  no: number;
  bytes: number;
  blocks: number;
  packets: Buffer;
  blockSize: number;
}

export function packetOf(s: OutSlice, block: number): Buffer {
  const r = runOf(s, block, 1);
  return s.packets.subarray(r.off, r.off + r.last);
}

/** Where `count` packets from `block` on lie in s.packets: every one `stride` bytes, the last `last`. */
export function runOf(s: OutSlice, block: number, count: number): { off: number; stride: number; last: number } {
  const stride = DATA_HEADER_BYTES + s.blockSize;
  const lastBlock = block + count - 1;
  return { off: block * stride, stride, last: DATA_HEADER_BYTES + Math.min(s.blockSize, s.bytes - lastBlock * s.blockSize) };
}

/**
 * What the sender reads: a file descriptor of a regular file (read with one scatter
 * readv per slice straight into the packet layout), or any byte stream (a pipe, a tar
 * process): chunks are copied in. The stream may be of unknown length (udpcast sends
 * no total).
 */
export type CastInput = { fd: number } | AsyncIterable<Uint8Array>;

export function isStream(input: CastInput): input is AsyncIterable<Uint8Array> {
  return Symbol.asyncIterator in input;
}

/** Cuts the input into slices of whole blocks, filled completely unless the input ends. */
export class SliceReader {
  private readonly iter: AsyncIterator<Uint8Array> | null;
  private readonly fd: number | null;
  private readonly blockSize: number;
  private leftover: Uint8Array | null = null;
  private ended = false;
  private nextNo = 0;
  /** Packet buffers of finished slices, reused: fresh ones cost page faults per slice. */
  private readonly spare: Buffer[] = [];

  constructor(input: CastInput, blockSize: number) {
    this.blockSize = blockSize;
    // process.stdin has an `fd` too, on a non-blocking pipe: anything iterable is a stream.
    this.iter = isStream(input) ? input[Symbol.asyncIterator]() : null;
    this.fd = isStream(input) ? null : input.fd;
  }

  /** The next slice of at most `maxBlocks` blocks; a 0-byte slice marks the end. */
  async next(maxBlocks: number): Promise<OutSlice> {
    const stride = DATA_HEADER_BYTES + this.blockSize;
    const size = maxBlocks * stride;
    const i = this.spare.findIndex((b) => b.length === size);
    const packets = i >= 0 ? this.spare.splice(i, 1)[0]! : Buffer.allocUnsafe(size);
    const filled = this.fd !== null ? await this.fillFromFd(packets, maxBlocks) : await this.fillFromStream(packets, maxBlocks);
    const no = this.nextNo++;
    const blocks = Math.ceil(filled / this.blockSize);
    for (let b = 0; b < blocks; b++) writeDataHeader(packets, b * stride, no, b, filled);
    return { no, bytes: filled, blocks, packets, blockSize: this.blockSize };
  }

  /** Gives a slice's buffer back once no packet of it will be sent again. */
  release(s: OutSlice): void {
    if (this.spare.length < 4) this.spare.push(s.packets);
  }

  private async fillFromFd(packets: Buffer, maxBlocks: number): Promise<number> {
    const bs = this.blockSize;
    const stride = DATA_HEADER_BYTES + bs;
    let filled = 0;
    while (!this.ended && filled < maxBlocks * bs) {
      const iov: Buffer[] = [];
      const first = Math.floor(filled / bs);
      for (let b = first; b < maxBlocks; b++) {
        const start = b * stride + DATA_HEADER_BYTES + (b === first ? filled - first * bs : 0);
        iov.push(packets.subarray(start, (b + 1) * stride));
      }
      const n = await readvAsync(this.fd!, iov);
      if (n === 0) this.ended = true;
      filled += n;
    }
    return filled;
  }

  private async fillFromStream(packets: Buffer, maxBlocks: number): Promise<number> {
    const bs = this.blockSize;
    const stride = DATA_HEADER_BYTES + bs;
    const capacity = maxBlocks * bs;
    let filled = 0;
    while (filled < capacity) {
      const chunk = this.leftover ?? (await this.pull());
      this.leftover = null;
      if (!chunk) break;
      let off = 0;
      while (off < chunk.length && filled < capacity) {
        const block = Math.floor(filled / bs);
        const inBlock = filled - block * bs;
        const n = Math.min(bs - inBlock, chunk.length - off, capacity - filled);
        packets.set(chunk.subarray(off, off + n), block * stride + DATA_HEADER_BYTES + inBlock);
        off += n;
        filled += n;
      }
      if (off < chunk.length) this.leftover = chunk.subarray(off);
    }
    return filled;
  }

  private async pull(): Promise<Uint8Array | null> {
    if (this.ended) return null;
    for (;;) {
      const r = await this.iter!.next();
      if (r.done) {
        this.ended = true;
        return null;
      }
      if (r.value.length > 0) return r.value;
    }
  }
}
