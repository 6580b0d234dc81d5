#!/bin/sh
# initramfs of the tiny busybox test image: drivers (modalias coldplug, no udev), the
# root filesystem named by root=UUID=... (written by the rackcast installer), switch_root.
export PATH=/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
coldplug() {
  find /sys/devices -name modalias -exec cat {} + 2>/dev/null | sort -u | xargs -r modprobe -a -q 2>/dev/null
}
coldplug; coldplug
for m in crc32c_generic ext4 xfs; do modprobe -q "$m"; done
root=$(sed -n 's/.*root=\([^ ]*\).*/\1/p' /proc/cmdline)
dev=
for i in $(seq 100); do
  dev=$(findfs "$root" 2>/dev/null) && break
  sleep 0.1
done
mkdir -p /newroot
if ! mount -o ro "$dev" /newroot; then
  echo "initramfs: cannot mount root $root ($dev)"
  exec sh
fi
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /sbin/init
