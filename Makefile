# tfqat: the two set-up commands are `make demo` and `make test`; both install what is missing.
BUILD ?= build/release
ASAN_BUILD ?= build/asan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-asan fuzz bench clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The whole QAT pipeline on the bundled MNIST example.
demo: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target tfqat_demo_programs
	@bash scripts/demo.sh $(BUILD)

# Unit, integration and conformance tests (peers: the real TFLite interpreter).
test: build
	@bash scripts/prepare-peers.sh $(BUILD)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTFQAT_SANITIZE=ON -DTFQAT_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	@bash scripts/prepare-peers.sh $(ASAN_BUILD)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -L unit

# libFuzzer on the GraphDef loader + validator (clang, ASan+UBSan), FUZZ_SECONDS long.
FUZZ_SECONDS ?= 300
fuzz: deps
	@bash tests/fuzz/run_fuzz.sh $(BUILD)/fuzz $(FUZZ_SECONDS)

bench: build
	@bash scripts/bench.sh $(BUILD)

clean:
	rm -rf build
