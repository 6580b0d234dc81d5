import { expect, test } from 'vitest';
import { broadcastOf, inSubnet, intToIp, ipToInt, isIpv4, isMulticast, parseCidr, sameSubnet } from '../../../udp/index.ts';

test('dotted quads and host-order numbers convert both ways', () => {
  expect(ipToInt('10.78.0.1')).toBe(0x0a4e0001);
  expect(ipToInt('255.255.255.255')).toBe(0xffffffff);
  expect(intToIp(0x0a4e0001)).toBe('10.78.0.1');
  expect(intToIp(0xe0000001)).toBe('224.0.0.1');
});

test('anything but a dotted quad is refused, not read as some other address', () => {
  for (const bad of ['10.78.0', '10.78.0.256', '10.78.0.1.2', 'host', '', ' 10.78.0.1']) {
    expect(isIpv4(bad), bad).toBe(false);
    expect(() => ipToInt(bad), bad).toThrow(RangeError);
  }
  expect(() => isMulticast('239.1.2')).toThrow(RangeError);
});

test('multicast is 224.0.0.0/4', () => {
  expect(isMulticast('224.0.0.1')).toBe(true);
  expect(isMulticast('239.255.255.255')).toBe(true);
  expect(isMulticast('223.255.255.255')).toBe(false);
  expect(isMulticast('240.0.0.1')).toBe(false);
});

test('subnets: by netmask, by CIDR, and their broadcast address', () => {
  expect(sameSubnet('10.77.0.200', '10.77.0.1', '255.255.255.0')).toBe(true);
  expect(sameSubnet('10.77.1.2', '10.77.0.1', '255.255.255.0')).toBe(false);
  const s = parseCidr('10.78.0.1/24');
  expect(s).toEqual({ address: '10.78.0.1', prefix: 24, network: 0x0a4e0000, mask: 0xffffff00 });
  expect(inSubnet('10.78.0.200', s)).toBe(true);
  expect(inSubnet('10.78.1.1', s)).toBe(false);
  expect(inSubnet('not an address', s)).toBe(false);
  expect(broadcastOf(s)).toBe('10.78.0.255');
  expect(broadcastOf(parseCidr('10.78.0.7/32'))).toBe('10.78.0.7');
  expect(() => parseCidr('10.78.0.1/33')).toThrow(RangeError);
});
