# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKERS ?= 2
NATIVE := $(wildcard native/*.cpp native/*.hpp native/CMakeLists.txt)

.PHONY: setup run test proto lint prometheus browser dnsmasq tesseract bench native-sanitize native-fuzz native-asan

$(STAMP): pyproject.toml $(NATIVE)
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# editable: the packages run from this tree; the native bridge is compiled into the venv
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(STAMP)

# the example abilities on http://127.0.0.1:8080 (gRPC on :9090), with the music API's local fake
run: setup tesseract
	$(PY) wrappers/music/fake_api.py --port 8299 --access-key demo-key --access-secret demo-secret & fake=$$!; \
	trap 'kill $$fake' EXIT INT TERM; \
	$(VENV)/bin/athena serve wrappers/echo/wrapper.py wrappers/digits/wrapper.py \
	    wrappers/music/wrapper.py wrappers/asr/wrapper.py wrappers/ocr/wrapper.py \
	    --workers $(WORKERS)

# the tests scrape metrics with a real Prometheus server: install it when it is missing
prometheus:
	@command -v prometheus >/dev/null || { \
	  echo "installing prometheus (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# the /docs page is tested in a real headless browser: Debian's chromium and its driver
browser:
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || { \
	  echo "installing chromium and chromium-driver (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; }

# worker discovery by DNS name is tested against a real DNS server: Debian's dnsmasq
dnsmasq:
	@command -v dnsmasq >/dev/null || test -x /usr/sbin/dnsmasq || { \
	  echo "installing dnsmasq (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends dnsmasq >/dev/null; }

# the ocr ability runs Tesseract: Debian's program and its English data
tesseract:
	@tesseract --list-langs 2>/dev/null | grep -qx eng || { \
	  echo "installing tesseract-ocr and tesseract-ocr-eng (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends tesseract-ocr tesseract-ocr-eng >/dev/null; }

test: setup prometheus browser dnsmasq tesseract
	$(PY) -m pytest

# regenerate loader/v1 from proto/ (the generated code is committed, never hand-edited; no
# _grpc stubs: both hops register raw-bytes handlers and call methods by path)
proto:
	$(PY) -m pip install -q grpcio-tools==1.85.1
	$(PY) -m grpc_tools.protoc -I proto --python_out=. --pyi_out=. \
	    proto/loader/v1/loader.proto

lint: setup
	$(PY) -m pip install -q ruff mypy
	$(PY) -m ruff check gateway loader tests wrappers bench
	$(PY) -m mypy gateway loader

# side-by-side benchmarks, not tests: ours, the raw stack, Triton, PyTriton and MLServer
# (each peer in its own venv under bench/.venvs); prints the tables, writes bench/results/
bench: setup
	@command -v h2load >/dev/null || { \
	  echo "installing h2load (Debian package nghttp2-client)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends nghttp2-client >/dev/null; }
	bash bench/peers/triton/setup.sh
	bash bench/peers/mlserver/setup.sh
	$(PY) -m bench $(BENCH_ARGS)

# what `athena build` and the image test use: podman (runc as its runtime), buildah, umoci and
# mmdebstrap (the base root filesystem from the Debian mirror; no registry needed)
images-deps:
	@command -v podman >/dev/null && command -v mmdebstrap >/dev/null && \
	  command -v buildah >/dev/null && command -v umoci >/dev/null && test -x /usr/sbin/runc || { \
	  echo "installing podman buildah mmdebstrap umoci runc (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends podman buildah mmdebstrap umoci runc \
	    uidmap >/dev/null; }

# builds wrappers/echo into images, runs them with podman and calls them (minutes when cold)
image-test: setup images-deps
	$(PY) -m pytest -m image tests/deploy/test_image.py

# native/ built with clang for AddressSanitizer + UBSan and libFuzzer coverage, in a directory
# of its own (the venv's modules stay as they are); atheris and pybind11 for it go to
# NATIVE_TOOLS, not into the venv. The first build takes about two minutes on two cores.
NATIVE_ASAN ?= build/native-asan
NATIVE_TOOLS ?= build/native-tools
FUZZ_SECONDS ?= 10
FUZZ_TARGETS ?=
CLANG_ASAN = $$(clang++ -print-file-name=libclang_rt.asan-x86_64.so)
LIBSTDCXX = $$(g++ -print-file-name=libstdc++.so)
# detect_leaks=0: CPython keeps its interned objects to exit; the ASan runtime must come first,
# and libstdc++ before the modules load, or ASan cannot intercept their C++ throws
SANITIZE_ENV = ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 PYTHONMALLOC=malloc

# Only the venv's Python packages are used here, not its build of native/: a venv older than
# native/ is not reinstalled for this build
$(NATIVE_TOOLS)/.installed:
	@test -x $(PY) || $(MAKE) setup
	$(PY) -m pip install -q --target $(NATIVE_TOOLS) atheris==3.0.0 pybind11
	touch $@

native-asan: $(NATIVE_TOOLS)/.installed
	@command -v clang++ >/dev/null && test -e "$(CLANG_ASAN)" || { \
	  echo "installing clang and its sanitizer runtimes (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null; }
	bash tests/native/fuzz/build.sh $(abspath $(PY)) $(NATIVE_TOOLS) $(NATIVE_ASAN)

# tests/native against the ASan + UBSan build; any sanitizer report fails it. --capture=sys:
# a report goes to file descriptor 2, which pytest's default capture would swallow with the
# process that dies
native-sanitize: native-asan
	$(SANITIZE_ENV) LD_PRELOAD="$(CLANG_ASAN) $(LIBSTDCXX)" \
	  $(PY) tests/native/fuzz/use_build.py $(NATIVE_ASAN) -m pytest tests/native \
	  --capture=sys -q -p no:cacheprovider

# each fuzz target (tests/native/fuzz/fuzz.py; FUZZ_TARGETS, default all seven) for FUZZ_SECONDS
# on the same build, from the seed corpus in tests/native/fuzz/corpus (what it finds is kept in
# build/fuzz); prints executions, coverage and corpus per target, fails on any finding
native-fuzz: native-asan
	$(SANITIZE_ENV) LD_PRELOAD="$$(PYTHONPATH=$(NATIVE_TOOLS) $(PY) -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so $(LIBSTDCXX)" \
	  PYTHONPATH=$(NATIVE_TOOLS) $(PY) tests/native/fuzz/run.py $(NATIVE_ASAN) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
