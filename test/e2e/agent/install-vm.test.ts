import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { NodeDetail } from '../../../bootserver/api-types.ts';
import { Vm } from '../../../scripts/lab/qemu.ts';
import { useBootLab } from '../../helpers/boot-lab.ts';
import { REPO } from '../../../scripts/lab/test-initrd.ts';

// One VM installs itself from `rackcast serve` with the real initrd: PXE, Debian kernel,
// drivers by modalias, DHCP on the BOOTIF NIC, the plan, the image directory streamed
// as a cast session, tmpfs staging, GRUB for BIOS and UEFI from the image chroot. Then
// the disk alone (no NIC) boots with SeaBIOS and with OVMF, the removable UEFI path.
// The slim Debian image (debootstrap, about 2 minutes more) installs from a UEFI PXE boot,
// so the NVRAM entry is made too; it runs in CI (CI=true) or with RACKCAST_E2E_IMAGE=debian,
// the busybox image elsewhere (the 3-VM e2e installs busybox in CI).

const image = process.env.RACKCAST_E2E_IMAGE ?? (process.env.CI === 'true' ? 'debian' : 'busybox');
const DEBIAN = image === 'debian';
const INSTALL_FIRMWARE = DEBIAN ? 'uefi' : 'bios';
const INITRD_DIR = join(REPO, 'build/initrd');
const OS_UP = 'RACKCAST-INSTALLED-OS-UP';
const STEPS = ['wipe', 'partition', 'mkfs', 'receive', 'verify', 'extract', 'identity', 'bootloader', 'hooks', 'finish'];

const lab = useBootLab({}, (bl) => {
  // Cached by input hash: rebuilt only when the agent or the initrd inputs changed.
  execFileSync(process.execPath, [join(REPO, 'scripts/build-initrd.ts')], { stdio: 'ignore' });
  const image = join(bl.dir, 'images/os');
  if (DEBIAN) execFileSync('bash', [join(REPO, 'scripts/mkimage-debian.sh'), image], { stdio: 'ignore' });
  else execFileSync(process.execPath, [join(REPO, 'scripts/mkimage-busybox.ts'), '--out', image], { stdio: 'ignore' });
  bl.config.installer = { kernel: join(INITRD_DIR, 'vmlinuz'), initrd: join(INITRD_DIR, 'initrd.img'), cmdline: 'console=ttyS0,115200 panic=-1' };
  bl.config.images = { os: { dir: image } };
  bl.config.defaults = { image: 'os', staging: 'tmpfs', disk: { wipe: true, layout: [{ name: 'bios', role: 'bios-boot', size: '1MiB' }, { name: 'esp', role: 'esp', size: '64MiB', fs: 'vfat', mount: '/boot/efi' }, { name: 'swap', role: 'swap', size: '16MiB', fs: 'swap' }, { name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' }] } };
  bl.config.nodes = [{ mac: '52:54:00:78:03:10', hostname: 'vmnode' }];
});

test('a VM installs itself over the network and its disk boots with BIOS and UEFI', async () => {
  const bl = lab();
  const disk = join(bl.dir, 'disk.img');
  const fd = openSync(disk, 'w');
  ftruncateSync(fd, (DEBIAN ? 3 : 1) * 1024 ** 3);
  closeSync(fd);
  const t0 = performance.now();
  // -no-reboot: the agent's reboot at the end stops QEMU; the disk is then booted alone below.
  const r = await bl.boot({ name: 'install', firmware: INSTALL_FIRMWARE, mac: '52:54:00:78:03:10', memoryMiB: DEBIAN ? 2048 : 1536, cpus: 2, disks: [{ file: disk, bootindex: 2 }] }, ['rackcast: install'], 120_000);
  expect(r.ok, r.explain).toBe(true);
  const ended = await r.vm.exited(DEBIAN ? 900_000 : 600_000);
  const installS = (performance.now() - t0) / 1000;
  const node = JSON.parse((await bl.http('/api/v1/nodes/vmnode')).body) as NodeDetail;
  const done = node.events.flatMap((e) => (e.data.kind === 'step' && e.data.report.status !== 'running' ? [e.data.report] : []));
  const failures = JSON.stringify(done.filter((s) => s.status === 'failed'), null, 1);
  expect(ended, `QEMU still runs after the install; logs in ${bl.keep()}`).not.toBeUndefined();
  expect(done.map((s) => `${s.step}:${s.status}`), failures).toEqual(STEPS.map((s) => `${s}:succeeded`));
  expect(node.phase).toBe('installed');
  // An NVRAM entry needs efivars (a UEFI boot) and efibootmgr in the image (Debian has it).
  expect(done.find((s) => s.step === 'bootloader')!.detail).toMatchObject({ targets: ['i386-pc', 'x86_64-efi (removable)'], nvram: DEBIAN });
  expect(done.find((s) => s.step === 'receive')!.detail).toMatchObject({ staging: 'tmpfs', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  console.info(`${image} install (${INSTALL_FIRMWARE} PXE): ${installS.toFixed(1)} s from power-on; steps ms: ${done.map((s) => `${s.step}=${s.durationMs}`).join(' ')}`);

  for (const firmware of ['bios', 'uefi'] as const) {
    const vm = Vm.start({ name: `disk-${firmware}`, firmware, workDir: join(bl.dir, 'vm'), memoryMiB: DEBIAN ? 1024 : 512, cpus: 2, disks: [{ file: disk }] });
    const up = await vm.waitFor([OS_UP], { timeoutMs: DEBIAN ? 600_000 : 300_000 });
    const line = (await vm.lineWith(OS_UP)) ?? '';
    await vm.kill();
    expect(up.ok, `${firmware}: ${up.failure}\n${up.tail}`).toBe(true);
    expect(line).toContain('host=vmnode');
    expect(line).toMatch(/root=\/dev\/vda4/);
    expect(line).toMatch(/cmdline=\S*BOOT_IMAGE=\S+ root=UUID=[0-9a-f-]{36} /);
    console.info(`${firmware} boot of the installed disk: ${up.marks[OS_UP]!.toFixed(1)} s`);
  }
});
