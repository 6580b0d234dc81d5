import { writeDataHeader } from './codec/data.ts';
import { DATA_HEADER_BYTES } from './codec/opcodes.ts';

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
  const stride = DATA_HEADER_BYTES + s.blockSize;
  const start = block * stride;
  const payload = Math.min(s.blockSize, s.bytes - block * s.blockSize);
  return s.packets.subarray(start, start + DATA_HEADER_BYTES + payload);
}

/**
 * Cuts a byte stream into slices of whole blocks. A slice is filled completely unless
 * the input ends; the stream may be a pipe of unknown length (udpcast sends no total).
 */
export class SliceReader {
  private readonly iter: AsyncIterator<Uint8Array>;
  private leftover: Uint8Array | null = null;
  private ended = false;
  private nextNo = 0;
  private readonly blockSize: number;
  bytesRead = 0;

  constructor(input: AsyncIterable<Uint8Array>, blockSize: number) {
    this.blockSize = blockSize;
    this.iter = input[Symbol.asyncIterator]();
  }

  /** The next slice of at most `maxBlocks` blocks; a 0-byte slice marks the end. */
  async next(maxBlocks: number): Promise<OutSlice> {
    const bs = this.blockSize;
    const stride = DATA_HEADER_BYTES + bs;
    const capacity = maxBlocks * bs;
    const packets = Buffer.allocUnsafe(maxBlocks * stride);
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
    const no = this.nextNo++;
    const blocks = Math.ceil(filled / bs);
    for (let b = 0; b < blocks; b++) writeDataHeader(packets, b * stride, no, b, filled);
    this.bytesRead += filled;
    return { no, bytes: filled, blocks, packets, blockSize: bs };
  }

  private async pull(): Promise<Uint8Array | null> {
    if (this.ended) return null;
    for (;;) {
      const r = await this.iter.next();
      if (r.done) {
        this.ended = true;
        return null;
      }
      if (r.value.length > 0) return r.value;
    }
  }
}
