import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  decodeFromReceiver,
  decodeFromSender,
  encodeConnectReply,
  encodeConnectReq,
  encodeData,
  encodeFec,
  encodeHello,
  encodeOk,
  encodeReqAck,
  encodeRetransmit,
  encodeSignal,
  formatMessage,
  newBitmap,
  bitSet,
  Op,
  type CastMessage,
} from '../../../cast/codec/index.ts';
import { DecodeError } from '../../../cast/errors.ts';
import { readUdpPcap } from '../../helpers/pcap.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const z = (n: number) => '00'.repeat(n);

function map(...bitsSet: number[]): Uint8Array {
  const m = newBitmap();
  for (const b of bitsSet) bitSet(m, b);
  return m;
}

function reencode(m: CastMessage): Buffer {
  switch (m.op) {
    case Op.HELLO:
    case Op.HELLO_NEW:
    case Op.HELLO_STREAMING:
      return encodeHello(m);
    case Op.CONNECT_REQ:
      return encodeConnectReq(m);
    case Op.CONNECT_REPLY:
      return encodeConnectReply(m);
    case Op.GO:
    case Op.DISCONNECT:
      return encodeSignal(m.op);
    case Op.OK:
      return encodeOk(m.slice);
    case Op.RETRANSMIT:
      return encodeRetransmit(m);
    case Op.DATA:
      return encodeData(m);
    case Op.FEC:
      return encodeFec(m);
    case Op.REQACK:
      return encodeReqAck(m);
  }
}

describe('each message has the byte layout of the C programs', () => {
  const cases: [string, Buffer, string, 'sender' | 'receiver'][] = [
    ['HELLO as udp-sender sends it (opcode 0x0500)', encodeHello({ op: Op.HELLO, capabilities: 9, dataAddress: '234.77.0.1', blockSize: 1456 }), '05000000' + '00000009' + 'ea4d0001' + z(12) + '05b0' + '0000', 'sender'],
    ['CONNECT_REQ with the C receiver capability and buffer', encodeConnectReq({ capabilities: 9, rcvbufBytes: 212992 }), '000300000000000900034000', 'receiver'],
    ['CONNECT_REPLY', encodeConnectReply({ clientNumber: 1, blockSize: 1456, capabilities: 9, dataAddress: '234.77.0.1' }), '00070000' + '00000001' + '000005b0' + '00000009' + 'ea4d0001' + z(12), 'sender'],
    ['CONNECT_REPLY refusing (client -1)', encodeConnectReply({ clientNumber: -1, blockSize: 1456, capabilities: 9, dataAddress: '234.77.0.1' }), '00070000' + 'ffffffff' + '000005b0' + '00000009' + 'ea4d0001' + z(12), 'sender'],
    ['OK', encodeOk(5), '0000000000000005', 'receiver'],
    ['GO', encodeSignal(Op.GO), '00020000', 'receiver'],
    ['DISCONNECT', encodeSignal(Op.DISCONNECT), '00040000', 'receiver'],
    ['RETRANSMIT lists the blocks held, LSB first', encodeRetransmit({ slice: 2, rxmit: 1, held: map(0, 1, 9) }), '00010000' + '00000002' + '00000001' + '0302' + z(126), 'receiver'],
    ['DATA carries the byte count of its whole slice', encodeData({ slice: 3, block: 2, sliceBytes: 5000, payload: Buffer.from('abc') }), '00080000' + '00000003' + '00020000' + '00001388' + '616263', 'sender'],
    ['FEC carries the stripe count at offset 2', encodeFec({ stripes: 8, slice: 1, block: 3, sliceBytes: 100, payload: Buffer.from('x') }), '00090008' + '00000001' + '00030000' + '00000064' + '78', 'sender'],
    ['REQACK with the ready set', encodeReqAck({ slice: 4, sliceBytes: 0, rxmit: 0, ready: map(1) }), '00060000' + '00000004' + '00000000' + '00000000' + '02' + z(127), 'sender'],
  ];
  test.each(cases)('%s', (_name, bytes, expected, from) => {
    expect(hex(bytes)).toBe(expected);
    const decoded = from === 'sender' ? decodeFromSender(bytes) : decodeFromReceiver(bytes);
    expect(hex(reencode(decoded))).toBe(expected);
  });

  test('a receiver accepts all three hello opcodes', () => {
    for (const op of [Op.HELLO, Op.HELLO_NEW, Op.HELLO_STREAMING] as const) {
      const m = decodeFromSender(encodeHello({ op, capabilities: 9, dataAddress: '232.168.1.5', blockSize: 1024 }));
      expect(m).toMatchObject({ op, dataAddress: '232.168.1.5', blockSize: 1024 });
    }
  });

  test('a short CONNECT_REQ from an old receiver is zero-filled, as udp-sender does', () => {
    expect(decodeFromReceiver(Buffer.from('00030000', 'hex'))).toEqual({ op: Op.CONNECT_REQ, capabilities: 0, rcvbufBytes: 0 });
  });

  test.each([
    ['a truncated REQACK', () => decodeFromSender(encodeReqAck({ slice: 1, sliceBytes: 9, rxmit: 0, ready: newBitmap() }).subarray(0, 100)), 'CAST_DECODE_SHORT'],
    ['an opcode a receiver never sends', () => decodeFromReceiver(Buffer.from('00080000', 'hex')), 'CAST_DECODE_OPCODE'],
    ['a DATA block number beyond 1023', () => decodeFromSender(encodeData({ slice: 0, block: 1024, sliceBytes: 10, payload: Buffer.alloc(1) })), 'CAST_DECODE_FIELD'],
    ['a negative slice number', () => decodeFromReceiver(encodeOk(-3)), 'CAST_DECODE_FIELD'],
    ['a HELLO with block size 0', () => decodeFromSender(encodeHello({ op: Op.HELLO, capabilities: 9, dataAddress: '1.2.3.4', blockSize: 0 })), 'CAST_DECODE_FIELD'],
  ])('rejects %s with a coded error', (_name, fn, code) => {
    expect(fn).toThrowError(expect.objectContaining({ code }));
  });
});

const FIXTURES = ['udpcast-20120424-2rx', 'udpcast-20120424-loss'];

describe.each(FIXTURES)('captured udpcast traffic %s', (name) => {
  const pcap = `test/fixtures/pcap/${name}.pcap`;
  const datagrams = readUdpPcap(pcap);
  const decode = (d: (typeof datagrams)[number]) => (d.sport === 9001 ? decodeFromSender(d.payload) : decodeFromReceiver(d.payload));

  test('decodes every datagram and matches the readable dump', () => {
    const t0 = datagrams[0]!.time;
    const text = datagrams
      .map((d) => `+${(d.time - t0).toFixed(3)} ${d.src}:${d.sport} > ${d.dst}:${d.dport} ${formatMessage(decode(d))}`)
      .join('\n') + '\n';
    const dump = `test/fixtures/pcap/${name}.txt`;
    // Only UPDATE_FIXTURES=1 writes the dump: a missing one is a failure, not a new golden file.
    if (process.env.UPDATE_FIXTURES === '1') writeFileSync(dump, text);
    expect(existsSync(dump), `${dump} is missing; UPDATE_FIXTURES=1 writes it`).toBe(true);
    expect(text).toBe(readFileSync(dump, 'utf8'));
  });

  test('re-encodes every datagram to the same bytes', () => {
    for (const d of datagrams) expect(hex(reencode(decode(d)))).toBe(hex(d.payload));
  });
});

describe('decoders survive hostile input', () => {
  // Deterministic PRNG so a failure reproduces.
  let seed = 0x2545f491;
  const rand = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const captured = FIXTURES.flatMap((f) => readUdpPcap(`test/fixtures/pcap/${f}.pcap`).map((d) => d.payload));

  function survives(buf: Buffer): void {
    for (const decode of [decodeFromSender, decodeFromReceiver]) {
      try {
        decode(buf);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
      }
    }
  }

  test('random datagrams throw only DecodeError', () => {
    for (let i = 0; i < 20000; i++) {
      const buf = Buffer.alloc(rand(200));
      for (let j = 0; j < buf.length; j++) buf[j] = rand(256);
      // Bias the opcode towards real ones so the field decoders get exercised.
      if (buf.length >= 2 && rand(2)) buf.writeUInt16BE([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 0x500][rand(12)]!, 0);
      survives(buf);
    }
  });

  test('mutated and truncated real datagrams throw only DecodeError', () => {
    for (let i = 0; i < 20000; i++) {
      const orig = captured[rand(captured.length)]!;
      const buf = Buffer.from(orig.subarray(0, rand(2) ? orig.length : rand(orig.length + 1)));
      for (let k = rand(4); k >= 0 && buf.length > 0; k--) buf[rand(buf.length)] = rand(256);
      survives(buf);
    }
  });
});
