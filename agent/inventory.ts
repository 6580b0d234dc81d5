import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { listDisks } from './disk.ts';
import type { Inventory } from '../contract/index.ts';

// What the node has, from /proc and /sys: sent to the server before the install.

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** NICs with a device behind them (not bridges or veths); all but lo if there is none. */
export function listNics(sysNet = '/sys/class/net'): Inventory['nics'] {
  const all = readdirSync(sysNet).filter((n) => n !== 'lo').sort();
  const physical = all.filter((n) => read(`${sysNet}/${n}/device/uevent`) !== undefined);
  return (physical.length > 0 ? physical : all).map((name) => {
      const speed = Number(read(`${sysNet}/${name}/speed`));
    return { name, mac: read(`${sysNet}/${name}/address`) ?? '', ...(speed > 0 ? { speedMbps: speed } : {}) };
  });
}

export function collectInventory(agentVersion: string): Inventory {
  return {
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    disks: listDisks().map(({ removable: _r, ...d }) => d),
    nics: listNics(),
    arch: process.arch,
    agentVersion,
  };
}
