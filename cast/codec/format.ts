import type { CastMessage } from './index.ts';
import { OP_NAMES } from './opcodes.ts';

// One-line, stable text for a decoded message: used in debug logs and in the readable
// dumps kept beside captured fixtures.

function bits(map: Uint8Array): string {
  const set: number[] = [];
  for (let i = 0; i < map.length * 8; i++) if (map[i >> 3]! & (1 << (i & 7))) set.push(i);
  return `{${set.join(',')}}`;
}

export function formatMessage(m: CastMessage): string {
  const name = OP_NAMES.get(m.op) ?? String(m.op);
  switch (m.op) {
    case 0x0500:
    case 10:
    case 11:
      return `${name} caps=0x${m.capabilities.toString(16)} data=${m.dataAddress} blocksize=${m.blockSize}`;
    case 3:
      return `${name} caps=0x${m.capabilities.toString(16)} rcvbuf=${m.rcvbufBytes}`;
    case 7:
      return `${name} client=${m.clientNumber} blocksize=${m.blockSize} caps=0x${m.capabilities.toString(16)} data=${m.dataAddress}`;
    case 2:
    case 4:
      return name;
    case 0:
      return `${name} slice=${m.slice}`;
    case 1:
      return `${name} slice=${m.slice} rxmit=${m.rxmit} held=${bits(m.held)}`;
    case 8:
      return `${name} slice=${m.slice} block=${m.block} slicebytes=${m.sliceBytes} payload=${m.payload.length}`;
    case 9:
      return `${name} stripes=${m.stripes} slice=${m.slice} block=${m.block} slicebytes=${m.sliceBytes}`;
    case 6:
      return `${name} slice=${m.slice} slicebytes=${m.sliceBytes} rxmit=${m.rxmit} ready=${bits(m.ready)}`;
  }
}
