import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { CommandFailedError, createInstallState, gatherFacts, releaseInstall, runInstall, type InstallState } from '../../../agent/index.ts';
import { type StepReport } from '../../../contract/index.ts';
import { createExec } from '../../../agent/exec.ts';
import { testPlan } from '../../helpers/agent-plan.ts';
import { collectingLogger } from '../../helpers/collect-log.ts';
import { LoopDisk, loopDevicesAvailable } from '../../helpers/loop-disk.ts';
import { runSteps } from '../../helpers/run-steps.ts';

// Failures on real block devices: refused before anything is written, or reported with
// the step, the command, its exit code and the tail of its output.

const REPO = join(import.meta.dirname, '../../..');

function firstMiBs(device: string, mib: number): Buffer {
  return execFileSync('dd', [`if=${device}`, 'bs=1M', `count=${mib}`, 'status=none'], { maxBuffer: 64 << 20 });
}

describe.skipIf(!loopDevicesAvailable())('install faults', () => {
  const disks: LoopDisk[] = [];
  let work: string;
  const states: InstallState[] = [];
  const logger = collectingLogger();
  const exec = createExec(logger.log);

  beforeAll(() => {
    work = mkdtempSync(join(os.tmpdir(), 'rc-agent-faults-'));
    return () => rmSync(work, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const state of states.splice(0)) await releaseInstall({ state, log: logger.log });
    for (const d of disks.splice(0)) d.destroy();
  });

  function deps(reports: StepReport[]) {
    return {
      log: logger.log,
      exec,
      paths: { target: join(work, 'target'), staging: join(work, 'staging'), dev: '/dev', efivars: join(work, 'none') },
      reporter: { reportStep: (r: StepReport) => reports.push(r) },
      signal: new AbortController().signal,
      arch: 'x64',
      efi: false,
      nic: null,
    };
  }

  test('a disk smaller than the layout is refused before anything is written', async () => {
    const disk = LoopDisk.create(64);
    disks.push(disk);
    // A foreign signature that must survive: the refusal comes before wipe.
    execFileSync('mkfs.ext4', ['-q', '-F', disk.device]);
    const before = firstMiBs(disk.device, 4);
    const plan = testPlan(disk.device, { disk: { device: disk.device, wipe: true, layout: [{ name: 'root', role: 'root', size: '100MiB', fs: 'ext4', mount: '/' }] } });
    const reports: StepReport[] = [];
    const err = await runInstall(plan, deps(reports)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AGENT_DISK_TOO_SMALL', details: { device: disk.device, usableMiB: 62, neededMiB: 100 } });
    expect(reports).toEqual([{ step: 'plan', status: 'failed', durationMs: 0, error: expect.objectContaining({ code: 'AGENT_DISK_TOO_SMALL', remedy: expect.stringContaining('layout') }) }]);
    expect(firstMiBs(disk.device, 4).equals(before)).toBe(true);
  });

  test('a disk with a filesystem is refused unless the plan says wipe', async () => {
    const disk = LoopDisk.create(128);
    disks.push(disk);
    execFileSync('mkfs.ext4', ['-q', '-F', disk.device]);
    const before = firstMiBs(disk.device, 4);
    const plan = testPlan(disk.device, { bootloader: 'none', disk: { device: disk.device, wipe: false, layout: [{ name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' }] } });
    const reports: StepReport[] = [];
    await expect(runInstall(plan, deps(reports))).rejects.toMatchObject({ code: 'AGENT_DISK_NOT_EMPTY', details: { signatures: ['ext4'] } });
    expect(reports.map((r) => `${r.step}:${r.status}`)).toEqual(['wipe:running', 'wipe:failed']);
    expect(firstMiBs(disk.device, 4).equals(before)).toBe(true);
  });

  test('a corrupt image fails extract with the tar command, its exit code and its complaint', async () => {
    const disk = LoopDisk.create(128);
    disks.push(disk);
    const plan = testPlan(disk.device, { bootloader: 'none', disk: { device: disk.device, wipe: true, layout: [{ name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' }] } });
    const facts = gatherFacts(plan, { arch: 'x64', efi: false, nic: null });
    const state = createInstallState({ exec, log: logger.log });
    states.push(state);
    const reports: StepReport[] = [];
    const d = deps(reports);
    await runSteps(['wipe', 'partition', 'mkfs'], plan, facts, state, d);
    // A real tar.zst of incompressible data, cut in the middle of a frame.
    writeFileSync(join(work, 'random'), randomBytes(1 << 20));
    const whole = execFileSync('tar', ['--create', '--zstd', '--file', '-', '--directory', work, 'random'], { maxBuffer: 8 << 20 });
    const staged = join(work, 'broken.tar.zst');
    writeFileSync(staged, whole.subarray(0, whole.length >> 1));
    state.image = { mode: 'tmpfs', reason: 'test', path: staged, bytes: whole.length >> 1, sha256: 'x', extracted: false };
    const err = (await runSteps(['extract'], plan, facts, state, d).catch((e: unknown) => e)) as CommandFailedError;
    expect(err).toBeInstanceOf(CommandFailedError);
    expect(err.code).toBe('AGENT_EXTRACT_FAILED');
    expect(err.result.argv.slice(0, 5)).toEqual(['tar', '--extract', '--zstd', '--file', staged]);
    expect(err.result.exitCode).toBe(2);
    expect(err.result.outputTail).toMatch(/Unexpected EOF in archive/);
  });

  test('GRUB on a loop device fails with the command and grub-install\'s own words', async () => {
    const disk = LoopDisk.create(256);
    disks.push(disk);
    const image = join(work, 'image.tar.zst');
    execFileSync(process.execPath, [join(REPO, 'scripts/mkimage-busybox.ts'), '--out', join(work, 'image'), '--tar', image], { stdio: 'ignore' });
    const plan = testPlan(disk.device, {
      disk: { device: disk.device, wipe: true, layout: [{ name: 'bios', role: 'bios-boot', size: '1MiB' }, { name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' }] },
      steps: ['wipe', 'partition', 'mkfs', 'extract', 'bootloader'],
    });
    const facts = gatherFacts(plan, { arch: 'x64', efi: false, nic: null });
    const state = createInstallState({ exec, log: logger.log });
    states.push(state);
    const d = deps([]);
    await runSteps(['wipe', 'partition', 'mkfs'], plan, facts, state, d);
    execFileSync('cp', [image, join(work, 'staged.tar.zst')]);
    state.image = { mode: 'tmpfs', reason: 'test', path: join(work, 'staged.tar.zst'), bytes: 1, sha256: 'x', extracted: false };
    await runSteps(['extract'], plan, facts, state, d);
    const err = (await runSteps(['bootloader'], plan, facts, state, d).catch((e: unknown) => e)) as CommandFailedError;
    expect(err.code).toBe('AGENT_BOOTLOADER_FAILED');
    expect(err.details).toMatchObject({ step: 'bootloader', exitCode: 1, command: ['chroot', d.paths.target, 'grub-install', '--target=i386-pc', disk.device] });
    expect(err.result.outputTail).toContain('cannot find a GRUB drive');
    expect(readFileSync('/proc/mounts', 'utf8')).toContain(`${d.paths.target}/dev`);
  });
});
