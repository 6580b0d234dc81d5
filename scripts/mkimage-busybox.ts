// Builds the tiny test image: a directory (what the boot server tars on demand) with
// busybox as the whole userland, Debian's kernel from build/kernel with a small
// initramfs, GRUB (BIOS + UEFI) with what grub-install/grub-mkconfig need to run in the
// image's chroot, and an extlinux.conf for the installer's extlinux path. Once installed and booted it prints RACKCAST-INSTALLED-OS-UP on
// ttyS0. It also carries what the installer tests look at: a file capability, an ACL,
// a user xattr, a machine-id to reset and a post-install hook.
//
// usage: node scripts/mkimage-busybox.ts [--out DIR] [--tar FILE.tar.zst] [--no-grub]

import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { copyModules, copyWithLibs, installBusybox, makeSkeleton, packCpioZstd, run, which, writeFile } from './lib/rootfs.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const FILES = join(REPO, 'scripts/images/busybox');
const { values: opts } = parseArgs({
  options: {
    out: { type: 'string', default: join(REPO, 'build/images/busybox') },
    tar: { type: 'string' },
    'no-grub': { type: 'boolean', default: false },
  },
});

/** Drivers the image's initramfs may need to find its root disk (QEMU and common servers). */
const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'sd_mod', 'ahci', 'ata_piix', 'nvme', 'ext4', 'xfs', 'crc32c_generic'];
/** GRUB's programs; grub-mkconfig and /etc/grub.d are shell scripts busybox sh runs. */
const GRUB_PROGRAMS = ['grub-install', 'grub-probe', 'grub-mkimage', 'grub-mkrelpath', 'grub-editenv', 'grub-file', 'grub-script-check'];
const GRUB_SCRIPTS = ['00_header', '10_linux', '40_custom'];

const file = (name: string) => readFileSync(join(FILES, name), 'utf8');

function kernel(): { version: string; dir: string } {
  const dir = join(REPO, run(['bash', join(REPO, 'scripts/kernel.sh')]).trim());
  return { version: basename(dir), dir };
}

function initramfs(root: string, k: { version: string; dir: string }): void {
  const tmp = mkdtempSync(join(os.tmpdir(), 'rackcast-img-initramfs-'));
  try {
    makeSkeleton(tmp);
    installBusybox(tmp);
    copyModules(tmp, k.dir, k.version, INITRAMFS_MODULES);
    writeFile(tmp, '/init', file('initramfs-init.sh'), 0o755);
    packCpioZstd(tmp, join(root, `boot/initrd.img-${k.version}`), 10);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function grub(root: string): void {
  for (const p of GRUB_PROGRAMS) copyWithLibs(root, which(p));
  writeFile(root, '/usr/bin/grub-mkconfig', readFileSync(which('grub-mkconfig'), 'utf8'), 0o755);
  for (const s of GRUB_SCRIPTS) writeFile(root, `/etc/grub.d/${s}`, readFileSync(`/etc/grub.d/${s}`, 'utf8'), 0o755);
  writeFile(root, '/usr/share/grub/grub-mkconfig_lib', readFileSync('/usr/share/grub/grub-mkconfig_lib', 'utf8'));
  symlinkSync('../../share/grub/grub-mkconfig_lib', join(root, 'usr/lib/grub/grub-mkconfig_lib'));
  for (const platform of ['i386-pc', 'x86_64-efi']) cpSync(`/usr/lib/grub/${platform}`, join(root, `usr/lib/grub/${platform}`), { recursive: true });
  writeFile(root, '/etc/default/grub', file('grub-default'));
}

function testFixtures(root: string): void {
  // File capability (security.capability xattr), ACL and user xattr: must survive the install.
  const cap = join(root, 'usr/local/bin/captest');
  mkdirSync(dirname(cap), { recursive: true });
  cpSync('/bin/busybox', cap);
  run(['setcap', 'cap_net_raw+ep', cap]);
  writeFile(root, '/var/lib/rackcast-test/acl', 'acl test\n');
  run(['setfacl', '-m', 'u:4242:r', join(root, 'var/lib/rackcast-test/acl')]);
  run(['setfattr', '-n', 'user.rackcast', '-v', 'kept', join(root, 'var/lib/rackcast-test/acl')]);
  writeFile(root, '/etc/machine-id', '0123456789abcdef0123456789abcdef\n', 0o444);
  writeFile(root, '/etc/rackcast/post-install.d/10-stamp', file('post-install-stamp.sh'), 0o755);
}

function main(): void {
  const root = opts.out!;
  const t0 = performance.now();
  const k = kernel();
  makeSkeleton(root, ['etc/init.d', 'boot/efi', 'boot/grub', 'var/log', 'usr/lib/grub']);
  installBusybox(root);
  writeFile(root, '/etc/inittab', file('inittab'));
  writeFile(root, '/etc/init.d/rcS', file('rcS'), 0o755);
  writeFile(root, '/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  writeFile(root, '/etc/group', 'root:x:0:\n');
  writeFile(root, '/etc/shadow', 'root::19000:0:99999:7:::\n', 0o600);
  writeFile(root, '/etc/hostname', 'unnamed\n');
  writeFile(root, '/etc/hosts', '127.0.0.1\tlocalhost\n');
  writeFile(root, '/etc/fstab', '# written by the installer\n');
  cpSync(join(k.dir, 'vmlinuz'), join(root, `boot/vmlinuz-${k.version}`));
  initramfs(root, k);
  if (!opts['no-grub']) grub(root);
  writeFile(root, '/boot/extlinux/extlinux.conf', file('extlinux.conf').replaceAll('@KVER@', k.version));
  testFixtures(root);
  let line = `image ${root}: kernel ${k.version}, ${run(['du', '-s', '--apparent-size', '--block-size=1M', root]).split('\t')[0]} MiB`;
  if (opts.tar) {
    run(['tar', '--create', '--zstd', '--file', opts.tar, '--directory', root, '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '.']);
    line += `, ${opts.tar} ${(Number(run(['stat', '-c', '%s', opts.tar])) / 1e6).toFixed(1)} MB`;
  }
  process.stdout.write(`${line} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
}

main();
