import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { StepReport } from '../../../agent/index.ts';
import { BIOS_UEFI_LAYOUT, testPlan } from '../../helpers/agent-plan.ts';
import { startQemu, type QemuRun } from '../../helpers/qemu-console.ts';
import { TapLab } from '../../helpers/tap-lab.ts';

// One VM installs itself with the real initrd: Debian kernel, drivers by modalias,
// DHCP on the BOOTIF NIC, the plan from a stand-in boot server, the tiny image over a
// cast session from `rackcast send`, GRUB for BIOS and UEFI from the image chroot.
// Then the disk boots on its own, with SeaBIOS and with OVMF.
// RACKCAST_E2E_IMAGE=debian installs the slim Debian image instead (minutes more; for
// a CI job of its own).

const REPO = join(import.meta.dirname, '../../..');
const NODE = process.execPath;
const MAC = '52:54:00:79:00:10';
const TOKEN = 'e2e0token';
const DEBIAN = process.env.RACKCAST_E2E_IMAGE === 'debian';
let lab: TapLab;
let work: string;
let vm: QemuRun | null = null;

beforeAll(async () => {
  execFileSync(NODE, [join(REPO, 'scripts/build-initrd.ts')], { stdio: 'inherit' });
  work = mkdtempSync(join(os.tmpdir(), 'rc-agent-vm-'));
  if (DEBIAN) execFileSync('bash', [join(REPO, 'scripts/mkimage-debian.sh'), join(work, 'image'), join(work, 'image.tar.zst')], { stdio: 'ignore' });
  else execFileSync(NODE, [join(REPO, 'scripts/mkimage-busybox.ts'), '--out', join(work, 'image'), '--tar', join(work, 'image.tar.zst')], { stdio: 'ignore' });
  lab = await TapLab.create('10.79.1.1/24');
});

afterAll(async () => {
  await vm?.stop();
  lab?.destroy();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('a VM installs itself over the network and its disk boots with BIOS and UEFI', async () => {
  const disk = join(work, 'disk.img');
  writeFileSync(disk, '');
  truncateSync(disk, (DEBIAN ? 3 : 1) * 1024 * 1024 * 1024);
  const image = join(work, 'image.tar.zst');
  // A prebuilt file: the server knows size and sha256, so the image is staged in tmpfs and checked.
  const sha256 = execFileSync('sha256sum', [image], { encoding: 'utf8' }).split(' ')[0]!;
  const plan = testPlan('/dev/vda', {
    node: { mac: MAC, hostname: 'vmnode' },
    image: { name: DEBIAN ? 'debian' : 'busybox', format: 'tar.zst', sizeBytes: statSync(image).size, sha256 },
    disk: { device: '/dev/vda', wipe: true, layout: BIOS_UEFI_LAYOUT },
  });
  writeFileSync(join(work, 'plan.json'), JSON.stringify(plan));
  writeFileSync(join(work, 'events.jsonl'), '');
  writeFileSync(join(work, 'udhcpd.conf'), `start 10.79.1.100\nend 10.79.1.150\ninterface ${lab.bridge}\nlease_file ${join(work, 'leases')}\noption subnet 255.255.255.0\noption router ${lab.address}\n`);
  writeFileSync(join(work, 'leases'), '');
  lab.spawn(['busybox', 'udhcpd', '-f', join(work, 'udhcpd.conf')], { stdio: 'ignore' });
  const server = lab.spawn([NODE, join(REPO, 'test/helpers/fake-bootserver.ts'), '--port', '8080', '--token', TOKEN, '--plan', join(work, 'plan.json'), '--events', join(work, 'events.jsonl'), '--next', 'poweroff'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => server.stdout!.once('data', r));
  lab.spawn([NODE, join(REPO, 'cli/main.ts'), 'send', '--file', image, '--interface', lab.bridge, '--min-receivers', '1', '--max-wait', '600'], { stdio: 'ignore' });

  const t0 = performance.now();
  const out = join(REPO, 'build/initrd');
  const qemuArgs = ['-m', DEBIAN ? '2048' : '1536', '-smp', '2', '-drive', `file=${disk},if=virtio,format=raw`, '-netdev', `tap,id=n0,ifname=${lab.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${MAC}`];
  const append = `console=ttyS0,115200 panic=-1 rackcast.server=http://${lab.address}:8080 rackcast.token=${TOKEN} BOOTIF=01-${MAC.replaceAll(':', '-')}`;
  // QEMU runs inside the namespace, where its tap is.
  vm = startQemu(['-kernel', join(out, 'vmlinuz'), '-initrd', join(out, 'initrd.img'), '-append', append, ...qemuArgs], ['ip', 'netns', 'exec', lab.ns]);
  await vm.waitFor('rackcast: powering off', 600_000).catch((err: Error) => {
    throw new Error(`${err.message}\nserver events:\n${readFileSync(join(work, 'events.jsonl'), 'utf8').slice(-4000)}`);
  });
  const installS = (performance.now() - t0) / 1000;
  const events = readFileSync(join(work, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { path: string; body: StepReport });
  const done = events.filter((e) => e.path === '/api/v1/agent/step' && e.body.status !== 'running').map((e) => e.body);
  const failures = JSON.stringify(done.filter((s) => s.status === 'failed'), null, 1);
  expect(done.map((s) => `${s.step}:${s.status}`), failures).toEqual(['wipe', 'partition', 'mkfs', 'receive', 'verify', 'extract', 'identity', 'bootloader', 'hooks', 'finish'].map((s) => `${s}:succeeded`));
  expect(done.find((s) => s.step === 'bootloader')!.detail).toMatchObject({ targets: ['i386-pc', 'x86_64-efi (removable)'] });
  expect(done.find((s) => s.step === 'receive')!.detail).toMatchObject({ staging: 'tmpfs', sha256 });
  expect(done.find((s) => s.step === 'verify')!.detail).toMatchObject({ checked: ['size', 'sha256', 'zstd-frames'] });
  console.info(`VM install: ${installS.toFixed(1)} s wall; steps ms: ${done.map((s) => `${s.step}=${s.durationMs}`).join(' ')}`);
  await vm.stop();

  for (const [fw, extra] of [['bios', []], ['uefi', ['-bios', '/usr/share/ovmf/OVMF.fd']]] as const) {
    const t1 = performance.now();
    vm = startQemu(['-m', DEBIAN ? '1024' : '512', '-smp', '2', '-nic', 'none', '-drive', `file=${disk},if=virtio,format=raw`, ...extra]);
    const console_ = await vm.waitFor(/RACKCAST-INSTALLED-OS-UP[^\n]*\n/, DEBIAN ? 600_000 : 300_000);
    const line = /RACKCAST-INSTALLED-OS-UP[^\n]*/.exec(console_)![0];
    expect(line).toContain('host=vmnode');
    expect(line).toMatch(/root=\/dev\/vda4/);
    expect(line).toMatch(/cmdline=\S*BOOT_IMAGE=\S+ root=UUID=[0-9a-f-]{36} /);
    console.info(`${fw} boot of the installed disk: ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    await vm.stop();
  }
});
