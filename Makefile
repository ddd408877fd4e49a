# luaflow — top-level Makefile driving CMake (like neovim's).
#   make run    install missing Debian packages, build, run the showcase flow
#   make test   build and run the whole test suite (unit, end-to-end, sanitizers, fuzz smoke)
BUILD_DIR      ?= build
SANITIZE_DIR   ?= build-sanitize
FUZZ_DIR       ?= build-fuzz
CMAKE_BUILD_TYPE ?= RelWithDebInfo
WERROR         ?= ON
JOBS           ?= $(shell nproc 2>/dev/null || echo 2)
SHOWCASE       ?= flows/counter_branch.lua
FUZZ_SECONDS   ?= 30

# Debian 12 packages the build and the tests need.
DEB_PACKAGES := cmake make gcc clang pkg-config liblua5.4-dev lua5.4 libuv1-dev \
                libzstd-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev sqlite3 \
                python3 tmux python3-numpy python3-scipy python3-sklearn python3-numba \
                python3-boto3 wordnet-base

.PHONY: all deps build run lint test test-fast test-unit test-e2e test-sanitize fuzz fuzz-smoke \
        bench install clean

all: build

deps:
	@sh scripts/deps.sh $(DEB_PACKAGES)

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE) -DLF_WERROR=$(WERROR)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./$(BUILD_DIR)/luaflow run $(SHOWCASE)

# The whole suite: what CI runs.
test: test-fast test-sanitize fuzz-smoke
	@echo "make test: all suites passed"

test-fast: build lint test-unit test-e2e

lint: build
	bash scripts/lint.sh $(BUILD_DIR)

test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-e2e: build
	LUAFLOW=$(CURDIR)/$(BUILD_DIR)/luaflow bash tests/e2e/run.sh

test-sanitize: deps
	cmake -S . -B $(SANITIZE_DIR) -DCMAKE_BUILD_TYPE=Debug -DLF_WERROR=$(WERROR) -DLF_SANITIZE=ON
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	cd $(SANITIZE_DIR) && ctest --output-on-failure -j $(JOBS)
	LUAFLOW=$(CURDIR)/$(SANITIZE_DIR)/luaflow LF_E2E_SANITIZE=1 bash tests/e2e/run.sh

$(FUZZ_DIR)/CMakeCache.txt:
	CC=clang cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Debug -DLF_FUZZ=ON

fuzz: deps $(FUZZ_DIR)/CMakeCache.txt
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_decode
	mkdir -p $(FUZZ_DIR)/corpus-decode
	./$(FUZZ_DIR)/fuzz/fuzz_decode $(FUZZ_DIR)/corpus-decode tests/fuzz/seeds/decode \
	  -max_total_time=$(or $(FUZZ_TIME),600)
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_s3_xml
	mkdir -p $(FUZZ_DIR)/corpus-s3-xml
	./$(FUZZ_DIR)/fuzz/fuzz_s3_xml $(FUZZ_DIR)/corpus-s3-xml tests/fuzz/seeds/s3_xml \
	  -max_total_time=$(or $(FUZZ_TIME),600) -max_len=4096
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_http1
	mkdir -p $(FUZZ_DIR)/corpus-http1
	./$(FUZZ_DIR)/fuzz/fuzz_http1 $(FUZZ_DIR)/corpus-http1 tests/fuzz/seeds/http1 \
	  -max_total_time=$(or $(FUZZ_TIME),600) -max_len=4096

# A short seeded run for CI: any crash fails the suite.
fuzz-smoke: deps $(FUZZ_DIR)/CMakeCache.txt
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_decode
	mkdir -p $(FUZZ_DIR)/corpus-decode
	./$(FUZZ_DIR)/fuzz/fuzz_decode $(FUZZ_DIR)/corpus-decode tests/fuzz/seeds/decode \
	  -seed=1 -max_total_time=$(FUZZ_SECONDS)
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_s3_xml
	mkdir -p $(FUZZ_DIR)/corpus-s3-xml
	./$(FUZZ_DIR)/fuzz/fuzz_s3_xml $(FUZZ_DIR)/corpus-s3-xml tests/fuzz/seeds/s3_xml \
	  -seed=1 -max_total_time=$(FUZZ_SECONDS) -max_len=4096
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_http1
	mkdir -p $(FUZZ_DIR)/corpus-http1
	./$(FUZZ_DIR)/fuzz/fuzz_http1 $(FUZZ_DIR)/corpus-http1 tests/fuzz/seeds/http1 \
	  -seed=1 -max_total_time=$(FUZZ_SECONDS) -max_len=4096

bench: build
	cmake --build $(BUILD_DIR) --target bench_store
	bash tests/bench/run.sh
	./$(BUILD_DIR)/tests/bench_store 1024 256 3

# make install [PREFIX=/usr/local]: the binary, libluaflow (static and shared), luaflow.h,
# luaflow_ext.h and luaflow.pc for pkg-config.
install: build
	cmake --install $(BUILD_DIR) $(if $(PREFIX),--prefix $(PREFIX),)

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR) $(FUZZ_DIR)
