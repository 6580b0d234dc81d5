import { DatabaseSync } from 'node:sqlite';
import { beforeEach, describe, expect, test } from 'vitest';
import { createLogger, type LogRecord } from '../../../../common/log.ts';
import { parseConfig, type BootConfig } from '../../../../bootserver/config.ts';
import { Counters } from '../../../../bootserver/counters.ts';
import { decodeDhcp, encodePacket, FLAG_BROADCAST, MessageType, type DhcpOptions, type DhcpPacket } from '../../../../bootserver/dhcp/packet.ts';
import { ProxyDhcp } from '../../../../bootserver/dhcp/proxy.ts';
import type { Arrival, Outgoing } from '../../../../bootserver/dhcp/reply.ts';
import { FullDhcp } from '../../../../bootserver/dhcp/full.ts';
import { LeaseStore, OFFER_HOLD_MS } from '../../../../bootserver/dhcp/leases.ts';
import { Lifecycle } from '../../../../bootserver/install/lifecycle.ts';
import { StatePolicy } from '../../../../bootserver/policy.ts';
import { NodeStore } from '../../../../bootserver/state/node-store.ts';
import { readUdpPcap } from '../../../helpers/pcap.ts';

// DHCP decisions from real client packets (captured iPXE, OVMF PXE and HTTP boot, udhcpc,
// dhclient), answered by the full server and the proxy without sockets.

const SRV = '10.78.0.1';
const KNOWN = '52:54:00:78:00:10';
const FROM67: Arrival = { address: '0.0.0.0', port: 68, localPort: 67 };

/** The client packets of a capture, by message type, with the MAC swapped in if asked. */
function captured(name: string, mac = KNOWN): DhcpPacket[] {
  return readUdpPcap(`test/fixtures/pcap/dhcp-${name}.pcap`)
    .filter((d) => d.dport === 67)
    .map((d) => ({ ...decodeDhcp(d.payload), chaddr: mac }));
}
const discoverOf = (name: string, mac?: string) => captured(name, mac).find((p) => p.options.messageType === MessageType.DISCOVER)!;

function config(extra: Record<string, unknown> = {}, dhcp: Record<string, unknown> = {}): BootConfig {
  return parseConfig('test.yaml', {
    server: { interface: 'eth0', address: SRV, httpPort: 8080 },
    paths: { stateDir: '/nonexistent' },
    dhcp: {
      mode: 'full',
      subnets: [
        { subnet: '10.78.0.0/24', range: '10.78.0.100-10.78.0.103', router: SRV, dns: [SRV], domain: 'lab' },
        { subnet: '10.90.5.0/24', range: '10.90.5.50-10.90.5.59', router: '10.90.5.1' },
      ],
      reservations: [{ mac: '52-54-00-AA-BB-CC', ip: '10.78.0.20' }],
      ...dhcp,
    },
    firstStage: { uefiArm64: 'arm64/ipxe.efi' },
    nodes: [{ mac: KNOWN, hostname: 'n001', ip: '10.78.0.11' }, { mac: '5254.0078.0011', hostname: 'n002' }],
    ...extra,
  });
}

interface Rig {
  cfg: BootConfig;
  full: FullDhcp;
  proxy: ProxyDhcp;
  leases: LeaseStore;
  nodes: NodeStore;
  counters: Counters;
  clock: { now: number };
  logs: LogRecord[];
  db: DatabaseSync;
}

function rig(cfg = config(), db = new DatabaseSync(':memory:'), clock = { now: 1_000_000 }): Rig {
  const now = () => clock.now;
  const life = new Lifecycle(new NodeStore(db, now), now);
  life.configure(cfg.nodes);
  const leases = new LeaseStore(db, {
    reservations: [...cfg.dhcp.reservations, ...cfg.nodes.flatMap((n) => (n.ip ? [{ mac: n.mac, ip: n.ip }] : []))],
    leaseTimeSec: cfg.dhcp.leaseTimeSec,
    serverAddress: SRV,
    now,
  });
  const logs: LogRecord[] = [];
  const log = createLogger((r) => logs.push(r), 'test', 'debug');
  const counters = new Counters();
  const policy = new StatePolicy(life, cfg);
  const events = () => {};
  return {
    cfg,
    full: new FullDhcp({ cfg, leases, policy, counters, log, events, now }),
    proxy: new ProxyDhcp({ cfg, policy, counters, log, events }),
    leases,
    nodes: life.store,
    counters,
    clock,
    logs,
    db,
  };
}

const decoded = (o: Outgoing | null) => (o ? decodeDhcp(o.data) : null);

/** A synthetic request built from scratch (for cases no capture covers). */
function request(mac: string, options: DhcpOptions, fields: Partial<DhcpPacket> = {}): DhcpPacket {
  return decodeDhcp(encodePacket({ op: 1, xid: 0x1234, flags: FLAG_BROADCAST, chaddr: mac, ...fields, options }));
}

let r: Rig;
beforeEach(() => {
  r = rig();
});

describe('first stage by firmware (full mode, real client packets)', () => {
  test('iPXE (BIOS ROM) gets its per-node script URL and option 60 PXEClient, never undionly.kpxe again', () => {
    const o = decoded(r.full.handle(discoverOf('ipxe-bios'), FROM67))!;
    expect(o.options.messageType).toBe(MessageType.OFFER);
    expect(o.options.bootFile).toBe('http://10.78.0.1:8080/boot/52-54-00-78-00-10.ipxe');
    expect(o.file).toBe(o.options.bootFile);
    expect(o.options.vendorClass).toBe('PXEClient');
    expect(o.yiaddr).toBe('10.78.0.11');
  });

  test('iPXE on UEFI (arch 7, user class iPXE) also gets the script, not ipxe.efi', () => {
    const o = decoded(r.full.handle(discoverOf('ipxe-efi'), FROM67))!;
    expect(o.options.bootFile).toMatch(/\/boot\/52-54-00-78-00-10\.ipxe$/);
  });

  test('OVMF native PXE (arch 7) gets ipxe.efi over TFTP from us, without option 60', () => {
    const o = decoded(r.full.handle(discoverOf('edk2-pxe'), FROM67))!;
    expect(o.options.bootFile).toBe('ipxe.efi');
    expect(o.siaddr).toBe(SRV);
    expect(o.options.vendorClass).toBeUndefined(); // PXEClient here breaks OVMF (PXE-E16)
  });

  test('OVMF UEFI HTTP boot (arch 16) gets an HTTP URL to ipxe.efi and option 60 HTTPClient', () => {
    const o = decoded(r.full.handle(discoverOf('edk2-http'), FROM67))!;
    expect(o.options.bootFile).toBe('http://10.78.0.1:8080/firmware/ipxe.efi');
    expect(o.options.vendorClass).toBe('HTTPClient');
  });

  test('a BIOS PXE ROM (arch 0, no iPXE) gets undionly.kpxe', () => {
    const p = discoverOf('edk2-pxe');
    const bios = { ...p, options: { ...p.options, clientArch: [0], vendorClass: 'PXEClient:Arch:00000:UNDI:002001' } };
    expect(decoded(r.full.handle(bios, FROM67))!.options.bootFile).toBe('undionly.kpxe');
  });

  test('x86-64 UEFI as arch 9 is treated like 7', () => {
    const p = discoverOf('edk2-pxe');
    expect(decoded(r.full.handle({ ...p, options: { ...p.options, clientArch: [9] } }, FROM67))!.options.bootFile).toBe('ipxe.efi');
  });

  test('ARM64 UEFI PXE (arch 11) gets the configured arm64 first stage; ARM64 HTTP boot (19) its URL', () => {
    // OVMF's capture with the architecture changed: the rest of an EDK2 request is the same on AAVMF.
    const p = discoverOf('edk2-pxe');
    const arm = { ...p, options: { ...p.options, clientArch: [11], vendorClass: 'PXEClient:Arch:00011:UNDI:003000' } };
    expect(decoded(r.full.handle(arm, FROM67))!.options.bootFile).toBe('arm64/ipxe.efi');
    const h = discoverOf('edk2-http');
    const armHttp = { ...h, options: { ...h.options, clientArch: [19], vendorClass: 'HTTPClient:Arch:00019:UNDI:003000' } };
    expect(decoded(r.full.handle(armHttp, FROM67))!.options.bootFile).toBe('http://10.78.0.1:8080/firmware/arm64/ipxe.efi');
  });

  test('without an arm64 first stage configured, arch 11 gets an address but no boot file, and it is counted', () => {
    const x = rig(config({ firstStage: {} }));
    const p = discoverOf('edk2-pxe');
    const o = decoded(x.full.handle({ ...p, options: { ...p.options, clientArch: [11] } }, FROM67))!;
    expect(o.yiaddr).toBe('10.78.0.11');
    expect(o.options.bootFile).toBeUndefined();
    expect(x.counters.get('dhcp.noFirstStage')).toBe(1);
  });

  test('udhcpc and dhclient (an installed OS) get a lease without boot options', () => {
    for (const name of ['udhcpc', 'dhclient']) {
      const o = decoded(r.full.handle(discoverOf(name), FROM67))!;
      expect(o.options.messageType).toBe(MessageType.OFFER);
      expect(o.options.bootFile).toBeUndefined();
      expect(o.options.vendorClass).toBeUndefined();
      expect(o.options.hostname).toBe('n001');
    }
  });
});

describe('full mode: leases', () => {
  const full = (name: string, mac: string) => captured(name, mac);

  test('a whole exchange (DISCOVER, REQUEST) from the captured iPXE gets OFFER then ACK with lease, mask, router, DNS', () => {
    const [disc, req] = [discoverOf('ipxe-bios', '02:00:00:00:00:01'), full('ipxe-bios', '02:00:00:00:00:01').find((p) => p.options.messageType === MessageType.REQUEST)!];
    const x = rig(config({}, { unknownNodes: 'discover' }));
    const offer = decoded(x.full.handle(disc, FROM67))!;
    expect(offer.yiaddr).toBe('10.78.0.100');
    // The captured REQUEST asked for what dnsmasq offered; ask for ours.
    const ack = decoded(x.full.handle({ ...req, options: { ...req.options, requestedIp: offer.yiaddr } }, FROM67))!;
    expect(ack.options.messageType).toBe(MessageType.ACK);
    expect(ack.yiaddr).toBe('10.78.0.100');
    expect(ack.options).toMatchObject({ serverId: SRV, leaseTimeSec: 3600, renewalSec: 1800, rebindingSec: 3150, subnetMask: '255.255.255.0', routers: [SRV], dns: [SRV], domainName: 'lab' });
    expect(x.leases.leaseOf('02:00:00:00:00:01')).toMatchObject({ state: 'bound', ip: '10.78.0.100' });
  });

  test('replies are broadcast to port 68 and padded to at least 300 bytes', () => {
    const o = r.full.handle(discoverOf('udhcpc'), FROM67)!;
    expect(o).toMatchObject({ address: '255.255.255.255', port: 68 });
    expect(o.data.length).toBeGreaterThanOrEqual(300);
  });

  test('reservations and nodes match MACs in any spelling; a reservation is served even with unknownNodes: ignore', () => {
    // Configured as 52-54-00-AA-BB-CC (a reservation) and 5254.0078.0011 (node n002).
    expect(decoded(r.full.handle(request('52:54:00:aa:bb:cc', { messageType: MessageType.DISCOVER }), FROM67))!.yiaddr).toBe('10.78.0.20');
    expect(decoded(r.full.handle(request('52:54:00:78:00:11', { messageType: MessageType.DISCOVER }), FROM67))!.options.hostname).toBe('n002');
    expect(r.nodes.get('52:54:00:aa:bb:cc')).toBeNull();
  });

  test('unknown MACs are ignored with unknownNodes: ignore and registered as discovered with discover', () => {
    const stranger = discoverOf('edk2-pxe', '02:00:00:00:00:09');
    expect(r.full.handle(stranger, FROM67)).toBeNull();
    expect(r.counters.get('dhcp.ignored.unknownMac')).toBe(1);
    expect(r.nodes.get('02:00:00:00:00:09')).toBeNull();
    const x = rig(config({}, { unknownNodes: 'discover' }));
    expect(decoded(x.full.handle(stranger, FROM67))!.options.bootFile).toBe('ipxe.efi');
    expect(x.nodes.get('02:00:00:00:00:09')).toMatchObject({ phase: 'discovered', arch: 7 });
    // An OS DHCP client is served but not registered.
    expect(x.full.handle(discoverOf('udhcpc', '02:00:00:00:00:0a'), FROM67)).not.toBeNull();
    expect(x.nodes.get('02:00:00:00:00:0a')).toBeNull();
  });

  test('a REQUEST naming another server frees our offer and gets no answer', () => {
    const x = rig(config({}, { unknownNodes: 'discover' }));
    const mac = '02:00:00:00:00:01';
    expect(decoded(x.full.handle(request(mac, { messageType: MessageType.DISCOVER }), FROM67))!.yiaddr).toBe('10.78.0.100');
    expect(x.full.handle(request(mac, { messageType: MessageType.REQUEST, serverId: '10.78.0.2', requestedIp: '10.78.0.150' }), FROM67)).toBeNull();
    expect(x.counters.get('dhcp.ignored.otherServer')).toBe(1);
    // Freed: the next client gets .100.
    expect(decoded(x.full.handle(request('02:00:00:00:00:02', { messageType: MessageType.DISCOVER }), FROM67))!.yiaddr).toBe('10.78.0.100');
  });

  test('INIT-REBOOT: NAK for an address on the wrong network or of another client; silence without a record unless authoritative', () => {
    const x = rig(config({}, { unknownNodes: 'discover', authoritative: false }));
    const nak = (o: Outgoing | null) => decoded(o)?.options.messageType === MessageType.NAK;
    expect(nak(x.full.handle(request('02:00:00:00:00:01', { messageType: MessageType.REQUEST, requestedIp: '192.168.1.7' }), FROM67))).toBe(true);
    expect(nak(x.full.handle(request('02:00:00:00:00:01', { messageType: MessageType.REQUEST, requestedIp: '10.78.0.11' }), FROM67))).toBe(true); // n001's
    expect(x.full.handle(request('02:00:00:00:00:01', { messageType: MessageType.REQUEST, requestedIp: '10.78.0.101' }), FROM67)).toBeNull();
    const auth = rig(config({}, { unknownNodes: 'discover', authoritative: true }));
    expect(decoded(auth.full.handle(request('02:00:00:00:00:01', { messageType: MessageType.REQUEST, requestedIp: '10.78.0.101' }), FROM67))!.options.messageType).toBe(MessageType.ACK);
  });

  test('a NAK is broadcast even to a client with ciaddr, and carries no boot file', () => {
    const o = r.full.handle(request(KNOWN, { messageType: MessageType.REQUEST }, { ciaddr: '10.78.0.77' }), FROM67)!;
    expect(decoded(o)!.options.messageType).toBe(MessageType.NAK);
    expect(o.address).toBe('255.255.255.255');
    expect(decoded(o)!.options.bootFile).toBeUndefined();
  });

  test('RENEWING: ACK unicast to ciaddr for the client holding the lease', () => {
    r.full.handle(request(KNOWN, { messageType: MessageType.REQUEST, serverId: SRV, requestedIp: '10.78.0.11' }), FROM67);
    const o = r.full.handle(request(KNOWN, { messageType: MessageType.REQUEST }, { ciaddr: '10.78.0.11', flags: 0 }), { address: '10.78.0.11', port: 68, localPort: 67 })!;
    expect(decoded(o)!.options.messageType).toBe(MessageType.ACK);
    expect(o).toMatchObject({ address: '10.78.0.11', port: 68 });
  });

  test('RELEASE frees the address; DECLINE quarantines it', () => {
    const x = rig(config({}, { unknownNodes: 'discover' }));
    const a = '02:00:00:00:00:01';
    const b = '02:00:00:00:00:02';
    x.full.handle(request(a, { messageType: MessageType.REQUEST, serverId: SRV, requestedIp: '10.78.0.100' }), FROM67);
    expect(x.leases.leaseOf(a)?.state).toBe('bound');
    x.full.handle(request(a, { messageType: MessageType.RELEASE, serverId: SRV }, { ciaddr: '10.78.0.100' }), FROM67);
    expect(x.leases.leaseOf(a)?.state).toBe('released');
    // b declines .100 after being offered it: nobody gets .100 for a while
    expect(decoded(x.full.handle(request(b, { messageType: MessageType.DISCOVER }), FROM67))!.yiaddr).toBe('10.78.0.101');
    x.full.handle(request(b, { messageType: MessageType.REQUEST, serverId: SRV, requestedIp: '10.78.0.101' }), FROM67);
    x.full.handle(request(b, { messageType: MessageType.DECLINE, serverId: SRV, requestedIp: '10.78.0.101' }), FROM67);
    expect(decoded(x.full.handle(request(b, { messageType: MessageType.DISCOVER }), FROM67))!.yiaddr).not.toBe('10.78.0.101');
  });

  test('through a relay: the pool of the relay subnet, the reply to giaddr:67, option 82 echoed', () => {
    const x = rig(config({}, { unknownNodes: 'discover' }));
    const p = request('02:00:00:00:00:05', { messageType: MessageType.DISCOVER, relayAgent: [1, 4, 0, 0, 0, 7] }, { giaddr: '10.90.5.1' });
    const o = x.full.handle(p, { address: '10.90.5.1', port: 67, localPort: 67 })!;
    const d = decoded(o)!;
    expect(o).toMatchObject({ address: '10.90.5.1', port: 67 });
    expect(d.yiaddr).toBe('10.90.5.50');
    expect(d.giaddr).toBe('10.90.5.1');
    expect(d.options.routers).toEqual(['10.90.5.1']);
    expect(d.options.relayAgent).toEqual([1, 4, 0, 0, 0, 7]);
    // A relay from a subnet we do not serve is ignored.
    expect(x.full.handle(request('02:00:00:00:00:05', { messageType: MessageType.DISCOVER }, { giaddr: '172.16.0.1' }), FROM67)).toBeNull();
  });

  test('a full pool answers nobody new (no hang, no crash), counts it and logs it once per 10 s', () => {
    const x = rig(config({}, { unknownNodes: 'discover' }));
    const offers = Array.from({ length: 8 }, (_, i) => x.full.handle(request(`02:00:00:00:01:0${i}`, { messageType: MessageType.DISCOVER }), FROM67));
    expect(offers.filter(Boolean)).toHaveLength(4); // .100-.103
    expect(x.counters.get('dhcp.poolExhausted')).toBe(4);
    expect(x.logs.filter((l) => l.msg.includes('exhausted'))).toHaveLength(1);
    // Offers not taken up expire and the addresses come back.
    x.clock.now += OFFER_HOLD_MS + 1;
    expect(x.full.handle(request('02:00:00:00:01:07', { messageType: MessageType.DISCOVER }), FROM67)).not.toBeNull();
  });

  test('leases persist in the database and expire', () => {
    const db = new DatabaseSync(':memory:');
    const clock = { now: 5_000_000 };
    const x = rig(config({}, { unknownNodes: 'discover', leaseTime: '10m' }), db, clock);
    const a = '02:00:00:00:00:01';
    x.full.handle(request(a, { messageType: MessageType.REQUEST, serverId: SRV, requestedIp: '10.78.0.102' }), FROM67);
    // A second server on the same database (a restart) knows the lease.
    const y = rig(config({}, { unknownNodes: 'discover', leaseTime: '10m' }), db, clock);
    expect(y.leases.leaseOf(a)).toMatchObject({ ip: '10.78.0.102', state: 'bound' });
    expect(decoded(y.full.handle(request(a, { messageType: MessageType.DISCOVER }), FROM67))!.yiaddr).toBe('10.78.0.102');
    // While bound, nobody else gets .102 even when it is all that is left.
    for (const n of ['10', '11', '13']) y.full.handle(request(`02:00:00:00:02:${n}`, { messageType: MessageType.DISCOVER }), FROM67);
    expect(y.full.handle(request('02:00:00:00:03:00', { messageType: MessageType.DISCOVER }), FROM67)).toBeNull();
    // After the lease time it can be reused.
    clock.now += 10 * 60_000 + 1;
    expect(decoded(y.full.handle(request('02:00:00:00:03:00', { messageType: MessageType.DISCOVER }), FROM67))).not.toBeNull();
  });
});

describe('proxy mode', () => {
  const proxyRig = () => rig(config({}, { mode: 'proxy', subnets: [] }));

  test('OVMF PXE DISCOVER gets an offer without an address: option 60 PXEClient, 43 discovery control, UUID echoed, boot file', () => {
    const x = proxyRig();
    const p = discoverOf('edk2-pxe');
    const o = x.proxy.handle(p, FROM67)!;
    const d = decoded(o)!;
    expect(d.options.messageType).toBe(MessageType.OFFER);
    expect(d.yiaddr).toBe('0.0.0.0');
    expect(d.siaddr).toBe(SRV);
    expect(d.options.vendorClass).toBe('PXEClient');
    expect(d.options.vendorSpecific).toEqual([6, 1, 8, 255]);
    expect(d.options.clientUuid).toEqual(p.options.clientUuid);
    expect(d.options.bootFile).toBe('ipxe.efi');
    expect(d.options.leaseTimeSec).toBeUndefined();
    expect(o).toMatchObject({ address: '255.255.255.255', port: 68 });
  });

  test('iPXE gets the script URL; HTTP boot gets HTTPClient and a URL', () => {
    const x = proxyRig();
    expect(decoded(x.proxy.handle(discoverOf('ipxe-bios'), FROM67))!.options.bootFile).toMatch(/\.ipxe$/);
    const h = decoded(x.proxy.handle(discoverOf('edk2-http'), FROM67))!;
    expect(h.options.vendorClass).toBe('HTTPClient');
    expect(h.options.bootFile).toMatch(/^http:\/\/.*\/firmware\/ipxe\.efi$/);
  });

  test('OS DHCP clients and REQUESTs on port 67 are left to the site server', () => {
    const x = proxyRig();
    expect(x.proxy.handle(discoverOf('udhcpc'), FROM67)).toBeNull();
    expect(x.proxy.handle(captured('edk2-pxe').find((p) => p.options.messageType === MessageType.REQUEST)!, FROM67)).toBeNull();
    expect(x.counters.get('dhcp.ignored.notPxe')).toBe(1);
    expect(x.counters.get('dhcp.ignored.notForProxy')).toBe(1);
  });

  test('a REQUEST on port 4011 gets an ACK unicast back to its sender', () => {
    const x = proxyRig();
    const req = captured('ipxe-bios').find((p) => p.options.messageType === MessageType.REQUEST)!;
    const o = x.proxy.handle({ ...req, ciaddr: '10.78.0.150' }, { address: '10.78.0.150', port: 68, localPort: 4011 })!;
    expect(o).toMatchObject({ address: '10.78.0.150', port: 68 });
    expect(decoded(o)!.options.messageType).toBe(MessageType.ACK);
  });

  test('unknown MACs: ignored, or answered with discover', () => {
    expect(proxyRig().proxy.handle(discoverOf('edk2-pxe', '02:00:00:00:00:33'), FROM67)).toBeNull();
    const x = rig(config({}, { mode: 'proxy', subnets: [], unknownNodes: 'discover' }));
    expect(x.proxy.handle(discoverOf('edk2-pxe', '02:00:00:00:00:33'), FROM67)).not.toBeNull();
  });
});
