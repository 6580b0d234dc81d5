import { DecodeError } from '../errors.ts';
import { MAX_RECEIVERS, Op } from './opcodes.ts';
import { need, readIPv4, view, writeIPv4 } from './read.ts';

// CONNECT_REQ: 12 bytes, receiver -> sender. The C sender zero-fills short requests from
// old receivers, so a 4-byte request is accepted too.
export interface ConnectReq {
  op: typeof Op.CONNECT_REQ;
  capabilities: number;
  /** The receiver's SO_RCVBUF as the kernel reports it; used to size slices. */
  rcvbufBytes: number;
}

export const CONNECT_REQ_BYTES = 12;
const REQ_OFF_CAPS = 4;
const REQ_OFF_RCVBUF = 8;

export function encodeConnectReq(m: Omit<ConnectReq, 'op'>): Buffer {
  const out = Buffer.alloc(CONNECT_REQ_BYTES);
  const v = view(out);
  v.setUint16(0, Op.CONNECT_REQ);
  v.setUint32(REQ_OFF_CAPS, m.capabilities >>> 0);
  v.setUint32(REQ_OFF_RCVBUF, m.rcvbufBytes >>> 0);
  return out;
}

export function decodeConnectReq(buf: Uint8Array): ConnectReq {
  need(buf, 4, 'CONNECT_REQ');
  const full = new Uint8Array(CONNECT_REQ_BYTES);
  full.set(buf.subarray(0, CONNECT_REQ_BYTES));
  const v = view(full);
  return { op: Op.CONNECT_REQ, capabilities: v.getUint32(REQ_OFF_CAPS), rcvbufBytes: v.getUint32(REQ_OFF_RCVBUF) };
}

// CONNECT_REPLY: 32 bytes, sender -> receiver (unicast). clientNumber -1 = refused.
export interface ConnectReply {
  op: typeof Op.CONNECT_REPLY;
  clientNumber: number;
  blockSize: number;
  capabilities: number;
  dataAddress: string;
}

export const CONNECT_REPLY_BYTES = 32;
const REP_OFF_CLIENT = 4;
const REP_OFF_BLOCKSIZE = 8;
const REP_OFF_CAPS = 12;
const REP_OFF_ADDR = 16;

export function encodeConnectReply(m: Omit<ConnectReply, 'op'>): Buffer {
  const out = Buffer.alloc(CONNECT_REPLY_BYTES);
  const v = view(out);
  v.setUint16(0, Op.CONNECT_REPLY);
  v.setInt32(REP_OFF_CLIENT, m.clientNumber);
  v.setInt32(REP_OFF_BLOCKSIZE, m.blockSize);
  v.setUint32(REP_OFF_CAPS, m.capabilities >>> 0);
  writeIPv4(v, REP_OFF_ADDR, m.dataAddress);
  return out;
}

export function decodeConnectReply(buf: Uint8Array): ConnectReply {
  need(buf, CONNECT_REPLY_BYTES, 'CONNECT_REPLY');
  const v = view(buf);
  const clientNumber = v.getInt32(REP_OFF_CLIENT);
  const blockSize = v.getInt32(REP_OFF_BLOCKSIZE);
  if (clientNumber < -1 || clientNumber >= MAX_RECEIVERS) {
    throw new DecodeError('FIELD', `CONNECT_REPLY client number ${clientNumber} out of range`, { clientNumber });
  }
  if (blockSize <= 0 || blockSize > 0x7fff) {
    throw new DecodeError('FIELD', `CONNECT_REPLY block size ${blockSize} out of range`, { blockSize });
  }
  return {
    op: Op.CONNECT_REPLY,
    clientNumber,
    blockSize,
    capabilities: v.getUint32(REP_OFF_CAPS),
    dataAddress: readIPv4(v, REP_OFF_ADDR),
  };
}
