# Regulars - the commands people type. The real build is CMake (CMakeLists.txt);
# this file only strings the steps together. See README.md.
#
#   make deps    install the Debian packages the project needs (root)
#   make         build everything native in build/
#   make test    deps + build + every test, plain, sanitized and fuzzed
#   make cross   aarch64 deps + cross build + unit tests under qemu-aarch64
#   make bench   build and run the benchmarks
#   make demo    build and start the system

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
CMAKE_FLAGS ?=
CTEST_FLAGS ?= --output-on-failure
FUZZ_SECONDS ?= 15
SEEDS ?= 20
DEMO_FLAGS ?=

.PHONY: all build deps deps-cross test test-unit test-asan test-fuzz cross bench demo chaos clean format help

all: build

help:
	@sed -n '3,10p' Makefile

deps:
	@scripts/deps.sh

deps-cross:
	@scripts/deps.sh cross

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Plain build: every test (unit + integration).
test-unit: build
	cd $(BUILD) && ctest $(CTEST_FLAGS) -j $(JOBS)

# Same tests, built with AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DREGULARS_SANITIZE=ON -DREGULARS_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_FLAGS) -j $(JOBS)

# libFuzzer targets (clang), each run for a bounded time over its seed corpus.
test-fuzz:
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DREGULARS_FUZZ=ON -DREGULARS_BENCH=OFF -DFUZZ_SECONDS=$(FUZZ_SECONDS) $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	cd build-fuzz && ctest $(CTEST_FLAGS) -j $(JOBS) -L fuzz

test: deps
	@$(MAKE) --no-print-directory test-unit
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-fuzz

cross: deps-cross
	@cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/toolchain.cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREGULARS_BENCH=OFF >/dev/null
	@cmake --build build-aarch64 -j $(JOBS)
	@scripts/check-arch.sh build-aarch64 AArch64
	cd build-aarch64 && ctest $(CTEST_FLAGS) -j $(JOBS) -L unit

# The sync chaos test in its long mode: SEEDS runs back to back (docs/testing-sync.md).
chaos: build
	RG_CHAOS_SEEDS=$(SEEDS) $(BUILD)/tests/sync/test_sync_chaos \
	  $(BUILD)/firmware/daemon/regulars-device $(BUILD)/gateway/regulars-gateway \
	  $(BUILD)/cloud-sync/regulars-cloud $(BUILD)/tools/regularsctl/regularsctl firmware/ui

bench: deps build
	@scripts/bench.sh $(BUILD)

# The whole store on this machine until Ctrl-C (docs/demo.md); e.g.
# make demo DEMO_FLAGS="--dir /tmp/demo", or DEMO_FLAGS=--check for the self test.
demo: deps build
	@scripts/demo.sh --build $(BUILD) $(DEMO_FLAGS)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build build-asan build-fuzz build-aarch64
