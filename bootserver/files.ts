import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, isAbsolute, normalize, sep } from 'node:path';

// Files served to the network (TFTP, HTTP /firmware/): the first stages the config names
// by absolute path (Debian's /usr/lib/ipxe/ipxe.efi is itself a link to /boot), served
// under their base name because the admin chose them; everything else from one root
// directory, where a name is resolved with realpath and must stay inside the root after
// every symlink is followed, and must be a regular file: links inside the root work, links
// out of it (or "..") are refused. Small files are kept in memory; a changed file (size or
// mtime) is read again.

export type Resolved = { ok: true; path: string; size: number } | { ok: false; reason: 'notFound' | 'denied' };

/** The name a client asks for: an absolute first stage by its base name, a relative one as written. */
export function requestName(configured: string): string {
  return isAbsolute(configured) ? basename(configured) : configured;
}

export class ServedFiles {
  private readonly root: string;
  private readonly named = new Map<string, string>();
  private readonly cache = new FileCache();

  /** `explicit`: configured file paths; the absolute ones are served by base name. */
  constructor(root: string, explicit: string[]) {
    this.root = root;
    for (const f of explicit) if (isAbsolute(f)) this.named.set(requestName(f), f);
  }

  async resolve(name: string): Promise<Resolved> {
    const path = this.named.get(name.replace(/^\/+/, ''));
    if (path === undefined) return resolveInRoot(this.root, name);
    try {
      const st = await stat(path);
      return st.isFile() ? { ok: true, path, size: st.size } : { ok: false, reason: 'notFound' };
    } catch {
      return { ok: false, reason: 'notFound' };
    }
  }

  read(path: string): Promise<Buffer> {
    return this.cache.read(path);
  }
}

export async function resolveInRoot(root: string, name: string): Promise<Resolved> {
  if (name.includes('\0')) return { ok: false, reason: 'denied' };
  const rel = normalize(name.replace(/^\/+/, ''));
  if (rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) return { ok: false, reason: 'denied' };
  let realRoot: string;
  let real: string;
  try {
    realRoot = await realpath(root);
    real = await realpath(`${root}/${rel}`);
  } catch {
    return { ok: false, reason: 'notFound' };
  }
  if (real !== realRoot && !real.startsWith(realRoot + sep)) return { ok: false, reason: 'denied' };
  const st = await stat(real);
  if (!st.isFile()) return { ok: false, reason: 'notFound' };
  return { ok: true, path: real, size: st.size };
}

/** Whole-file cache for the small, hot files (first stages are 100 KB to 4 MB). */
class FileCache {
  private readonly entries = new Map<string, { size: number; mtimeMs: number; data: Buffer }>();

  async read(path: string): Promise<Buffer> {
    const st = await stat(path);
    const hit = this.entries.get(path);
    if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.data;
    const data = await readFile(path);
    this.entries.set(path, { size: st.size, mtimeMs: st.mtimeMs, data });
    return data;
  }
}
