// Records the DHCP traffic of real clients into test/fixtures/pcap/dhcp-<client>.pcap: the
// firmware (SeaBIOS + iPXE ROM, OVMF + iPXE ROM, OVMF's own PXE, OVMF's HTTP boot) in QEMU
// and the Linux clients udhcpc and dhclient, all against dnsmasq in a lab namespace.
// The client packets are what the DHCP decision tests replay. Run as root when a firmware
// or client version changes: node scripts/capture-dhcp-fixtures.ts [name...]
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Lab } from './lab/netns.ts';
import { Vm, type Firmware } from './lab/qemu.ts';

const OUT = resolve(import.meta.dirname, '../test/fixtures/pcap');
const SRV = '10.78.0.1';

interface Capture {
  name: string;
  run: (lab: Lab, work: string) => Promise<void>;
}

function vmCapture(name: string, firmware: Firmware, rom: 'ipxe' | 'none', marker: string, extra: string[] = []): Capture {
  return {
    name,
    run: async (lab, work) => {
      const tap = await lab.addTap();
      const vm = Vm.start({
        name,
        firmware,
        workDir: work,
        nics: [{ tap, mac: '52:54:00:78:00:10', rom, bootindex: 1 }],
        extraArgs: extra,
        launch: (argv, opts) => lab.spawnOnSwitch(argv, opts),
      });
      const r = await vm.waitFor([marker], { timeoutMs: 240_000, failOn: [] });
      // Let the exchange that follows the marker finish (REQUEST/ACK).
      await new Promise((res) => setTimeout(res, 4000));
      await vm.kill();
      if (!r.ok) throw new Error(`${name}: ${r.failure}\n${r.tail}`);
    },
  };
}

const CAPTURES: Capture[] = [
  vmCapture('ipxe-bios', 'bios', 'ipxe', 'script.ipxe'),
  vmCapture('ipxe-efi', 'uefi', 'ipxe', 'script.ipxe'),
  // OVMF's PXE gets ipxe.efi over TFTP; its iPXE then asks again (arch 7, user class iPXE).
  vmCapture('edk2-pxe', 'uefi', 'none', 'script.ipxe'),
  // PXE off through fw_cfg: OVMF goes straight to HTTP boot (vendor class HTTPClient, arch 16).
  vmCapture('edk2-http', 'uefi', 'none', 'Start HTTP Boot over IPv4', [
    '-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n',
    '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n',
  ]),
  {
    name: 'udhcpc',
    run: async (lab) => {
      const r = await lab.exec('cl', ['udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '3', '-T', '2', '-s', '/bin/true']);
      if (r.code !== 0) throw new Error(`udhcpc: ${r.stderr}`);
    },
  },
  {
    name: 'dhclient',
    run: async (lab, work) => {
      const args = ['-1', '-v', '-sf', '/bin/true', '-lf', join(work, 'dhclient.leases'), '-pf', join(work, 'dhclient.pid'), 'eth0'];
      const r = await lab.exec('cl', ['dhclient', ...args]);
      if (r.code !== 0) throw new Error(`dhclient: ${r.stderr}`);
    },
  },
];

async function capture(c: Capture): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), `rccap-${c.name}-`));
  const lab = await Lab.create({ hosts: [{ role: 'srv', cidr: `${SRV}/24` }, { role: 'cl', cidr: '10.78.0.250/24' }] });
  try {
    await lab.exec('cl', ['ip', 'addr', 'flush', 'dev', 'eth0']);
    const tftp = join(work, 'tftp');
    mkdirSync(tftp);
    copyFileSync('/usr/lib/ipxe/ipxe.efi', join(tftp, 'ipxe.efi'));
    const dnsmasq = lab.spawn('srv', [
      'dnsmasq', '-k', '-C', '/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces', '--no-ping', '--dhcp-authoritative',
      `--dhcp-range=10.78.0.100,10.78.0.199,255.255.255.0,1h`, `--dhcp-leasefile=${join(work, 'leases')}`,
      '--enable-tftp', `--tftp-root=${tftp}`, '--user=root', `--pid-file=${join(work, 'dnsmasq.pid')}`,
      '--dhcp-userclass=set:ipxe,iPXE', '--dhcp-vendorclass=set:http,HTTPClient',
      '--dhcp-match=set:efi64,option:client-arch,7',
      `--dhcp-boot=tag:ipxe,http://${SRV}/script.ipxe`,
      '--dhcp-boot=tag:efi64,tag:!ipxe,ipxe.efi',
      `--dhcp-boot=tag:http,http://${SRV}/ipxe.efi`,
      '--dhcp-option-force=tag:http,60,HTTPClient',
    ]);
    const pcap = join(OUT, `dhcp-${c.name}.pcap`);
    rmSync(pcap, { force: true });
    const dump = lab.spawn('srv', ['tcpdump', '-Z', 'root', '--immediate-mode', '-U', '-i', 'eth0', '-n', '-s', '0', '-w', pcap, 'udp port 67 or udp port 68 or udp port 4011'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise<void>((ok) => dump.stderr!.on('data', (d: Buffer) => d.toString().includes('listening on') && ok()));
    try {
      await c.run(lab, work);
    } finally {
      await new Promise((r) => setTimeout(r, 500));
      dump.kill('SIGINT');
      dnsmasq.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
    }
    process.stdout.write(`captured ${pcap}\n`);
  } finally {
    await lab.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

mkdirSync(OUT, { recursive: true });
const wanted = process.argv.slice(2);
for (const c of CAPTURES) if (wanted.length === 0 || wanted.includes(c.name)) await capture(c);
