# Thin wrapper over CMake. The two commands a newcomer needs:
#   make demo   build and run the main example on the embedded mem:// backend
#   make test   the whole suite, then again under ASan+UBSan, then the concurrency tests
#               under TSan (installs missing Debian packages first)
# Also: make bench [W=W1,W3], make bench-results, make soak [SOAK_SECONDS=60], make build,
# make install [PREFIX=/usr/local], make clean. The workloads are defined in bench/BENCHMARKS.md.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# No "make[n]: Entering directory" lines from the recursive makes of CMake's Makefile builds.
MAKEFLAGS += --no-print-directory
PREFIX ?= /usr/local
W ?= W1,W2,W3,W4,W5,W6,W7,W10
# W3 replays a trace from bench/make_trace.c (built with the bench); TRACE_TOOL=PATH uses
# another generator taking the same arguments.
TRACE_TOOL ?=
SHELL := /bin/bash
CMAKE_FLAGS ?=
# make soak's length; make test runs the soak for SOAK_TEST_SECONDS
SOAK_SECONDS ?= 60
SOAK_TEST_SECONDS ?= 20

.PHONY: all deps configure build demo test test-release test-install test-soak test-asan test-tsan check bench \
	bench-results soak install clean

all: build

deps:
	@bash scripts/install-deps.sh

# $(call configure,DIR,FLAGS): a build folder, with Ninja when it is installed (install-deps.sh
# installs it): one short line a step, no recursive makes. A folder keeps the generator it
# was first made with.
configure = cmake -S . -B $(1) $$(test -f $(1)/CMakeCache.txt || ! command -v ninja >/dev/null || echo -G Ninja) \
	$(2) $(CMAKE_FLAGS) >/dev/null

configure: deps
	@$(call configure,build/release,-DCMAKE_BUILD_TYPE=RelWithDebInfo)

build: configure
	cmake --build build/release -j $(JOBS)

# Only what the demo needs: the library and examples/demo.c (not the tests).
demo: configure
	cmake --build build/release -j $(JOBS) --target demo
	./build/release/demo

test: test-release test-install test-soak test-asan test-tsan

test-release: build
	cd build/release && ctest --output-on-failure -j $(JOBS)

# Install into a staging folder, then build a consumer with pkg-config and with find_package.
test-install: build
	rm -rf build/stage build/consumer
	cmake --install build/release --prefix $(CURDIR)/build/stage >/dev/null
	@# the licence where packagers look: the text beside the docs, the SPDX id in cashews.pc
	test -f build/stage/share/doc/cashews/LICENSE
	grep -qx 'License: MIT' build/stage/lib/pkgconfig/cashews.pc
	@# the SONAME of docs/ABI.md: libcashews.so.MAJOR, or libcashews.so.0.MINOR before 1.0
	v=$$(sed -n 's/^Version: //p' build/stage/lib/pkgconfig/cashews.pc); \
	case $$v in 0.*) want=libcashews.so.$${v%.*};; *) want=libcashews.so.$${v%%.*};; esac; \
	readelf -d build/stage/lib/libcashews.so | grep -q "Library soname: \[$$want\]"
	cc -o build/stage/consumer-pc tests/install/consumer.c \
		$$(PKG_CONFIG_PATH=$(CURDIR)/build/stage/lib/pkgconfig pkg-config --cflags --libs cashews) \
		-Wl,-rpath,$(CURDIR)/build/stage/lib
	./build/stage/consumer-pc
	cmake -S tests/install -B build/consumer -DCMAKE_PREFIX_PATH=$(CURDIR)/build/stage >/dev/null
	cmake --build build/consumer >/dev/null
	./build/consumer/consumer
	./build/stage/bin/cashews version | grep -q "^cashews "

# Random commands and cached calls on mem://, redis:// and disk:// at once; RSS must level off
# (tests/soak/soak.c). Niced: it keeps both cores busy.
soak: build
	nice -n 10 ./build/release/cw_soak $(SOAK_SECONDS)

test-soak: build
	nice -n 10 ./build/release/cw_soak $(SOAK_TEST_SECONDS)

test-asan: deps
	@$(call configure,build/asan,-DCMAKE_BUILD_TYPE=Debug -DCW_SANITIZE=address -DCW_BUILD_BENCH=OFF)
	cmake --build build/asan -j $(JOBS)
	cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

test-tsan: deps
	@$(call configure,build/tsan,-DCMAKE_BUILD_TYPE=Debug -DCW_SANITIZE=thread -DCW_BUILD_BENCH=OFF -DCW_BUILD_EXAMPLES=OFF)
	cmake --build build/tsan -j $(JOBS)
	cd build/tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		ctest --output-on-failure -j $(JOBS) -L mt

check: test

bench: deps
	@$(call configure,build/bench,-DCMAKE_BUILD_TYPE=Release "-DCMAKE_C_FLAGS_RELEASE=-O2 -DNDEBUG" -DCW_BUILD_TESTS=OFF -DCW_BUILD_EXAMPLES=OFF)
	cmake --build build/bench -j $(JOBS) --target cw_bench
	./build/bench/cw_bench --workloads $(W) $(if $(TRACE_TOOL),--trace-tool $(TRACE_TOOL)) --tmp build/bench

# Run the workloads and rewrite bench/RESULTS.md from what they printed (the run's output
# stays in build/bench/last-run.log).
bench-results:
	mkdir -p build/bench
	set -o pipefail; $(MAKE) bench W=$(W) | tee build/bench/last-run.log
	./build/bench/cw_bench --summarize build/bench/last-run.log --results bench/RESULTS.md \
		--commit "$$(git describe --always --dirty 2>/dev/null)"

install: build
	cmake --install build/release --prefix $(PREFIX)

clean:
	rm -rf build
