#!/usr/bin/env bash
# Builds a slim Debian 12 image directory for the later CI-only e2e: debootstrap minbase
# with systemd, Debian's kernel, GRUB for BIOS and UEFI and efibootmgr, trimmed (modules a
# VM never needs, docs, locales; a MODULES=list initramfs). Once installed and booted it
# prints RACKCAST-INSTALLED-OS-UP on ttyS0. About 3 minutes and 140 package downloads.
# usage: scripts/mkimage-debian.sh [OUT_DIR] [TAR.zst]     (default build/images/debian)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-$repo/build/images/debian}
tar_out=${2:-}
cache=$repo/build/cache/debootstrap
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$cache"
rm -rf "$root"
debootstrap --variant=minbase --cache-dir="$cache" \
  --include=systemd-sysv,linux-image-amd64,grub-pc-bin,grub-efi-amd64-bin,grub2-common,efibootmgr,dosfstools,iproute2,libcap2-bin \
  bookworm "$root" "$mirror"

cp "$repo/scripts/images/busybox/grub-default" "$root/etc/default/grub"
sed -i 's/^GRUB_DISTRIBUTOR=.*/GRUB_DISTRIBUTOR=Debian/' "$root/etc/default/grub"
cat > "$root/etc/systemd/system/rackcast-marker.service" <<'S'
[Unit]
Description=Say on the serial console that the installed system is up
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "RACKCAST-INSTALLED-OS-UP host=$(hostname) kernel=$(uname -r) root=$(findmnt -no SOURCE /) cmdline=$(cat /proc/cmdline)" > /dev/ttyS0'
[Install]
WantedBy=multi-user.target
S
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/rackcast-marker.service "$root/etc/systemd/system/multi-user.target.wants/rackcast-marker.service"
ln -sf /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
echo 'root:rackcast' | chroot "$root" chpasswd
: > "$root/etc/fstab"
cp "$root/bin/true" "$root/usr/local/bin/captest" && setcap cap_net_raw+ep "$root/usr/local/bin/captest"

# slim: what a VM never loads, docs and locales; an initramfs with an explicit module list
kver=$(ls "$root/usr/lib/modules")
m=$root/usr/lib/modules/$kver/kernel
rm -rf "$m"/sound "$m"/drivers/{gpu,media,infiniband,staging,iio,isdn,bluetooth,net/wireless,usb,hid,input,video,hwmon,mtd,comedi,thunderbolt,nfc,w1,leds,gnss} \
       "$m"/net/{wireless,bluetooth,mac80211} "$m"/fs/{nfs,nfsd,ceph,smb,ocfs2,gfs2,btrfs,f2fs,ubifs}
chroot "$root" depmod "$kver"
rm -rf "$root"/usr/share/{doc,man,info,locale}/* "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
printf '%s\n' virtio_pci virtio_blk virtio_scsi sd_mod ahci nvme ext4 xfs > "$root/etc/initramfs-tools/modules"
sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
chroot "$root" update-initramfs -u -k "$kver" >/dev/null

if [ -n "$tar_out" ]; then
  tar --create --zstd --file "$tar_out" --directory "$root" --numeric-owner --xattrs --xattrs-include='*' --acls .
fi
echo "debian image $root: kernel $kver, $(du -s --apparent-size --block-size=1M "$root" | cut -f1) MiB${tar_out:+, $tar_out $(stat -c %s "$tar_out") bytes}"
