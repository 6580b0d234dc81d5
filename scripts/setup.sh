#!/usr/bin/env bash
# Installs what rackcast's build, tests, benchmarks and demo need on Debian 12, then the
# pinned npm packages. Idempotent and quick when everything is present; run as root.
# The Makefile runs it before every target that needs it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Grouped by purpose; every group is needed by `make test`.
PKGS=(
  # build and run: node/npm for `npm ci` (Node 24 itself comes from npm), make, and a C
  # compiler for the batched I/O addon in udp/ (also the bench's batched reference floor)
  make nodejs npm ca-certificates gcc libc6-dev
  # cast: real udpcast peers, loss emulation, namespaces, captures
  udpcast nftables iproute2 tcpdump procps time
  # bootserver: VMs, firmware, first stages, reference servers and real clients
  qemu-system-x86 qemu-utils ipxe-qemu ipxe ovmf dnsmasq-base busybox-static cpio atftp curl
  isc-dhcp-client udhcpc
  # agent and initrd: disk tools, archive tools, kernel modules, bootloaders, arm64 smoke test
  zstd fdisk util-linux e2fsprogs dosfstools xfsprogs tar acl attr libcap2-bin kmod
  grub-pc-bin grub-efi-amd64-bin grub2-common extlinux syslinux-common debootstrap
  binutils-aarch64-linux-gnu qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross
)

if [ "$(id -u)" != 0 ]; then
  echo "setup: run as root (it installs Debian packages and creates network namespaces)" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# npm may come bundled with a nodejs that is not Debian's; only a usable npm matters.
if command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci when the lockfile changed since the last install.
stamp=node_modules/.rackcast-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
