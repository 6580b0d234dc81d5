import { parseSizeMiB, type Partition, type PartitionRole } from '../contract/index.ts';
import { AgentError } from './errors.ts';

// Turns the plan's partition list (its grammar is the contract's) into absolute positions
// in MiB and the sfdisk script that writes them. Pure: the disk size comes in as a number,
// so "does it fit" is decided (and tested) before anything touches a disk.

const MIB = 1024 * 1024;

/** Partitions start at 1 MiB (alignment, room for the primary GPT). */
export const FIRST_START_MIB = 1;
/** Kept free at the end of the disk for the backup GPT (33 sectors), rounded to 1 MiB. */
export const TAIL_RESERVE_MIB = 1;
/** Smallest "rest" partition we accept: less is a plan written for another disk. */
export const MIN_REST_MIB = 16;

const TYPE_GUIDS: Record<Exclude<PartitionRole, 'root'>, string> = {
  'bios-boot': '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  data: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
};

/** Discoverable Partitions Specification root types, so systemd can find root by itself. */
const ROOT_TYPE_GUIDS: Record<string, string> = {
  x64: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  arm64: 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE',
};

export interface PlacedPartition extends Partition {
  /** 1-based partition number. */
  number: number;
  startMiB: number;
  sizeMiB: number;
  typeGuid: string;
}

export function typeGuid(role: PartitionRole, arch: string): string {
  if (role !== 'root') return TYPE_GUIDS[role];
  return ROOT_TYPE_GUIDS[arch] ?? TYPE_GUIDS.data;
}

/** Places every partition; throws AGENT_DISK_TOO_SMALL if the layout does not fit. */
export function placePartitions(layout: Partition[], diskBytes: number, arch: string, device = 'the disk'): PlacedPartition[] {
  const sizes = layout.map((p, i) => parseSizeMiB(`disk.layout[${i}].size`, p.size));
  const usableMiB = Math.floor(diskBytes / MIB) - FIRST_START_MIB - TAIL_RESERVE_MIB;
  const fixedMiB = sizes.reduce<number>((sum, s) => sum + (s ?? 0), 0);
  const hasRest = sizes.includes(null);
  const neededMiB = fixedMiB + (hasRest ? MIN_REST_MIB : 0);
  if (neededMiB > usableMiB) {
    throw new AgentError('AGENT_DISK_TOO_SMALL', `${device} has ${Math.max(usableMiB, 0)} MiB usable, the layout needs ${neededMiB} MiB`, {
      step: 'partition',
      details: { device, diskBytes, usableMiB, neededMiB, layout: layout.map((p) => `${p.name}=${p.size}`) },
      remedy: 'give the node a plan whose layout fits this disk, or name a larger disk in disk.device',
    });
  }
  let start = FIRST_START_MIB;
  return layout.map((p, i) => {
    const sizeMiB = sizes[i] ?? usableMiB - fixedMiB;
    const placed = { ...p, number: i + 1, startMiB: start, sizeMiB, typeGuid: typeGuid(p.role, arch) };
    start += sizeMiB;
    return placed;
  });
}

/** sfdisk input for a fresh GPT with these partitions. */
export function sfdiskScript(parts: PlacedPartition[]): string {
  const lines = ['label: gpt'];
  for (const p of parts) lines.push(`start=${p.startMiB}MiB, size=${p.sizeMiB}MiB, type=${p.typeGuid}, name="${p.name}"`);
  return lines.join('\n') + '\n';
}
