import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeFileSync, ftruncateSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { InstallStatus } from '../../bootserver/api-types.ts';
import type { Vm } from '../../scripts/lab/qemu.ts';
import { useBootLab, type BootLab } from '../helpers/boot-lab.ts';
import { REPO } from '../../scripts/lab/test-initrd.ts';

// The mission end to end with the real parts: `rackcast serve` in a lab namespace, the
// real initrd and agent, three VMs that PXE-boot at once, join one multicast session of
// the busybox image (a directory, tarred on demand), install GRUB, reboot, PXE again,
// get local boot and come up from their own disks. Then the fault: one VM killed
// mid-stream while the others finish; it is reported failed and a reinstall works.

const INITRD_DIR = join(REPO, 'build/initrd');
const OS_UP = 'RACKCAST-INSTALLED-OS-UP';
const LOCAL_BOOT = 'rackcast: local boot (installed';
const NODES = ['n001', 'n002', 'n003'].map((hostname, i) => ({ hostname, mac: `52:54:00:78:01:1${i}` }));

const lab = useBootLab({}, (bl) => {
  // Cached by input hash: rebuilt only when the agent or the initrd inputs changed.
  execFileSync(process.execPath, [join(REPO, 'scripts/build-initrd.ts')], { stdio: 'ignore' });
  const image = join(bl.dir, 'images/busybox');
  execFileSync(process.execPath, [join(REPO, 'scripts/mkimage-busybox.ts'), '--out', image], { stdio: 'ignore' });
  bl.config.installer = { kernel: join(INITRD_DIR, 'vmlinuz'), initrd: join(INITRD_DIR, 'initrd.img'), cmdline: 'console=ttyS0,115200 panic=-1' };
  bl.config.images = { busybox: { dir: image, maxWait: '10m' } };
  bl.config.defaults = { image: 'busybox', disk: { wipe: true, layout: [{ name: 'bios', role: 'bios-boot', size: '1MiB' }, { name: 'esp', role: 'esp', size: '64MiB', fs: 'vfat', mount: '/boot/efi' }, { name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' }] } };
  bl.config.nodes = NODES;
});

async function installs(bl: BootLab): Promise<InstallStatus> {
  const r = await bl.http('/api/v1/installs');
  return JSON.parse(r.body) as InstallStatus;
}

function startNode(bl: BootLab, n: (typeof NODES)[number], run: string): Promise<Vm> {
  const disk = join(bl.dir, `${n.hostname}.img`);
  const fd = openSync(disk, 'w');
  ftruncateSync(fd, 1024 ** 3);
  closeSync(fd);
  return bl.vm({ name: `${n.hostname}-${run}`, firmware: 'bios', mac: n.mac, memoryMiB: 1024, allowReboot: true, disks: [{ file: disk, bootindex: 2 }] });
}

async function waitAll(bl: BootLab, vms: Vm[], timeoutMs: number): Promise<void> {
  const results = await Promise.all(vms.map((vm) => vm.waitFor([LOCAL_BOOT, OS_UP], { timeoutMs })));
  results.forEach((r, i) => {
    if (!r.ok) throw new Error(`${vms[i]!.spec.name}: ${r.failure} after ${r.elapsedSec.toFixed(0)} s; logs kept in ${bl.keep()}\n--- serial ---\n${r.tail}\n--- server ---\n${bl.serverLog().slice(-4000)}`);
  });
}

test('three VMs install from one multicast session and boot their own disks', async () => {
  const bl = lab();
  const t0 = performance.now();
  const vms = await Promise.all(NODES.map((n) => startNode(bl, n, 'a')));
  await waitAll(bl, vms, 600_000);
  const wall = (performance.now() - t0) / 1000;
  const s = await installs(bl);
  expect(s.nodes.map((n) => [n.hostname, n.phase, n.stepsDone])).toEqual(NODES.map((n) => [n.hostname, 'installed', 10]));
  expect(s.sessions).toHaveLength(1);
  expect(s.sessions[0]).toMatchObject({ id: 1, image: 'busybox', state: 'done', joined: 3, minReceivers: 3 });
  for (const [i, vm] of vms.entries()) expect(await vm.lineWith(OS_UP)).toContain(`host=${NODES[i]!.hostname}`);
  const status = await bl.cli(['status']);
  expect(status.code, status.stderr).toBe(0);
  expect(status.stdout).toMatch(/session 1\s+busybox\s+done\s+3 node\(s\)/);
  expect(status.stdout).toContain('3 node(s): 3 installed');
  console.info(`3 VMs: PXE to own disk in ${wall.toFixed(0)} s; session 1 ${s.sessions[0]!.bytes} bytes`);
  for (const vm of vms) await vm.kill();
});

test('a VM killed mid-stream is reported failed while the others finish; a reinstall works', async () => {
  const bl = lab();
  // Incompressible padding makes the stream last long enough to kill a node inside it,
  // and shows that every session tars the directory as it is now.
  writeFileSync(join(bl.config.images.busybox.dir, 'padding.bin'), randomBytes(96 * 1024 * 1024));
  const all = await bl.cli(['node', 'reinstall', 'n[001-003]']);
  expect(all.code, all.stderr).toBe(0);
  const vms = await Promise.all(NODES.map((n) => startNode(bl, n, 'b')));
  const victim = vms[2]!;
  const deadline = Date.now() + 600_000;
  let streaming = false;
  while (!streaming && Date.now() < deadline) {
    const s = await installs(bl);
    streaming = s.sessions.some((x) => x.id === 2 && x.state === 'streaming' && x.bytes > 0);
    if (!streaming) await new Promise((r) => setTimeout(r, 250));
  }
  expect(streaming, 'session 2 never streamed').toBe(true);
  await victim.kill();
  await waitAll(bl, vms.slice(0, 2), 600_000);
  const s = await installs(bl);
  const byName = new Map(s.nodes.map((n) => [n.hostname, n]));
  expect(byName.get('n001')!.phase).toBe('installed');
  expect(byName.get('n002')!.phase).toBe('installed');
  expect(byName.get('n003')).toMatchObject({ phase: 'failed', failure: { message: expect.stringMatching(/dropped from session 2/) } });
  const view = await bl.cli(['status', 'n003']);
  expect(view.stdout).toMatch(/n003\s+failed/);
  expect(view.stdout).toMatch(/failed.*dropped from session 2/);

  expect((await bl.cli(['node', 'reinstall', 'n003'])).code).toBe(0);
  const again = await startNode(bl, NODES[2]!, 'c');
  await waitAll(bl, [again], 400_000);
  const after = await installs(bl);
  expect(after.nodes.map((n) => n.phase)).toEqual(['installed', 'installed', 'installed']);
  expect(after.sessions.find((x) => x.id === 3)).toMatchObject({ state: 'done', joined: 1, minReceivers: 1 });
  const watch = await bl.cli(['status', '--watch', '--timeout', '5']);
  expect(watch.code, watch.stdout).toBe(0);
}, 1_500_000);
