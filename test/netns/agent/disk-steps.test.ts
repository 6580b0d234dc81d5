import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createInstallState, gatherFacts, releaseInstall, type InstallFacts, type InstallState } from '../../../agent/index.ts';
import { type InstallPlan, type StepName, type StepReport } from '../../../contract/index.ts';
import { createExec } from '../../../agent/exec.ts';
import { kernelHasFs, testPlan } from '../../helpers/agent-plan.ts';
import { collectingLogger } from '../../helpers/collect-log.ts';
import { LoopDisk, loopDevicesAvailable } from '../../helpers/loop-disk.ts';
import { runSteps, type StepDeps } from '../../helpers/run-steps.ts';

// The install steps on a real block device (a loop device), without the network: the
// staged image is put where receive would leave it. Real sfdisk, mkfs, GNU tar and
// GRUB (from the image's chroot). The full flow with a cast transfer is install.test.ts.

const sh = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
const REPO = join(import.meta.dirname, '../../..');
const VFAT = kernelHasFs('vfat');

describe.skipIf(!loopDevicesAvailable())('install steps on a loop device', () => {
  let work: string;
  let image: string;
  let disk: LoopDisk;
  let plan: InstallPlan;
  let facts: InstallFacts;
  let state: InstallState;
  const logger = collectingLogger();
  const exec = createExec(logger.log);
  const reports: StepReport[] = [];
  const timings: Record<string, number> = {};
  let deps: StepDeps;

  async function runStep(name: StepName): Promise<void> {
    Object.assign(timings, await runSteps([name], plan, facts, state, deps));
  }

  beforeAll(() => {
    work = mkdtempSync(join(os.tmpdir(), 'rc-agent-steps-'));
    image = join(work, 'image.tar.zst');
    execFileSync(process.execPath, [join(REPO, 'scripts/mkimage-busybox.ts'), '--out', join(work, 'image'), '--tar', image], { stdio: 'ignore' });
    disk = LoopDisk.create(512);
    plan = testPlan(disk.device, { bootloader: 'extlinux' });
    facts = gatherFacts(plan, { arch: 'x64', efi: false, nic: { name: 'eth0', mac: plan.node.mac } });
    state = createInstallState({ exec, log: logger.log });
    deps = {
      log: logger.log,
      exec,
      paths: { target: join(work, 'target'), staging: join(work, 'staging'), dev: '/dev', efivars: join(work, 'no-efivars') },
      reporter: { reportStep: (r) => reports.push(r) },
      signal: new AbortController().signal,
    };
  });

  afterAll(async () => {
    if (state) await releaseInstall({ state, log: logger.log });
    disk?.destroy();
    rmSync(work, { recursive: true, force: true });
    console.info(`step times on ${disk?.device} (ms): ${JSON.stringify(timings)}`);
  });

  test('partition writes the GPT of the plan: BIOS boot, ESP, swap, root filling the disk', async () => {
    await runStep('wipe');
    await runStep('partition');
    const table = JSON.parse(sh(['sfdisk', '--json', disk.device])) as { partitiontable: { label: string; partitions: { start: number; size: number; type: string; name: string }[] } };
    expect(table.partitiontable.label).toBe('gpt');
    const parts = table.partitiontable.partitions;
    expect(parts.map((p) => p.name)).toEqual(['bios', 'esp', 'swap', 'root']);
    expect(parts.map((p) => p.type)).toEqual([
      '21686148-6449-6E6F-744E-656564454649',
      VFAT ? 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' : '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
      '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
      '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
    ]);
    expect(parts[0]!.start).toBe(2048);
    // root runs to 1 MiB before the end (backup GPT): 512 - 1 - 1 - 64 - 16 - 1 MiB
    expect(parts[3]!.size).toBe(429 * 2048);
    for (const p of facts.disk.partitions) expect(existsSync(p.device)).toBe(true);
  });

  test('mkfs makes vfat, swap and ext4 with the tools from Debian', async () => {
    await runStep('mkfs');
    const type = (dev: string) => sh(['blkid', '-p', '-s', 'TYPE', '-o', 'value', dev]).trim();
    const [bios, esp, swap, root] = facts.disk.partitions.map((p) => p.device);
    expect(type(esp!)).toBe('vfat');
    expect(type(swap!)).toBe('swap');
    expect(type(root!)).toBe('ext4');
    expect(type(bios!)).toBe('');
    // extlinux cannot read ext4 with 64-bit block numbers
    expect(sh(['dumpe2fs', '-h', root!]).match(/^Filesystem features:.*$/m)![0]).not.toContain('64bit');
  });

  test('verify and extract unpack the staged image with capabilities, ACLs and xattrs', async () => {
    const staged = join(deps.paths.staging, 'image.tar.zst');
    execFileSync('mkdir', ['-p', deps.paths.staging]);
    copyFileSync(image, staged);
    const bytes = statSync(staged).size;
    const sha256 = sh(['sha256sum', staged]).split(' ')[0]!;
    state.image = { mode: 'tmpfs', reason: 'test', path: staged, bytes, sha256, extracted: false };
    plan.image.sha256 = sha256;
    plan.image.sizeBytes = bytes;
    await runStep('verify');
    await runStep('extract');
    const t = deps.paths.target;
    expect(existsSync(staged)).toBe(false);
    expect(sh(['getcap', join(t, 'usr/local/bin/captest')])).toContain('cap_net_raw=ep');
    expect(sh(['getfacl', '-p', join(t, 'var/lib/rackcast-test/acl')])).toContain('user:4242:r--');
    expect(sh(['getfattr', '-n', 'user.rackcast', '--only-values', join(t, 'var/lib/rackcast-test/acl')])).toBe('kept');
    if (VFAT) expect(sh(['findmnt', '-n', '-o', 'SOURCE', join(t, 'boot/efi')]).trim()).toBe(facts.disk.partitions[1]!.device);
  });

  test('identity writes fstab by UUID, the hostname, and empties machine-id', async () => {
    await runStep('identity');
    const t = deps.paths.target;
    const uuid = (dev: string) => sh(['blkid', '-p', '-s', 'UUID', '-o', 'value', dev]).trim();
    const [, esp, swap, root] = facts.disk.partitions.map((p) => p.device);
    const fstab = readFileSync(join(t, 'etc/fstab'), 'utf8');
    expect(fstab).toContain(`UUID=${uuid(root!)} / ext4 errors=remount-ro 0 1\n`);
    if (VFAT) expect(fstab).toContain(`UUID=${uuid(esp!)} /boot/efi vfat umask=0077 0 2\n`);
    expect(fstab).toContain(`UUID=${uuid(swap!)} none swap sw 0 0\n`);
    expect(readFileSync(join(t, 'etc/hostname'), 'utf8')).toBe('node10\n');
    expect(readFileSync(join(t, 'etc/hosts'), 'utf8')).toContain('127.0.1.1\tnode10');
    expect(readFileSync(join(t, 'etc/machine-id'), 'utf8')).toBe('');
  });

  // GRUB cannot install onto a loop device: its Linux disk code asks the partition for
  // HDIO_GETGEO, which loop devices do not implement (see bootloader-faults.test.ts).
  // extlinux covers BIOS boot here; GRUB BIOS + UEFI run in the QEMU e2e.
  test('bootloader installs extlinux with gptmbr and the root UUID filled in', async () => {
    await runStep('bootloader');
    const t = deps.paths.target;
    const [, , , root] = facts.disk.partitions;
    const rootUuid = sh(['blkid', '-p', '-s', 'UUID', '-o', 'value', root!.device]).trim();
    expect(readFileSync(join(t, 'boot/extlinux/extlinux.conf'), 'utf8')).toContain(`APPEND root=UUID=${rootUuid} console=ttyS0`);
    expect(existsSync(join(t, 'boot/extlinux/ldlinux.sys'))).toBe(true);
    const mbr = execFileSync('dd', [`if=${disk.device}`, 'bs=440', 'count=1', 'status=none']);
    expect(mbr.equals(readFileSync('/usr/lib/EXTLINUX/gptmbr.bin').subarray(0, 440))).toBe(true);
    expect(sh(['sfdisk', '--part-attrs', disk.device, String(root!.number)]).trim()).toBe('LegacyBIOSBootable');
  });

  test('hooks run the image hook and the plan hook in the chroot', async () => {
    await runStep('hooks');
    const t = deps.paths.target;
    expect(readFileSync(join(t, 'etc/rackcast-installed'), 'utf8')).toBe('installed host=node10 mac=52:54:00:78:00:10 image=busybox\n');
    expect(readFileSync(join(t, 'etc/plan-hook'), 'utf8')).toBe('hook ran on node10\n');
  });

  test('finish unmounts everything', async () => {
    await runStep('finish');
    expect(sh(['cat', '/proc/mounts'])).not.toContain(deps.paths.target);
  });
});
