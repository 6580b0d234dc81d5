// The programs the agent runs. scripts/build-initrd.ts copies exactly these (with their
// libraries) into the initrd, and --self-test checks that they are there.

/** Full tools from Debian packages: busybox's applets of the same names differ or lack options. */
export const HOST_TOOLS = [
  'sfdisk',
  'partx',
  'wipefs',
  'blkid',
  'mkswap',
  'mkfs.ext4',
  'mkfs.xfs',
  'mkfs.vfat',
  'tar',
  'zstd',
  'extlinux',
] as const;

/** Busybox applets the agent and /init use. */
export const BUSYBOX_TOOLS = ['mount', 'umount', 'chroot', 'sync', 'ip', 'udhcpc', 'modprobe', 'sh'] as const;
