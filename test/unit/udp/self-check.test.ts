import { expect, test } from 'vitest';
import { mmsgAddon, mmsgSelfCheck } from '../../../udp/index.ts';

test('the addon is built and round-trips over loopback', async () => {
  expect(mmsgAddon(), 'build/native/mmsg.node is missing: run `make native`').not.toBeNull();
  expect(await mmsgSelfCheck()).toEqual({ ok: true, detail: 'sendmmsg/recvmmsg round trip over loopback' });
});
