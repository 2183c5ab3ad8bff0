# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0

.PHONY: demo test bench bench-gpu install dev browser clean peers-saebench saebench-reference

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch is pinned first, and held by constraints.txt, so that nothing later pulls a multi-GB CUDA build.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -c constraints.txt -e .
	$(BIN)/python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else 'torch changed to ' + v)"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else 'torch changed to ' + v)"
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

# Debian's chromium for the browser tests (never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium"; fi; }

demo: $(VENV)/.installed
	$(BIN)/monoscope demo --out runs/demo

# Every bench/*.py with its defaults on runs/demo (after `make demo`); figures appended to bench/results.jsonl.
DEVICE ?= cpu
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run_all.py --device $(DEVICE)

# Every --device path (train-model, harvest fp32/bf16, train-sae per architecture, train-online, DDP, analyze, steer,
# serve's live view) on one device, then SAE training throughput vs SAELens there (GPU_DEVICE=cpu runs it on CPU).
GPU_DEVICE ?= cuda
bench-gpu: $(VENV)/.installed-dev
	PYTHON=$(BIN)/python bash bench/gpu.sh --device $(GPU_DEVICE)

test: $(VENV)/.installed-dev browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# SAEBench (sae-bench on PyPI) in a virtualenv of its own: it pins numpy<2 and datasets<4 and pulls torchvision,
# none of which the project's environment should take. torch is held at the project's version by constraints.txt;
# torchvision 0.28.0 is the release built against torch 2.13.0 (its wheel requires torch==2.13.0 exactly).
PEERS := .venv-peers/saebench
$(PEERS)/.installed: constraints.txt
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q --upgrade pip
	$(PEERS)/bin/pip install -q $(TORCH)
	$(PEERS)/bin/pip install -q -c constraints.txt torchvision==0.28.0 sae-bench==0.6.0
	@$(PEERS)/bin/python -c "import torchvision" 2>/dev/null || { \
	  echo "torchvision 0.28.0 from the registry is the CUDA build: its _C.so needs libc10_cuda.so, which CPU torch lacks,"; \
	  echo "and the +cpu build is not on the registry. Removed: SAEBench's absorption and probing code never imports it."; \
	  $(PEERS)/bin/pip uninstall -y -q torchvision; }
	$(PEERS)/bin/python -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') else 'torch changed to ' + v)"
	touch $@

peers-saebench: $(PEERS)/.installed

# Regenerates tests/evals/data/saebench_reference.json: SAEBench's own code on a fixed, seeded model, SAE and probe.
saebench-reference: peers-saebench $(VENV)/.installed
	rm -rf build/saebench-fixture
	$(BIN)/python tests/evals/saebench_fixture.py --out build/saebench-fixture
	$(PEERS)/bin/python tests/evals/saebench_reference.py --fixture build/saebench-fixture \
	  --out tests/evals/data/saebench_reference.json

clean:
	rm -rf runs/demo
