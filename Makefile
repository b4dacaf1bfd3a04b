# The README's two commands. Both install missing Debian packages first (as root), then configure,
# build and run.
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: test bench build sanitize clean

build:
	@scripts/install-dependencies.sh
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DFUSEGRAPH_WERROR=ON
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure

bench: build
	$(BUILD)/fusegraph info
	$(BUILD)/fusegraph bench $(BENCH_ARGS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of the tests (CI runs it), reading the measurements
# that `make test` left in the main build's test cache (the Vulkan tiles on lavapipe: minutes). Without the CUDA module:
# on a machine without a GPU it cannot get past create(), and ASan and the CUDA runtime do not mix; on
# the GPU its memory is checked by compute-sanitizer instead.
sanitize:
	@scripts/install-dependencies.sh
	cmake -S . -B $(BUILD)-sanitize -DCMAKE_BUILD_TYPE=Debug -DFUSEGRAPH_WERROR=ON -DFUSEGRAPH_SANITIZE=ON -DFUSEGRAPH_CUDA=OFF \
	  -DFUSEGRAPH_TEST_CACHE=$(abspath $(BUILD))/test-cache
	cmake --build $(BUILD)-sanitize -j$(JOBS)
	cd $(BUILD)-sanitize && ctest --output-on-failure

clean:
	rm -rf $(BUILD) $(BUILD)-sanitize
