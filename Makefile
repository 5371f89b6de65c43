# Wraps CMake. Each build kind has its own directory under build/.
CMAKE ?= cmake
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)

.PHONY: all demo test test-one-worker test-asan test-tsan test-aarch64 bench install clean deps-%

all: build/dev/Makefile
	$(CMAKE) --build build/dev -j$(JOBS)

deps-%:
	@scripts/deps.sh $*

build/dev/Makefile: | deps-test
	$(CMAKE) -S . -B build/dev -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCIO_TESTING=ON

build/release/Makefile: | deps-build
	$(CMAKE) -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCIO_BUILD_TESTS=OFF

build/asan/Makefile: | deps-sanitize
	CC=clang $(CMAKE) -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DCIO_TESTING=ON -DCIO_SANITIZE=address

build/tsan/Makefile: | deps-sanitize
	CC=clang $(CMAKE) -S . -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCIO_TESTING=ON -DCIO_SANITIZE=thread

# tests/CMakeLists.txt reads CIO_TEST_TIMEOUT_MULTIPLIER when CMake runs, so it
# is exported to the configure and build steps (a rebuild may re-run CMake).
test-aarch64 build/aarch64/Makefile: export CIO_TEST_TIMEOUT_MULTIPLIER = 5
build/aarch64/Makefile: | deps-aarch64
	$(CMAKE) -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/toolchain-aarch64.cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCIO_TESTING=ON -DCIO_BUILD_EXAMPLES=ON

# The cafe (examples/cafe.c): the same orders served four ways; the table,
# cafe.svg and cafe.json land in build/demo.
demo: build/release/Makefile
	$(CMAKE) -S . -B build/release >/dev/null
	$(CMAKE) --build build/release -j$(JOBS) --target cafe
	mkdir -p build/demo
	./build/release/examples/cafe --out-dir build/demo

# The whole suite on each backend: the default one (io_uring where this
# kernel allows it, else epoll; the first line says which) and epoll.
SAY_BACKEND = ctest -R 'test_backend.says_which' -V | sed -n 's/.*\(backend: .*\)/\1/p'
test: all
	@cd build/dev && echo "== the suite on the default backend, $$($(SAY_BACKEND))"
	cd build/dev && ctest $(CTEST_FLAGS)
	@echo "== the suite on the epoll backend"
	cd build/dev && CIO_BACKEND=epoll ctest $(CTEST_FLAGS)

# The whole suite on a one-worker runtime (what `taskset -c 0` gives by
# default): every case that does not choose its worker count gets one.
test-one-worker: all
	cd build/dev && CIO_WORKERS=1 ctest $(CTEST_FLAGS)

test-asan: build/asan/Makefile
	$(CMAKE) --build build/asan -j$(JOBS)
	cd build/asan && ASAN_OPTIONS=detect_leaks=1 ctest $(CTEST_FLAGS)

test-tsan: build/tsan/Makefile
	$(CMAKE) --build build/tsan -j$(JOBS)
	cd build/tsan && TSAN_OPTIONS=halt_on_error=1 ctest $(CTEST_FLAGS)

# Cross-compiles for aarch64 and runs the tests under qemu-user (ctest uses
# the emulator from cmake/toolchain-aarch64.cmake). qemu is slower: timeouts x5.
test-aarch64: build/aarch64/Makefile
	$(CMAKE) --build build/aarch64 -j$(JOBS)
	@cd build/aarch64 && echo "== the aarch64 suite, $$(CIO_TEST_EMULATED=1 $(SAY_BACKEND))"
	cd build/aarch64 && CIO_TEST_TIMEOUT_MULTIPLIER=5 CIO_TEST_EMULATED=1 ctest $(CTEST_FLAGS)

# Builds cio in Release with the benchmarks, builds the Go/Tokio/Boost peers
# and runs everything side by side (bench/README.md). Always reconfigures, so
# CIO_BUILD_BENCH is on even if build/release was configured without it.
bench: | deps-bench
	$(CMAKE) -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCIO_BUILD_TESTS=OFF -DCIO_BUILD_BENCH=ON
	$(CMAKE) --build build/release -j$(JOBS)
	python3 bench/run.py

# Root installing into the loader's own directories (the default
# /usr/local) refreshes its cache, so programs find libcio.so at once.
install: build/release/Makefile
	$(CMAKE) --build build/release -j$(JOBS)
	$(CMAKE) --install build/release $(if $(PREFIX),--prefix $(PREFIX),)
	@if [ "$$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

clean:
	rm -rf build
