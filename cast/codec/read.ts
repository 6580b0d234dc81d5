import { DecodeError } from '../errors.ts';
import { OP_NAMES } from './opcodes.ts';

/** Throws unless `buf` holds at least `size` bytes for message `name`. */
export function need(buf: Uint8Array, size: number, name: string): void {
  if (buf.length < size) {
    throw new DecodeError('SHORT', `${name} needs ${size} bytes, got ${buf.length}`, { name, size, got: buf.length });
  }
}

export function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function opName(op: number): string {
  return OP_NAMES.get(op) ?? `0x${op.toString(16).padStart(4, '0')}`;
}

/** IPv4 address stored in network order at `off` (16-byte field, first 4 used). */
export function readIPv4(v: DataView, off: number): string {
  return `${v.getUint8(off)}.${v.getUint8(off + 1)}.${v.getUint8(off + 2)}.${v.getUint8(off + 3)}`;
}

export function writeIPv4(v: DataView, off: number, ip: string): void {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new DecodeError('FIELD', `not an IPv4 address: ${ip}`, { ip });
  }
  parts.forEach((p, i) => v.setUint8(off + i, p));
}
