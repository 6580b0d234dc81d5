#!/usr/bin/env bash
# Fetches Debian's current amd64 kernel package and unpacks it under build/kernel/ without
# installing it (no initramfs trigger, nothing touches /boot). Prints the directory.
# Result: build/kernel/<version>/{vmlinuz,lib/modules/<version>/...} and build/kernel/current -> <version>
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/kernel
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$pkg" ]; then
  apt-get update -qq
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
ver=${pkg#linux-image-}
dir=$out/$ver
if [ ! -f "$dir/vmlinuz" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"  # apt drops privileges to _apt for downloads
  (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null)
  mkdir -p "$dir"
  dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/x"
  mv "$tmp/x/boot/vmlinuz-$ver" "$dir/vmlinuz"
  mkdir -p "$dir/lib/modules"
  mv "$tmp/x/lib/modules/$ver" "$dir/lib/modules/"
  depmod -b "$dir" "$ver"
fi
ln -sfn "$ver" "$out/current"
echo "$dir"
