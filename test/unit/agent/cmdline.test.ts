import { expect, test } from 'vitest';
import { parseAgentConfig, parseBootif, parseKernelParams } from '../../../agent/cmdline.ts';

test('the server iPXE script parameters become the agent config', () => {
  const cmdline = 'console=ttyS0,115200 rackcast.server=http://10.78.0.1:8080 rackcast.token=abc123 BOOTIF=01-52-54-00-78-00-10 rackcast.debug=1 quiet\n';
  expect(parseAgentConfig(cmdline)).toEqual({ server: 'http://10.78.0.1:8080', token: 'abc123', mode: 'install', debug: true, bootif: '52:54:00:78:00:10' });
});

test('inventory mode and a bare rackcast.debug are understood; debug is off by default', () => {
  expect(parseAgentConfig('rackcast.server=http://s rackcast.token=t rackcast.mode=inventory')).toMatchObject({ mode: 'inventory', debug: false });
  expect(parseAgentConfig('rackcast.server=http://s rackcast.token=t rackcast.debug').debug).toBe(true);
});

test('missing server or token is a coded error naming them', () => {
  expect(() => parseAgentConfig('console=ttyS0 rackcast.token=t')).toThrow(expect.objectContaining({ code: 'AGENT_CMDLINE_INVALID', message: expect.stringContaining('rackcast.server') }));
  expect(() => parseAgentConfig('rackcast.server=ftp://x rackcast.token=t')).toThrow(expect.objectContaining({ code: 'AGENT_CMDLINE_INVALID' }));
});

test('quoted values keep their spaces', () => {
  expect(parseKernelParams('a="b c" d').get('a')).toBe('b c');
});

test('BOOTIF accepts the PXELINUX form and a plain MAC, rejects junk', () => {
  expect(parseBootif('01-AA-bb-CC-dd-EE-ff')).toBe('aa:bb:cc:dd:ee:ff');
  expect(parseBootif('aa:bb:cc:dd:ee:ff')).toBe('aa:bb:cc:dd:ee:ff');
  expect(parseBootif('01-aa-bb')).toBeUndefined();
});
