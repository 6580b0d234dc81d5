import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { imageStream } from '../../../bootserver/install/image-stream.ts';

// Root is needed for owners, device-free special bits and file capabilities, hence the
// netns (privileged) project.

const work = mkdtempSync(join(tmpdir(), 'rcimg-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function makeImage(dir: string): void {
  mkdirSync(join(dir, 'etc'), { recursive: true });
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  writeFileSync(join(dir, 'etc/hostname'), 'template\n');
  writeFileSync(join(dir, 'usr/bin/ping'), Buffer.alloc(100_000, 7));
  chmodSync(join(dir, 'usr/bin/ping'), 0o4755);
  execFileSync('chown', ['1234:5678', join(dir, 'etc/hostname')]);
  execFileSync('setcap', ['cap_net_raw+ep', join(dir, 'usr/bin/ping')]);
  execFileSync('setfattr', ['-n', 'user.rackcast', '-v', 'kept', join(dir, 'etc/hostname')]);
  symlinkSync('../usr/bin/ping', join(dir, 'etc/link'));
}

/** A listing that captures what must survive: names, modes, owners, links, xattrs. */
function describeTree(dir: string): string {
  const ls = execFileSync('find', ['.', '-printf', '%p %M %U:%G %l\\n'], { cwd: dir, encoding: 'utf8' }).split('\n').sort().join('\n');
  const caps = execFileSync('getcap', ['-r', '.'], { cwd: dir, encoding: 'utf8' });
  const xattrs = execFileSync('getfattr', ['-R', '-d', '-m', 'user\\.', '.'], { cwd: dir, encoding: 'utf8' });
  return `${ls}\n${caps}\n${xattrs}`;
}

test('the stream unpacks to the same tree, file capabilities and xattrs included', async () => {
  const src = join(work, 'image');
  const dst = join(work, 'out');
  mkdirSync(dst);
  makeImage(src);
  const parts: Buffer[] = [];
  for await (const c of imageStream(src)) parts.push(c);
  const r = spawnSync('tar', ['-x', '--zstd', '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '-C', dst], { input: Buffer.concat(parts) });
  expect(r.status, r.stderr?.toString()).toBe(0);
  expect(describeTree(dst)).toBe(describeTree(src));
  expect(describeTree(dst)).toMatch(/usr\/bin\/ping cap_net_raw=ep/);
});

test('a missing image directory is a clear error before anything is sent', async () => {
  const it = imageStream(join(work, 'nope'));
  await expect(it.next()).rejects.toMatchObject({ code: 'BOOT_IMAGE_MISSING', message: expect.stringMatching(/does not exist/) });
});

test('tar dying mid-stream ends the stream with an error naming it, not with a short image', async () => {
  const src = join(work, 'big');
  mkdirSync(src);
  writeFileSync(join(src, 'blob'), randomBytes(32 * 1024 * 1024));
  const it = imageStream(src);
  expect((await it.next()).done).toBe(false);
  // While we do not read, zstd and then tar block on their pipes: tar is still running.
  const children = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  const tarPid = children.split('\n').map((l) => l.trim().split(/\s+/)).find(([, comm]) => comm === 'tar')?.[0] ?? '';
  expect(tarPid).toMatch(/^\d+$/);
  process.kill(Number(tarPid), 'SIGKILL');
  let err: unknown;
  try {
    for (;;) if ((await it.next()).done) break;
  } catch (e) {
    err = e;
  }
  expect(err).toMatchObject({ code: 'BOOT_IMAGE_STREAM', details: expect.objectContaining({ program: 'tar', signal: 'SIGKILL' }) });
});
