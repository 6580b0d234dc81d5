import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentError, checkResult } from './errors.ts';
import type { Exec } from './exec.ts';

// Block devices through sysfs and blkid: no udev in the initrd, so the agent finds disks,
// sizes and partition nodes itself.

/** Kernel names that are never an install target. */
const NOT_A_DISK = /^(loop|ram|zram|sr|fd|dm-|md|nbd)/;

/** /dev/vda + 2 → /dev/vda2; names ending in a digit (nvme0n1, loop3, mmcblk0) take a "p". */
export function partitionDevice(disk: string, number: number): string {
  return /\d$/.test(disk) ? `${disk}p${number}` : `${disk}${number}`;
}

function sysfs(device: string): string {
  return `/sys/class/block/${basename(realpathSync(device))}`;
}

export function blockDeviceBytes(device: string): number {
  if (!existsSync(device)) {
    throw new AgentError('AGENT_DISK_NOT_FOUND', `${device} does not exist`, {
      details: { device },
      remedy: 'name an existing disk in the plan (disk.device), or leave it out to use the first disk',
    });
  }
  // sysfs counts 512-byte sectors whatever the logical sector size.
  return Number(readFileSync(`${sysfs(device)}/size`, 'utf8').trim()) * 512;
}

export interface DiskInfo {
  name: string;
  sizeBytes: number;
  model?: string;
  rotational?: boolean;
  removable: boolean;
}

function readOpt(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Whole disks from /sys/block, in kernel name order. */
export function listDisks(sysBlock = '/sys/block'): DiskInfo[] {
  return readdirSync(sysBlock)
    .filter((name) => !NOT_A_DISK.test(name))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((name) => {
      const d = `${sysBlock}/${name}`;
      const model = readOpt(`${d}/device/model`);
      const rotational = readOpt(`${d}/queue/rotational`);
      return {
        name,
        sizeBytes: Number(readOpt(`${d}/size`) ?? 0) * 512,
        ...(model ? { model } : {}),
        ...(rotational === undefined ? {} : { rotational: rotational === '1' }),
        removable: readOpt(`${d}/removable`) === '1',
      };
    });
}

/** The plan's disk, or the first fixed disk with a size. */
export function chooseDisk(planned: string | undefined, disks: DiskInfo[]): string {
  if (planned) return planned;
  const first = disks.find((d) => !d.removable && d.sizeBytes > 0);
  if (!first) {
    throw new AgentError('AGENT_DISK_NOT_FOUND', 'no disk found', {
      details: { seen: disks.map((d) => d.name) },
      remedy: 'check that the node has a disk and that the initrd has its storage driver (see initrd/modules.txt)',
    });
  }
  return `/dev/${first.name}`;
}

/** Sources in /proc/mounts that live on `disk` (the disk itself or its partitions). */
export function mountedFrom(disk: string, mounts = readFileSync('/proc/mounts', 'utf8')): string[] {
  const re = new RegExp(`^${disk.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(p?\\d+)?$`);
  return mounts
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((src) => re.test(src));
}

/** Waits for a device node to appear (devtmpfs creates it once the kernel knows it). */
export async function waitForDevice(device: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(device)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** The filesystem UUID of a device (blkid, reading the device itself, not a cache). */
export async function filesystemUuid(exec: Exec, device: string, step: string): Promise<string> {
  const r = checkResult(await exec(['blkid', '-p', '-s', 'UUID', '-o', 'value', device]), `AGENT_${step.toUpperCase()}_FAILED`, step, `check that ${device} has a filesystem (did mkfs run?)`);
  return r.stdout.trim();
}
