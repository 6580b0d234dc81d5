// `make demo`: the whole job in a lab on this machine. A boot network in namespaces
// (nothing touches the host's own interfaces), `rackcast serve` on it with the real
// initrd and the busybox demo image (a directory), VMs that PXE-boot at once, install
// over one multicast session and boot their own disks. The live view is
// `rackcast status --watch`. Exit 0 when every VM runs its installed system; 1 (with
// the reason) when one failed.
//
//   node scripts/demo.ts [--vms 3] [--firmware bios|uefi] [--keep]
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BootLab, CLI } from './lab/boot-lab.ts';
import type { Firmware, Vm } from './lab/qemu.ts';

const REPO = resolve(import.meta.dirname, '..');
const OS_UP = 'RACKCAST-INSTALLED-OS-UP';

const { values: v } = parseArgs({
  options: {
    vms: { type: 'string', default: '3' },
    firmware: { type: 'string', default: 'bios' },
    keep: { type: 'boolean', default: false },
  },
});
const count = Number(v.vms);
if (!Number.isInteger(count) || count < 1 || count > 20) throw new Error(`--vms ${v.vms}: give 1 to 20 VMs`);
if (v.firmware !== 'bios' && v.firmware !== 'uefi') throw new Error(`--firmware ${v.firmware}: give bios or uefi`);
const firmware = v.firmware as Firmware;

const initrd = join(REPO, 'build/initrd');
const nodes = Array.from({ length: count }, (_, i) => ({ hostname: `n${String(i + 1).padStart(3, '0')}`, mac: `52:54:00:78:02:${(0x10 + i).toString(16)}` }));

const say = (msg: string) => process.stdout.write(`demo: ${msg}\n`);
const bl = await BootLab.create({ installer: { kernel: join(initrd, 'vmlinuz'), initrd: join(initrd, 'initrd.img') } });
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  if (v.keep) say(`--keep: lab left running; server log and serial logs in ${bl.keep()}`);
  else await bl.destroy();
  process.exit(code);
};
process.once('SIGINT', () => void stop(130));
process.once('SIGTERM', () => void stop(143));

try {
  bl.config.images = { busybox: { dir: join(REPO, 'build/images/busybox') } };
  bl.config.defaults = { image: 'busybox', disk: { wipe: true } };
  bl.config.nodes = nodes;
  await bl.startServer();
  say(`rackcast serve runs in namespace ${bl.lab.hosts.get('srv')!.ns} (config ${bl.configFile})`);
  const vms: Vm[] = [];
  for (const n of nodes) {
    const disk = join(bl.dir, `${n.hostname}.img`);
    const fd = openSync(disk, 'w');
    ftruncateSync(fd, 2 * 1024 ** 3);
    closeSync(fd);
    vms.push(await bl.vm({ name: n.hostname, firmware, mac: n.mac, memoryMiB: 1024, allowReboot: true, disks: [{ file: disk, bootindex: 2 }] }));
  }
  say(`${count} ${firmware.toUpperCase()} VM(s) power on and PXE-boot; serial logs in ${join(bl.dir, 'vm')}`);
  const status = bl.lab.spawn('srv', [process.execPath, CLI, 'status', '--watch', '--interval', '2', '--timeout', '3600', '--config', bl.configFile], { stdio: 'inherit' });
  const code = await new Promise<number>((r) => status.once('exit', (c) => r(c ?? 1)));
  if (code !== 0) {
    say(code === 1 ? 'a node failed; its reason is shown above (`rackcast node show <node>` has its log)' : 'the installs did not finish in time');
    await stop(1);
  }
  say('every node installed; waiting for them to come up from their own disks');
  const ups = await Promise.all(vms.map((vm) => vm.waitFor([OS_UP], { timeoutMs: 600_000 })));
  let failed = 0;
  ups.forEach((r, i) => {
    const name = nodes[i]!.hostname;
    if (r.ok) say(`${name}: its own disk booted the installed system (${r.marks[OS_UP]!.toFixed(0)} s after power-on)`);
    else say(`${name}: FAILED: ${r.failure}; serial log ${r.serialLog}`), failed++;
  });
  await stop(failed ? 1 : 0);
} catch (err) {
  say(`failed: ${(err as Error).message}`);
  await stop(1);
}
