#!/usr/bin/env bash
# For a fresh Debian machine: gets make and npm, then runs `make <target>` (demo, test, ...).
# Usage (as root): bash scripts/bootstrap.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v make >/dev/null || ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends make ca-certificates $(command -v npm >/dev/null || echo nodejs npm) >/dev/null
fi
exec make "${@:-test}"
