import { BITMAP_BYTES } from './opcodes.ts';

// udpcast bitmaps: bit i is byte[i >> 3] & (1 << (i & 7)), least significant bit first.

export function newBitmap(): Uint8Array {
  return new Uint8Array(BITMAP_BYTES);
}

export function bitGet(map: Uint8Array, i: number): boolean {
  return ((map[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
}

export function bitSet(map: Uint8Array, i: number): void {
  map[i >> 3]! |= 1 << (i & 7);
}

export function bitClear(map: Uint8Array, i: number): void {
  map[i >> 3]! &= ~(1 << (i & 7));
}
