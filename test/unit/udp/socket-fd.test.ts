import type dgram from 'node:dgram';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { expect, test } from 'vitest';
import { BatchReader, BatchWriter, mmsgAddon } from '../../../udp/index.ts';
import { socketFd } from '../../../udp/socket-fd.ts';
import { loopbackSockets, noOverflow } from '../../helpers/loopback-udp.ts';

const { bound } = loopbackSockets();

/** A real socket as a Node would show it that keeps dgram's state under another symbol. */
function withoutStateSymbol(sock: dgram.Socket): dgram.Socket {
  return new Proxy(sock, { ownKeys: (t) => Reflect.ownKeys(t).filter((k) => typeof k !== 'symbol' || k.description !== 'state symbol') });
}

const ignore = { datagram: () => {}, truncated: () => {}, error: (e: Error) => expect.fail(e.message) };

test('a bound socket shows its fd; an unbound one has none yet', async () => {
  expect(socketFd(await bound())?.fd).toBeGreaterThanOrEqual(0);
  const unbound = createSocket('udp4');
  expect(socketFd(unbound)).toBeNull();
  unbound.close();
});

test("where dgram's state symbol is not found there is no fd, and batch readers and writers decline, so the socket stays with dgram", async () => {
  expect(mmsgAddon(), 'build/native/mmsg.node is missing: run `make native`').not.toBeNull();
  const rx = await bound();
  const hidden = withoutStateSymbol(rx);
  expect(socketFd(hidden)).toBeNull();
  expect(socketFd({} as dgram.Socket)).toBeNull();
  expect(BatchWriter.open(hidden, 0, noOverflow)).toBeNull();
  expect(BatchReader.start(hidden, ignore)).toBeNull();
  // dgram still reads the socket: no batch reader stopped it.
  const tx = await bound();
  tx.send('still dgram', rx.address().port, '127.0.0.1');
  const [msg] = (await once(rx, 'message')) as [Buffer];
  expect(msg.toString()).toBe('still dgram');
});
