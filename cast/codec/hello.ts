import { DecodeError } from '../errors.ts';
import { Op } from './opcodes.ts';
import { need, readIPv4, view, writeIPv4 } from './read.ts';

// HELLO: 28 bytes, sender -> rendezvous address. udp-sender sends opcode 0x0500; 10 and
// 11 (streaming) mean the same to a receiver.

export type HelloOp = typeof Op.HELLO | typeof Op.HELLO_NEW | typeof Op.HELLO_STREAMING;

export interface Hello {
  op: HelloOp;
  capabilities: number;
  dataAddress: string;
  blockSize: number;
}

export const HELLO_BYTES = 28;
const OFF_CAPS = 4;
const OFF_ADDR = 8;
const OFF_BLOCKSIZE = 24;

export function encodeHello(m: Hello): Buffer {
  const out = Buffer.alloc(HELLO_BYTES);
  const v = view(out);
  v.setUint16(0, m.op);
  v.setUint32(OFF_CAPS, m.capabilities >>> 0);
  writeIPv4(v, OFF_ADDR, m.dataAddress);
  v.setInt16(OFF_BLOCKSIZE, m.blockSize);
  return out;
}

export function decodeHello(buf: Uint8Array): Hello {
  need(buf, HELLO_BYTES, 'HELLO');
  const v = view(buf);
  const blockSize = v.getInt16(OFF_BLOCKSIZE);
  if (blockSize <= 0) throw new DecodeError('FIELD', `HELLO block size ${blockSize} is not positive`, { blockSize });
  return {
    op: v.getUint16(0) as HelloOp,
    capabilities: v.getUint32(OFF_CAPS),
    dataAddress: readIPv4(v, OFF_ADDR),
    blockSize,
  };
}
