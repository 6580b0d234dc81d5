import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { InstallStatus, NodeDetail } from '../../bootserver/api-types.ts';
import type { Vm } from '../../scripts/lab/qemu.ts';
import { REPO } from '../../scripts/lab/test-initrd.ts';
import { useBootLab, type BootLab } from '../helpers/boot-lab.ts';

// A restart loses nothing, with the real agent in three VMs: the server is stopped cleanly
// (SIGTERM) while the nodes wait for their session, and killed (SIGKILL) while the next
// session streams. Nobody runs `rackcast node reinstall`: every node ends installed and
// boots its own disk.

const INITRD_DIR = join(REPO, 'build/initrd');
const OS_UP = 'RACKCAST-INSTALLED-OS-UP';
const NODES = ['n001', 'n002', 'n003'].map((hostname, i) => ({ hostname, mac: `52:54:00:78:02:1${i}` }));

const lab = useBootLab({}, (bl) => {
  execFileSync(process.execPath, [join(REPO, 'scripts/build-initrd.ts')], { stdio: 'ignore' });
  const image = join(bl.dir, 'images/busybox');
  execFileSync(process.execPath, [join(REPO, 'scripts/mkimage-busybox.ts'), '--out', image], { stdio: 'ignore' });
  // Incompressible padding makes the stream last long enough to kill the server inside it.
  writeFileSync(join(image, 'padding.bin'), randomBytes(96 * 1024 * 1024));
  bl.config.installer = { kernel: join(INITRD_DIR, 'vmlinuz'), initrd: join(INITRD_DIR, 'initrd.img'), cmdline: 'console=ttyS0,115200 panic=-1' };
  // Four receivers for three nodes: the first session waits until the server is stopped.
  bl.config.images = { busybox: { dir: image, minReceivers: 4, maxWait: '30m' } };
  bl.config.defaults = { image: 'busybox', disk: { wipe: true, layout: [{ name: 'bios', role: 'bios-boot', size: '1MiB' }, { name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' }] } };
  bl.config.nodes = NODES;
});

async function installs(bl: BootLab): Promise<InstallStatus> {
  return JSON.parse((await bl.http('/api/v1/installs')).body) as InstallStatus;
}

/** Polls the install status until `done` holds (bounded). */
async function until(bl: BootLab, what: string, done: (s: InstallStatus) => boolean, timeoutMs: number): Promise<InstallStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await installs(bl).catch(() => null);
    if (s && done(s)) return s;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s; last status ${JSON.stringify(s)}; logs in ${bl.keep()}\n${bl.serverLog().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function startNode(bl: BootLab, n: (typeof NODES)[number]): Promise<Vm> {
  const disk = join(bl.dir, `${n.hostname}.img`);
  const fd = openSync(disk, 'w');
  ftruncateSync(fd, 1024 ** 3);
  closeSync(fd);
  return bl.vm({ name: n.hostname, firmware: 'bios', mac: n.mac, memoryMiB: 1024, allowReboot: true, disks: [{ file: disk, bootindex: 2 }] });
}

test('three VMs install across a clean stop while they wait and a crash while they stream, with no admin action', async () => {
  const bl = lab();
  const vms = await Promise.all(NODES.map((n) => startNode(bl, n)));

  // 1. Every node waits in session 1 (it wants four): stop the server cleanly.
  await until(bl, 'all three nodes in the waiting session', (s) => s.sessions.some((x) => x.id === 1 && x.state === 'waiting' && x.joined === 3), 420_000);
  expect(await bl.stopServer('SIGTERM')).toBe(0);
  bl.config.images.busybox.minReceivers = 3;
  await bl.startServer();
  const afterStop = await installs(bl);
  expect(afterStop.nodes.map((n) => n.phase)).toEqual(['install', 'install', 'install']);
  expect(afterStop.nodes.every((n) => n.note?.includes('the boot server stopped during session 1'))).toBe(true);

  // 2. The agents learn it and join session 2 by themselves; it streams: kill the server.
  const streaming = await until(bl, 'a second session streaming to all three', (s) => s.sessions.some((x) => x.id > 1 && x.state === 'streaming' && x.joined === 3 && x.bytes > 0), 420_000);
  const second = streaming.sessions.find((x) => x.state === 'streaming')!.id;
  expect(await bl.stopServer('SIGKILL')).not.toBe(0);
  await bl.startServer();
  expect(bl.serverLog()).toMatch(/the last run stopped with 1 session\(s\) open; 3 node\(s\) whose image had not arrived join the next session/);

  // 3. They join a third session and finish; each boots its own disk.
  const ups = await Promise.all(vms.map((vm) => vm.waitFor([OS_UP], { timeoutMs: 900_000 })));
  ups.forEach((r, i) => expect(r.ok, `${vms[i]!.spec.name}: ${r.failure}; logs in ${bl.keep()}\n${r.tail}`).toBe(true));
  const done = await until(bl, 'all installed', (s) => s.nodes.every((n) => n.phase === 'installed'), 60_000);
  expect(done.sessions.some((x) => x.id > second && x.state === 'done' && x.joined === 3)).toBe(true);
  for (const n of NODES) {
    const detail = JSON.parse((await bl.http(`/api/v1/nodes/${n.hostname}`)).body) as NodeDetail;
    expect(detail.events.some((e) => e.message.includes('the boot server restarted before its image arrived'))).toBe(true);
    expect(detail.events.filter((e) => e.kind === 'admin')).toEqual([]);
  }
  for (const vm of vms) await vm.kill();
}, 1_800_000);
