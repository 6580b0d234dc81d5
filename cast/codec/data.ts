import { DecodeError } from '../errors.ts';
import { checkSlice } from './control.ts';
import { DATA_HEADER_BYTES, MAX_BLOCKS_PER_SLICE, Op } from './opcodes.ts';
import { need, view } from './read.ts';

// DATA and FEC: 16-byte header + payload, sender -> data address. Every packet carries
// the byte count of its whole slice, so slices may differ in size.

export interface Data {
  op: typeof Op.DATA;
  slice: number;
  block: number;
  sliceBytes: number;
  payload: Uint8Array;
}

export interface Fec {
  op: typeof Op.FEC;
  stripes: number;
  slice: number;
  block: number;
  sliceBytes: number;
  payload: Uint8Array;
}

const OFF_STRIPES = 2;
/** Field offsets, exported for the receiver's allocation-free DATA path. */
export const DATA_OFF_SLICE = 4;
export const DATA_OFF_BLOCK = 8;
export const DATA_OFF_BYTES = 12;
const OFF_SLICE = DATA_OFF_SLICE;
const OFF_BLOCK = DATA_OFF_BLOCK;
const OFF_BYTES = DATA_OFF_BYTES;

/** Writes a DATA header in place (the sender lays slices out as header+payload runs). */
export function writeDataHeader(buf: Buffer, off: number, slice: number, block: number, sliceBytes: number): void {
  // Buffer's own writers: a DataView per header was a visible cost at 100k+ blocks/s.
  buf.writeUInt16BE(Op.DATA, off);
  buf.writeUInt16BE(0, off + OFF_STRIPES);
  buf.writeInt32BE(slice, off + OFF_SLICE);
  buf.writeUInt16BE(block, off + OFF_BLOCK);
  buf.writeUInt16BE(0, off + OFF_BLOCK + 2);
  buf.writeInt32BE(sliceBytes, off + OFF_BYTES);
}

export function encodeData(m: Omit<Data, 'op'>): Buffer {
  const out = Buffer.alloc(DATA_HEADER_BYTES + m.payload.length);
  writeDataHeader(out, 0, m.slice, m.block, m.sliceBytes);
  out.set(m.payload, DATA_HEADER_BYTES);
  return out;
}

export function encodeFec(m: Omit<Fec, 'op'>): Buffer {
  const out = Buffer.alloc(DATA_HEADER_BYTES + m.payload.length);
  const v = view(out);
  v.setUint16(0, Op.FEC);
  v.setUint16(OFF_STRIPES, m.stripes);
  v.setInt32(OFF_SLICE, m.slice);
  v.setUint16(OFF_BLOCK, m.block);
  v.setInt32(OFF_BYTES, m.sliceBytes);
  out.set(m.payload, DATA_HEADER_BYTES);
  return out;
}

function decodeHeader(buf: Uint8Array, name: string) {
  need(buf, DATA_HEADER_BYTES, name);
  const v = view(buf);
  const slice = checkSlice(v.getInt32(OFF_SLICE), name);
  const block = v.getUint16(OFF_BLOCK);
  const sliceBytes = v.getInt32(OFF_BYTES);
  if (block >= MAX_BLOCKS_PER_SLICE) {
    throw new DecodeError('FIELD', `${name} block number ${block} exceeds ${MAX_BLOCKS_PER_SLICE - 1}`, { block });
  }
  if (sliceBytes < 0) throw new DecodeError('FIELD', `${name} slice byte count ${sliceBytes} is negative`, { sliceBytes });
  return { stripes: v.getUint16(OFF_STRIPES), slice, block, sliceBytes, payload: buf.subarray(DATA_HEADER_BYTES) };
}

export function decodeData(buf: Uint8Array): Data {
  const { slice, block, sliceBytes, payload } = decodeHeader(buf, 'DATA');
  return { op: Op.DATA, slice, block, sliceBytes, payload };
}

export function decodeFec(buf: Uint8Array): Fec {
  return { op: Op.FEC, ...decodeHeader(buf, 'FEC') };
}
