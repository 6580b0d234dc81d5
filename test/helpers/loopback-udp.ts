import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, expect } from 'vitest';
import type { Overflow } from '../../udp/index.ts';

// Real UDP sockets on 127.0.0.1 for the udp/ tests, closed after each test.

export function loopbackSockets(): { bound: (port?: number, address?: string) => Promise<dgram.Socket>; connectedPair: () => Promise<{ tx: dgram.Socket; rx: dgram.Socket }> } {
  const sockets: dgram.Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });
  const bound = async (port = 0, address = '127.0.0.1') => {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    s.bind(port, address);
    await once(s, 'listening');
    return s;
  };
  const connectedPair = async () => {
    const rx = await bound();
    const tx = await bound();
    tx.connect(rx.address().port, '127.0.0.1');
    await once(tx, 'connect');
    return { tx, rx };
  };
  return { bound, connectedPair };
}

/** Sizes from 1 to 1,500 bytes, content tied to the index. */
export function packet(i: number): Buffer {
  return Buffer.alloc(1 + ((i * 37) % 1500), i % 251);
}

/** For writers whose every packet must go out through the addon. */
export const noOverflow: Overflow = { pending: () => 0, send: () => expect.fail('nothing should overflow'), error: (e: Error) => expect.fail(e.message) };

