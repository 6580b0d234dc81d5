import { DecodeError } from '../errors.ts';
import { BITMAP_BYTES, Op } from './opcodes.ts';
import { need, view } from './read.ts';

// Receiver -> sender answers and signals: GO and DISCONNECT (4 bytes), OK (8 bytes),
// RETRANSMIT (140 bytes).

export interface Go {
  op: typeof Op.GO;
}
export interface Disconnect {
  op: typeof Op.DISCONNECT;
}

export const SIGNAL_BYTES = 4;

export function encodeSignal(op: typeof Op.GO | typeof Op.DISCONNECT): Buffer {
  const out = Buffer.alloc(SIGNAL_BYTES);
  view(out).setUint16(0, op);
  return out;
}

export interface Ok {
  op: typeof Op.OK;
  slice: number;
}

export const OK_BYTES = 8;
const OFF_SLICE = 4;

export function encodeOk(slice: number): Buffer {
  const out = Buffer.alloc(OK_BYTES);
  const v = view(out);
  v.setUint16(0, Op.OK);
  v.setInt32(OFF_SLICE, slice);
  return out;
}

export function decodeOk(buf: Uint8Array): Ok {
  need(buf, OK_BYTES, 'OK');
  return { op: Op.OK, slice: checkSlice(view(buf).getInt32(OFF_SLICE), 'OK') };
}

/** `held` has bit b set for every block b of the slice the receiver already has. */
export interface Retransmit {
  op: typeof Op.RETRANSMIT;
  slice: number;
  rxmit: number;
  held: Uint8Array;
}

export const RETRANSMIT_BYTES = 12 + BITMAP_BYTES;
const OFF_RXMIT = 8;
const OFF_MAP = 12;

export function encodeRetransmit(m: Omit<Retransmit, 'op'>): Buffer {
  const out = Buffer.alloc(RETRANSMIT_BYTES);
  const v = view(out);
  v.setUint16(0, Op.RETRANSMIT);
  v.setInt32(OFF_SLICE, m.slice);
  v.setInt32(OFF_RXMIT, m.rxmit);
  out.set(m.held.subarray(0, BITMAP_BYTES), OFF_MAP);
  return out;
}

export function decodeRetransmit(buf: Uint8Array): Retransmit {
  need(buf, RETRANSMIT_BYTES, 'RETRANSMIT');
  const v = view(buf);
  return {
    op: Op.RETRANSMIT,
    slice: checkSlice(v.getInt32(OFF_SLICE), 'RETRANSMIT'),
    rxmit: v.getInt32(OFF_RXMIT),
    held: Uint8Array.from(buf.subarray(OFF_MAP, OFF_MAP + BITMAP_BYTES)),
  };
}

export function checkSlice(slice: number, name: string): number {
  if (slice < 0) throw new DecodeError('FIELD', `${name} slice number ${slice} is negative`, { slice });
  return slice;
}
