#!/bin/sh
# /init of the rackcast installer initrd (busybox ash). Mounts the kernel filesystems,
# loads drivers for the hardware present (no udev: modalias coldplug), then runs the
# agent and acts on its exit status: 0 reboot, 10 power off, 11 power off after a failed
# install (with rackcast.debug: a shell first), 1 crash (restarted twice).
export PATH=/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
# The received image is staged here (up to 75 % of RAM; the agent checks what is free).
mount -t tmpfs -o size=75%,mode=1777 tmpfs /tmp
# The cast receiver asks for an 8 MiB socket buffer; the default cap is 208 KiB.
echo 16777216 > /proc/sys/net/core/rmem_max
echo "rackcast: initrd up, $(cut -d' ' -f1 /proc/uptime) s"

coldplug() {
  find /sys/devices -name modalias -exec cat {} + 2>/dev/null | sort -u | xargs -r modprobe -a -q 2>/dev/null
}
# Twice: virtio devices appear on their bus only once virtio_pci is loaded.
coldplug; coldplug
for m in $(cat /etc/rackcast/modules-always); do modprobe -q "$m"; done
if [ -d /sys/firmware/efi ]; then
  mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
fi
ip link set lo up
echo "rackcast: drivers loaded, disks: $(ls /sys/block | tr '\n' ' ')"

if grep -qw 'rackcast.mode=selftest' /proc/cmdline; then
  /usr/bin/agent --self-test && echo "RACKCAST-SELFTEST-OK" || echo "RACKCAST-SELFTEST-FAILED"
  poweroff -f
fi

rc=1
for attempt in 1 2 3; do
  /usr/bin/agent
  rc=$?
  [ "$rc" = 1 ] || break
  echo "rackcast: agent exited $rc (attempt $attempt), restarting in 10 s"
  sleep 10
done
case "$rc" in
  0) echo "rackcast: rebooting"; sync; reboot -f ;;
  10) echo "rackcast: powering off"; sync; poweroff -f ;;
esac
if grep -qE 'rackcast.debug(=1)?( |$)' /proc/cmdline; then
  echo "rackcast: agent exited $rc; debug shell (exit to power off)"
  setsid sh -c 'exec sh </dev/console >/dev/console 2>&1'
fi
echo "rackcast: powering off (agent exit status $rc)"
sync
poweroff -f
