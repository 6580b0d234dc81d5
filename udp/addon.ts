import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { getRawAsset, isSea } from 'node:sea';
import { fileURLToPath } from 'node:url';
import { UdpError } from './errors.ts';

// Loads native/mmsg.c as built by `make native`: from the checkout, or inside the agent's
// single executable from its asset. A build without it (a checkout without `make native`,
// the arm64 agent) is normal: callers keep plain dgram, same wire, slower.

/** How a socket moves its datagrams: the addon's batches, or dgram's one per call. */
export type BatchIo = 'mmsg' | 'dgram';

/** native/mmsg.c's functions (each documented there). */
export interface Addon {
  send(fd: number, packets: Buffer[], start: number, count: number, to: Uint32Array | null, port: number): number;
  sendRun(fd: number, buf: Buffer, off: number, count: number, stride: number, last: number, to: number, port: number): number;
  receive(fd: number, staging: Buffer, meta: Uint32Array, onBatch: (n: number) => void): object;
  stop(handle: object): void;
  busyPoll(handle: object, us: number): void;
  stats(handle: object): [wakeups: number, answered: number, missed: number];
}

/** The agent carries the addon as an asset of its single executable, under this name. */
export const MMSG_ASSET = 'mmsg.node';
const CHECKOUT_ADDON = fileURLToPath(new URL('../build/native/mmsg.node', import.meta.url));

/** How mmsgSelfCheck describes a build without the addon. */
export const MMSG_ABSENT = 'absent';

let loaded: { addon: Addon | null; error?: UdpError } | undefined;

function load(): { addon: Addon | null; error?: UdpError } {
  if (!loaded) {
    try {
      loaded = { addon: loadAddon() };
    } catch (err) {
      // dlopen's failure comes coded; unpacking the SEA asset to a file can fail too.
      loaded = { addon: null, error: err instanceof UdpError ? err : new UdpError('UDP_ADDON_LOAD', `cannot unpack ${MMSG_ASSET}: ${(err as Error).message}`, { cause: err }) };
    }
  }
  return loaded;
}

/** The addon, loaded once; null when this build has none or it failed to load. */
export function mmsgAddon(): Addon | null {
  return load().addon;
}

/** Why the addon this build has could not be loaded (UDP_ADDON_LOAD). */
export function mmsgLoadError(): UdpError | undefined {
  return load().error;
}

/** Why a socket meant for batched I/O got none: for a warning; undefined if it has it or the build has no addon. */
export function unbatchedReason(batched: boolean): string | undefined {
  if (batched) return undefined;
  const error = mmsgLoadError();
  if (error) return error.remedy ? `${error.message}: ${error.remedy}` : error.message;
  return mmsgAddon() ? "this Node's dgram sockets do not expose their fd" : undefined;
}

function loadAddon(): Addon | null {
  if (isSea()) {
    let bytes: ArrayBuffer;
    try {
      bytes = getRawAsset(MMSG_ASSET);
    } catch {
      return null; // built without it
    }
    // dlopen needs a file; once loaded the file can go.
    const dir = mkdtempSync(join(os.tmpdir(), 'rackcast-mmsg-'));
    try {
      writeFileSync(join(dir, MMSG_ASSET), new Uint8Array(bytes));
      return dlopen(join(dir, MMSG_ASSET));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return existsSync(CHECKOUT_ADDON) ? dlopen(CHECKOUT_ADDON) : null;
}

function dlopen(file: string): Addon {
  const m = { exports: {} as Addon };
  try {
    process.dlopen(m, file);
  } catch (err) {
    throw new UdpError('UDP_ADDON_LOAD', `cannot load ${file} (${(err as Error).message})`, {
      cause: err,
      details: { file },
      remedy: 'rebuild it with `make native`, or delete it',
    });
  }
  return m.exports;
}
