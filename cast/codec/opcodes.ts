// udpcast opcodes and capability bits (docs/cast.md, Compatibility). Names follow udpcast's
// udpc-protoc.h so a capture reads the same in both code bases.

export const Op = {
  OK: 0,
  RETRANSMIT: 1,
  GO: 2,
  CONNECT_REQ: 3,
  DISCONNECT: 4,
  REQACK: 6,
  CONNECT_REPLY: 7,
  DATA: 8,
  FEC: 9,
  HELLO_NEW: 10,
  HELLO_STREAMING: 11,
  // Opcode 5 written little-endian by ancient versions; still what udp-sender sends.
  HELLO: 0x0500,
} as const;

export type OpName = keyof typeof Op;
export type OpCode = (typeof Op)[OpName];

export const OP_NAMES: ReadonlyMap<number, OpName> = new Map(
  Object.entries(Op).map(([name, code]) => [code, name as OpName]),
);

export const Cap = {
  NEW_GEN: 0x0001,
  FEC: 0x0004,
  BIG_ENDIAN: 0x0008,
  ASYNC: 0x0020,
  /**
   * rackcast's receiver: it survives missing a whole slice, so the sender need not wait
   * for its answer on slice n before sending slice n+1. udp-sender ignores unknown bits.
   */
  GAP_TOLERANT: 0x00010000,
} as const;

/** What udp-sender and udp-receiver announce; we announce the same. */
export const CAPS_DEFAULT = Cap.NEW_GEN | Cap.BIG_ENDIAN;

/** Slices and the ready set are 1024-bit maps on the wire. */
export const MAX_BLOCKS_PER_SLICE = 1024;
export const MAX_RECEIVERS = 1024;
export const BITMAP_BYTES = 128;

/** DATA / FEC header length; the payload follows. */
export const DATA_HEADER_BYTES = 16;
