import { expect, test } from 'vitest';
import { defaultDataAddress, rendezvousAddress } from '../../../cast/net.ts';
import { parseBitrate, parseSize } from '../../../common/units.ts';
import { parseSendArgs } from '../../../cast/commands.ts';

const iface = { name: 'eth0', address: '10.77.0.1', netmask: '255.255.255.0', broadcast: '10.77.0.255' };

test('the default data group follows udpcast: low 27 bits of the sender IP under 232/5', () => {
  expect(defaultDataAddress('10.77.0.1')).toBe('234.77.0.1');
  expect(defaultDataAddress('192.168.1.5')).toBe('232.168.1.5');
});

test('rendezvous: broadcast with TTL 1, 224.0.0.1 with a larger TTL, or the given group', () => {
  expect(rendezvousAddress(iface, { ttl: 1 })).toBe('10.77.0.255');
  expect(rendezvousAddress(iface, { ttl: 4 })).toBe('224.0.0.1');
  expect(rendezvousAddress(iface, { ttl: 1, mcastRdvAddress: '239.1.2.3' })).toBe('239.1.2.3');
});

test('sizes are binary and bit rates decimal, as in udpcast', () => {
  expect(parseSize('--rcvbuf', '4m')).toBe(4 * 1024 * 1024);
  expect(parseBitrate('--max-bitrate', '600m')).toBe(600e6);
  expect(() => parseSize('--rcvbuf', 'lots')).toThrowError(/--rcvbuf: "lots" is not valid; expected a size/);
});

test('udpcast option names parse into sender options; bad values name the option', () => {
  const a = parseSendArgs(['--portbase', '9002', '--min-receivers', '40', '--max-wait', '120', '--nopointopoint', '--nokbd', '--max-bitrate', '1g']);
  expect(a.options).toMatchObject({ portbase: 9002, minReceivers: 40, maxWaitMs: 120_000, pointToPoint: 'off', maxBitrate: 1e9 });
  expect(() => parseSendArgs(['--portbase', '9001'])).toThrowError(/--portbase: "9001" is not valid; expected an even port/);
  expect(() => parseSendArgs(['--frobnicate'])).toThrowError(/unknown option '--frobnicate'/);
});
