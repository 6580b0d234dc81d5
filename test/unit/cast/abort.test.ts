import { PassThrough, Readable } from 'node:stream';
import { expect, test } from 'vitest';
import { CastReceiver, CastSender } from '../../../cast/index.ts';

// A transfer aborted while its sockets are still opening ends there: no socket, timer or
// event after the rejection (before, open() went on and left them running, and the process
// could not exit).

const PORTBASE = 30000 + 2 * Math.floor(Math.random() * 5000);

test('a sender aborted while opening never starts listening', async () => {
  const sender = new CastSender({ interface: 'lo', portbase: PORTBASE, pointToPoint: 'on' });
  let listened = false;
  sender.on('listening', () => (listened = true));
  const ac = new AbortController();
  const sending = sender.send(Readable.from([Buffer.from('x')]), { signal: ac.signal });
  ac.abort();
  await expect(sending).rejects.toMatchObject({ code: 'CAST_ABORTED' });
  await new Promise((r) => setTimeout(r, 200));
  expect(listened).toBe(false);
});

test('a receiver aborted while opening never starts listening', async () => {
  const receiver = new CastReceiver({ interface: 'lo', portbase: PORTBASE + 2 });
  let listened = false;
  receiver.on('listening', () => (listened = true));
  const ac = new AbortController();
  const receiving = receiver.receive(new PassThrough(), { signal: ac.signal });
  ac.abort();
  await expect(receiving).rejects.toMatchObject({ code: 'CAST_ABORTED' });
  await new Promise((r) => setTimeout(r, 200));
  expect(listened).toBe(false);
});
