import { PlanError } from './errors.ts';
import { arr, obj, oneOf, optStr, str } from './fields.ts';

// The partition layout grammar: roles, filesystems, sizes and the rules between them. The
// agent checks the plan it receives with it, and the server checks every node's layout
// with it when it reads its config, so a layout the agent would refuse never starts.

const PARTITION_ROLES = ['bios-boot', 'esp', 'root', 'swap', 'data'] as const;
export type PartitionRole = (typeof PARTITION_ROLES)[number];

const FS_TYPES = ['ext4', 'xfs', 'vfat', 'swap'] as const;
export type FsType = (typeof FS_TYPES)[number];

export interface Partition {
  /** GPT partition name: at most 36 printable ASCII characters, no `"` or `\`. */
  name: string;
  role: PartitionRole;
  /** A size such as "1MiB", "512M", "20GiB", "1.5 GiB", or "rest" (at most one partition). */
  size: string;
  fs?: FsType;
  /** Absolute mount point in the installed system ("/" for the root partition). */
  mount?: string;
}

/** K/M/G/T are binary, as sfdisk and parted read them. */
const SIZE_UNITS: Record<string, number> = { KiB: 1 / 1024, K: 1 / 1024, MiB: 1, M: 1, GiB: 1024, G: 1024, TiB: 1024 * 1024, T: 1024 * 1024 };
const SIZE = /^(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|TiB|K|M|G|T)$/;
const SIZE_EXPECTED = 'a whole number of MiB such as "1MiB", "512M", "20GiB", "1.5 GiB", or "rest"';

/** A partition name goes into sfdisk's script between double quotes. */
const PARTITION_NAME = /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,36}$/;

/** "512MiB" or "512M" -> 512, "rest" -> null. Sizes below 1 MiB or not whole MiB are refused. */
export function parseSizeMiB(field: string, text: string): number | null {
  if (text === 'rest') return null;
  const m = SIZE.exec(text);
  const mib = m ? Number(m[1]) * SIZE_UNITS[m[2]!]! : NaN;
  if (!Number.isInteger(mib) || mib < 1) throw new PlanError(field, text, SIZE_EXPECTED);
  return mib;
}

function defaultFs(role: PartitionRole): FsType | undefined {
  return ({ esp: 'vfat', root: 'ext4', swap: 'swap' } as const)[role as 'esp' | 'root' | 'swap'];
}

function defaultMount(role: PartitionRole): string | undefined {
  return ({ esp: '/boot/efi', root: '/' } as Record<string, string>)[role];
}

function partition(f: string, v: unknown): Partition {
  const o = obj(f, v);
  const role = oneOf(`${f}.role`, o.role, PARTITION_ROLES);
  const p: Partition = {
    name: str(`${f}.name`, o.name, PARTITION_NAME, 'a name of at most 36 printable ASCII characters without " or \\'),
    role,
    size: str(`${f}.size`, o.size, undefined, SIZE_EXPECTED),
  };
  parseSizeMiB(`${f}.size`, p.size);
  const fs = o.fs === undefined ? defaultFs(role) : oneOf(`${f}.fs`, o.fs, FS_TYPES);
  if (fs) p.fs = fs;
  const mount = optStr(`${f}.mount`, o.mount, /^\/[^\s]*$/, 'an absolute path without spaces') ?? defaultMount(role);
  if (mount) p.mount = mount;
  if (role === 'bios-boot' && (p.fs || p.mount)) throw new PlanError(f, o, 'a bios-boot partition without fs or mount');
  if (role === 'esp' && p.fs !== 'vfat') throw new PlanError(`${f}.fs`, p.fs, 'vfat for an ESP');
  if (role === 'root' && (p.mount !== '/' || !p.fs || p.fs === 'swap' || p.fs === 'vfat')) throw new PlanError(f, o, 'root mounted at / with ext4 or xfs');
  if ((role === 'swap') !== (p.fs === 'swap')) throw new PlanError(`${f}.fs`, p.fs, 'swap exactly for the swap role');
  if (p.fs === 'swap' && p.mount) throw new PlanError(`${f}.mount`, p.mount, 'no mount point for swap');
  if (p.mount && !p.fs) throw new PlanError(`${f}.fs`, undefined, `a filesystem, since it is mounted at ${p.mount}`);
  return p;
}

/** Checks a layout (`field` names it in errors) and fills in the role defaults of fs and mount. */
export function validateLayout(v: unknown, field = 'disk.layout'): Partition[] {
  const parts = arr(field, v).map((p, i) => partition(`${field}[${i}]`, p));
  const count = (pred: (p: Partition) => boolean) => parts.filter(pred).length;
  if (count((p) => p.role === 'root') !== 1) throw new PlanError(field, parts.map((p) => p.role), 'exactly one root partition');
  if (count((p) => p.size === 'rest') > 1) throw new PlanError(field, parts.map((p) => p.size), 'at most one "rest" size');
  for (const key of ['name', 'mount'] as const) {
    const seen = parts.map((p) => p[key]).filter((x) => x !== undefined);
    if (new Set(seen).size !== seen.length) throw new PlanError(field, seen, `unique partition ${key}s`);
  }
  return parts;
}
