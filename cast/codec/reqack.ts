import { DecodeError } from '../errors.ts';
import { checkSlice } from './control.ts';
import { BITMAP_BYTES, Op } from './opcodes.ts';
import { need, view } from './read.ts';

// REQACK: 144 bytes, sender -> data address: "who has slice n?". Receivers whose bit is
// set in `ready` stay quiet; a slice of 0 bytes marks the end of the transfer.

export interface ReqAck {
  op: typeof Op.REQACK;
  slice: number;
  sliceBytes: number;
  rxmit: number;
  ready: Uint8Array;
}

export const REQACK_BYTES = 16 + BITMAP_BYTES;
const OFF_SLICE = 4;
const OFF_BYTES = 8;
const OFF_RXMIT = 12;
const OFF_MAP = 16;

export function encodeReqAck(m: Omit<ReqAck, 'op'>): Buffer {
  const out = Buffer.alloc(REQACK_BYTES);
  const v = view(out);
  v.setUint16(0, Op.REQACK);
  v.setInt32(OFF_SLICE, m.slice);
  v.setInt32(OFF_BYTES, m.sliceBytes);
  v.setInt32(OFF_RXMIT, m.rxmit);
  out.set(m.ready.subarray(0, BITMAP_BYTES), OFF_MAP);
  return out;
}

export function decodeReqAck(buf: Uint8Array): ReqAck {
  need(buf, REQACK_BYTES, 'REQACK');
  const v = view(buf);
  const sliceBytes = v.getInt32(OFF_BYTES);
  if (sliceBytes < 0) throw new DecodeError('FIELD', `REQACK slice byte count ${sliceBytes} is negative`, { sliceBytes });
  return {
    op: Op.REQACK,
    slice: checkSlice(v.getInt32(OFF_SLICE), 'REQACK'),
    sliceBytes,
    rxmit: v.getInt32(OFF_RXMIT),
    ready: Uint8Array.from(buf.subarray(OFF_MAP, OFF_MAP + BITMAP_BYTES)),
  };
}
