#!/usr/bin/env bash
# Builds the agent binaries and the initrd twice, from two copies of this checkout in
# different directories, and compares the bytes. Exit 0 when every file is identical.
# The copies share node_modules, the fetched kernel and the Node base cache (inputs,
# not outputs), so the check costs two builds and no downloads.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/rc-repro.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for copy in a b-longer-path; do
  dir=$tmp/$copy/rackcast
  mkdir -p "$dir/build"
  (cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - --) | tar -xf - -C "$dir"
  ln -s "$repo/node_modules" "$dir/node_modules"
  ln -s "$repo/build/kernel" "$dir/build/kernel"
  ln -s "$repo/build/cache" "$dir/build/cache"
  ln -s "$repo/build/native" "$dir/build/native"
  (cd "$dir" && node scripts/build-initrd.ts --force "$@" >/dev/null 2>"$tmp/$copy.log") || { cat "$tmp/$copy.log"; exit 1; }
done
status=0
for f in agent.cjs agent-linux-x64 agent-linux-arm64 initrd.img vmlinuz; do
  a=$(sha256sum < "$tmp/a/rackcast/build/initrd/$f" | cut -d' ' -f1)
  b=$(sha256sum < "$tmp/b-longer-path/rackcast/build/initrd/$f" | cut -d' ' -f1)
  if [ "$a" = "$b" ]; then echo "same      $f  $a"; else echo "DIFFERENT $f  $a $b"; status=1; fi
done
[ $status = 0 ] && echo "reproducible: two builds from different directories are identical"
exit $status
