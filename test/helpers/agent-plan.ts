import { readFileSync } from 'node:fs';
import type { InstallPlan, Partition } from '../../contract/index.ts';

// Install plans for tests: the usual BIOS + UEFI layout on a named device.

/** Whether this kernel mounts a filesystem type (the CI VM's kernel has no vfat). */
export function kernelHasFs(fs: string): boolean {
  return readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.split('\t')[1] === fs);
}

export const BIOS_UEFI_LAYOUT: Partition[] = [
  { name: 'bios', role: 'bios-boot', size: '1MiB' },
  { name: 'esp', role: 'esp', size: '64MiB', fs: 'vfat', mount: '/boot/efi' },
  { name: 'swap', role: 'swap', size: '16MiB', fs: 'swap' },
  { name: 'root', role: 'root', size: 'rest', fs: 'ext4', mount: '/' },
];

/** Where the kernel cannot mount vfat, the ESP-sized partition is a vfat data partition (made, not mounted). */
export const HOST_LAYOUT: Partition[] = kernelHasFs('vfat')
  ? BIOS_UEFI_LAYOUT
  : BIOS_UEFI_LAYOUT.map((p) => (p.role === 'esp' ? { name: 'esp', role: 'data', size: p.size, fs: 'vfat' } : p));

export function testPlan(device: string, over: Partial<InstallPlan> = {}): InstallPlan {
  return {
    node: { mac: '52:54:00:78:00:10', hostname: 'node10' },
    image: { name: 'busybox', format: 'tar.zst' },
    session: { portbase: 9000, startTimeoutSec: 60, receiveTimeoutSec: 20 },
    disk: { device, wipe: true, layout: HOST_LAYOUT },
    bootloader: 'grub',
    network: { mode: 'dhcp' },
    staging: 'tmpfs',
    hooks: ['echo "hook ran on $RACKCAST_HOSTNAME" > /etc/plan-hook'],
    ...over,
  };
}
