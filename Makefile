# The README's commands. Both work on a fresh clone with only Python 3.11, gcc and cmake.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dprobe-installed
DEMO_OUT ?= out/demo

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml CMakeLists.txt $(shell find csrc -name '*.cpp' -o -name '*.h' 2>/dev/null)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU torch from the local wheel; an unpinned torch would pull a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet "scikit-build-core>=0.10" "pybind11>=2.12"
	# onnxruntime for the CPU (the cpu extra); on an NVIDIA GPU: benchmarks/gpu_check.sh
	$(BIN)/pip install --quiet --no-build-isolation -e '.[dev,cpu]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dprobe demo --out $(DEMO_OUT) --force  # out/demo is make demo's own folder: refreshed each run

test: $(STAMP)
	$(BIN)/ruff check .
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) || echo 'chromium could not be installed: the report browser test will fail'
	$(BIN)/pytest -q tests

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf build $(VENV) out
