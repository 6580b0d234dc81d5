import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { decodeData } from '../../../cast/codec/index.ts';
import { packetOf, SliceReader, type CastInput, type OutSlice } from '../../../cast/slice-reader.ts';

// The slice reader is the sender's stream decoder: whatever the chunking of the input,
// the DATA packets must carry the same bytes in the same order.

async function* chunks(data: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function readAll(input: CastInput, blockSize: number, sliceBlocks: number): Promise<{ slices: OutSlice[]; payload: Buffer }> {
  const reader = new SliceReader(input, blockSize);
  const slices: OutSlice[] = [];
  const parts: Buffer[] = [];
  for (;;) {
    const s = await reader.next(sliceBlocks);
    slices.push({ ...s, packets: Buffer.from(s.packets) });
    for (let b = 0; b < s.blocks; b++) {
      const d = decodeData(packetOf(s, b));
      expect(d).toMatchObject({ slice: s.no, block: b, sliceBytes: s.bytes });
      parts.push(Buffer.from(d.payload));
    }
    reader.release(s);
    if (s.bytes === 0) return { slices, payload: Buffer.concat(parts) };
  }
}

describe('SliceReader', () => {
  const data = randomBytes(10 * 64 + 37);

  test.each([1, 7, 64, 1000, data.length])('a stream fed in chunks of %i bytes yields the same packets', async (size) => {
    const { slices, payload } = await readAll(chunks(data, size), 64, 4);
    expect(payload.equals(data)).toBe(true);
    expect(slices.map((s) => s.bytes)).toEqual([256, 256, 165, 0]);
    expect(slices.map((s) => s.no)).toEqual([0, 1, 2, 3]);
  });

  test('a file read by descriptor gives the same slices as the stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rcslice-'));
    try {
      writeFileSync(join(dir, 'f'), data);
      const fd = openSync(join(dir, 'f'), 'r');
      const byFd = await readAll({ fd }, 64, 4);
      closeSync(fd);
      const byStream = await readAll(chunks(data, 13), 64, 4);
      expect(byFd.payload.equals(data)).toBe(true);
      expect(byFd.slices.map((s) => s.packets.subarray(0, s.blocks * 80).toString('hex'))).toEqual(
        byStream.slices.map((s) => s.packets.subarray(0, s.blocks * 80).toString('hex')),
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test('empty input is one empty slice: the end marker', async () => {
    const { slices } = await readAll(chunks(Buffer.alloc(0), 1), 64, 4);
    expect(slices.map((s) => [s.no, s.bytes, s.blocks])).toEqual([[0, 0, 0]]);
  });
});
