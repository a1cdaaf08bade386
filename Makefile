# torchvision_adapter — one entry point for set-up, build, tests, benchmarks and the demo.
# Every target installs what it needs (Debian 12, run as root) and is safe to re-run.

SHELL       := /bin/bash
BUILD_DIR   ?= build
VENV        ?= .venv
PY          := $(VENV)/bin/python
JOBS        ?= $(shell nproc)
QUICK       ?= 0
FUZZ_SECONDS ?= 60
# Paths under the source tree are hashed relative to it, so clones and other checkouts share ccache hits.
export CCACHE_BASEDIR := $(CURDIR)

# Everything the project uses, from Debian's archive only.
APT_PACKAGES := \
  build-essential cmake ninja-build ccache pkg-config \
  python3-venv python3-torch python3-torchvision libtorch-dev libopenblas0-pthread \
  python3-numpy python3-pil python3-opencv python3-pytest python3-tqdm python3-matplotlib \
  python3-skimage mate-backgrounds \
  libgtest-dev libgmock-dev libbenchmark-dev libhwy-dev \
  libturbojpeg0-dev libjpeg62-turbo-dev libspng-dev libpng-dev \
  libsimdjson-dev nlohmann-json3-dev libcli11-dev libfmt-dev \
  clang libclang-rt-14-dev

.PHONY: all deps venv build test test-cpp test-python bench demo fuzz clean distclean

all: build

# Installs only the packages that are missing; no download when all are present.
deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "[deps] installing:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing; \
	else echo "[deps] all Debian packages present"; fi

# A venv over Debian's python3 (the one with torch), with the package installed in development mode.
venv: deps
	@if [ ! -x $(PY) ]; then /usr/bin/python3 -m venv --system-site-packages $(VENV); fi
	@site=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	  echo "$(CURDIR)/python" > $$site/torchvision_adapter.pth

$(BUILD_DIR)/build.ninja: CMakeLists.txt $(wildcard tools/CMakeLists.txt) | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DPython3_EXECUTABLE=/usr/bin/python3

build: deps venv $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@echo "== C++ tests (CTest) =="
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	@echo "== Python tests (pytest) =="
	$(PY) -m pytest -q tests/python

test-cpp: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-python: build
	$(PY) -m pytest -q tests/python

bench: build
	$(PY) -m bench.run $(if $(filter 1,$(QUICK)),--quick,)

demo: build
	$(PY) -m torchvision_adapter.demo $(if $(filter 1,$(QUICK)),--quick,)

# The image decoders under libFuzzer + AddressSanitizer/UBSan (clang), seeded with generated images;
# runs for FUZZ_SECONDS. Crashes are saved as $(BUILD_DIR)/fuzz/crash-*.
fuzz: deps venv
	cmake -S fuzz -B $(BUILD_DIR)/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++ -DPython3_EXECUTABLE=/usr/bin/python3
	cmake --build $(BUILD_DIR)/fuzz -j $(JOBS)
	$(PY) fuzz/make_corpus.py $(BUILD_DIR)/fuzz/seeds
	mkdir -p $(BUILD_DIR)/fuzz/corpus
	cd $(BUILD_DIR)/fuzz && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 ./fuzz_decode \
	  -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	  -print_final_stats=1 corpus seeds

clean:
	rm -rf $(BUILD_DIR)

distclean: clean
	rm -rf $(VENV)
