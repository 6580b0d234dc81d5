import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { BOOTP_MIN_BYTES, decodeDhcp, encodeDhcpReply, encodePacket, formatDhcp, MessageType } from '../../../../bootserver/dhcp/packet.ts';
import { DecodeError } from '../../../../bootserver/errors.ts';
import { readUdpPcap } from '../../../helpers/pcap.ts';

// The codec against DHCP traffic of real clients (scripts/capture-dhcp-fixtures.ts):
// iPXE (BIOS and EFI), OVMF's PXE and HTTP boot, udhcpc and dhclient, plus dnsmasq's replies.

const FIXTURES = ['ipxe-bios', 'ipxe-efi', 'edk2-pxe', 'edk2-http', 'udhcpc', 'dhclient'];

describe.each(FIXTURES)('captured DHCP traffic of %s', (name) => {
  const datagrams = readUdpPcap(`test/fixtures/pcap/dhcp-${name}.pcap`);

  test('decodes every datagram and matches the readable dump', () => {
    expect(datagrams.length).toBeGreaterThan(1);
    const t0 = datagrams[0]!.time;
    const text = datagrams.map((d) => `+${(d.time - t0).toFixed(3)} ${d.src}:${d.sport} > ${d.dst}:${d.dport} ${formatDhcp(decodeDhcp(d.payload))}`).join('\n') + '\n';
    const dump = `test/fixtures/pcap/dhcp-${name}.txt`;
    // A missing dump fails: only UPDATE_FIXTURES=1 writes one, so a lost fixture cannot pass unseen.
    if (process.env.UPDATE_FIXTURES === '1') writeFileSync(dump, text);
    expect(existsSync(dump), `${dump} is missing; UPDATE_FIXTURES=1 writes it`).toBe(true);
    expect(text).toBe(readFileSync(dump, 'utf8'));
  });

  test('what it encodes decodes to the same packet', () => {
    for (const d of datagrams) {
      const p = decodeDhcp(d.payload);
      const again = decodeDhcp(encodePacket({ ...p, options: p.options }));
      expect({ ...again, otherOptions: [] }).toEqual({ ...p, sname: '', otherOptions: [] });
    }
  });
});

describe('decoding real clients', () => {
  const first = (name: string) => decodeDhcp(readUdpPcap(`test/fixtures/pcap/dhcp-${name}.pcap`)[0]!.payload);

  test('iPXE announces itself: user class, option 175, BIOS architecture 0', () => {
    const p = first('ipxe-bios');
    expect(p.options.messageType).toBe(MessageType.DISCOVER);
    expect(p.options.userClass).toBe('iPXE');
    expect(p.options.ipxe?.length).toBeGreaterThan(0);
    expect(p.options.clientArch).toEqual([0]);
    expect(p.chaddr).toBe('52:54:00:78:00:10');
  });

  test('OVMF PXE sends PXEClient with arch 7 and a UUID; HTTP boot sends HTTPClient with arch 16', () => {
    const pxe = first('edk2-pxe');
    expect(pxe.options.vendorClass).toMatch(/^PXEClient:Arch:00007/);
    expect(pxe.options.clientUuid).toHaveLength(17);
    const http = first('edk2-http');
    expect(http.options.vendorClass).toMatch(/^HTTPClient:Arch:00016/);
    expect(http.options.clientArch).toEqual([16]);
  });
});

describe('hostile and odd input', () => {
  const base = decodeDhcp(readUdpPcap('test/fixtures/pcap/dhcp-udhcpc.pcap')[0]!.payload);
  const good = encodePacket({ ...base, op: 1, options: { messageType: MessageType.DISCOVER, hostname: 'n1' } });

  test('PAD bytes between options are skipped, not eaten with the next byte', () => {
    const buf = Buffer.from(good);
    // Options go out in code order from 240: 12 (4 bytes) then 53. Two PADs between them.
    const withPads = Buffer.concat([buf.subarray(0, 244), Buffer.from([0, 0]), buf.subarray(244)]);
    const p = decodeDhcp(withPads);
    expect(p.options.hostname).toBe('n1');
    expect(p.options.messageType).toBe(MessageType.DISCOVER);
  });

  test.each([
    ['a runt', Buffer.alloc(100), 'BOOT_DECODE_DHCP_SHORT'],
    ['no magic cookie', Buffer.concat([good.subarray(0, 236), Buffer.from([1, 2, 3, 4]), good.subarray(240)]), 'BOOT_DECODE_DHCP_COOKIE'],
    ['a non-Ethernet hardware type', Buffer.concat([Buffer.from([1, 6, 6]), good.subarray(3)]), 'BOOT_DECODE_DHCP_HTYPE'],
    ['an option running past the end', Buffer.concat([good.subarray(0, 240), Buffer.from([12, 200, 65])]), 'BOOT_DECODE_DHCP_OPTION'],
    ['an address option of 3 bytes', Buffer.concat([good.subarray(0, 240), Buffer.from([50, 3, 10, 0, 0, 255])]), 'BOOT_DECODE_DHCP_OPTION'],
    ['message type 99', Buffer.concat([good.subarray(0, 240), Buffer.from([53, 1, 99, 255])]), 'BOOT_DECODE_DHCP_OPTION'],
    ['op 7', Buffer.concat([Buffer.from([7]), good.subarray(1)]), 'BOOT_DECODE_DHCP_OP'],
  ])('%s is a DecodeError with a code', (_name, buf, code) => {
    let err: unknown;
    try {
      decodeDhcp(buf);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).code).toBe(code);
  });

  test('random bytes never throw anything but a DecodeError', () => {
    let seed = 0x2545f491;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
    for (let i = 0; i < 3000; i++) {
      const buf = Buffer.from(good);
      // Flip a few bytes in the header and options, or cut the packet.
      for (let k = 0; k < 1 + (i % 6); k++) buf[(rnd() * 256 + rnd()) % buf.length] = rnd();
      const cut = i % 5 === 0 ? buf.subarray(0, 200 + (rnd() % 120)) : buf;
      try {
        decodeDhcp(cut);
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
      }
    }
  });

  test('replies are padded to the BOOTP minimum of 300 bytes', () => {
    const r = encodeDhcpReply({ xid: 1, flags: 0, chaddr: '52:54:00:00:00:01', options: { messageType: MessageType.NAK } });
    expect(r.length).toBe(BOOTP_MIN_BYTES);
    expect(decodeDhcp(r).options.messageType).toBe(MessageType.NAK);
  });
});
