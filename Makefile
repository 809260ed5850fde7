# artstyle — the two commands:  make demo   |   make test
# Installs come from requirements/cpu.lock (exact versions, made by `make lock`).
# On a GPU machine keep your own torch build:  make install TORCH=own
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements/cpu.lock
# cpu: exactly the lock (this repository's CPU torch included); own: the lock minus torch, as
# constraints, so the torch already in the venv (or the newest pip finds) is kept.
TORCH ?= cpu
EXTRAS ?= dev,lora
STAMP := $(VENV)/.installed-$(TORCH)
DEMO_OUT ?= demo-out
QUICK_OUT ?= demo-quick
PYTEST_WORKERS ?= 2

.PHONY: install check-lock lock demo demo-quick test lint bench soak clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -f $(VENV)/.installed-*
ifeq ($(TORCH),cpu)
	$(BIN)/python -m pip install -q --no-deps $$(grep -E '^(pip|setuptools)==' $(LOCK))
	$(BIN)/python -m pip install -q --no-deps -r $(LOCK)
	$(BIN)/python tools/lock.py sync
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
else
	grep -v '^torch==' $(LOCK) > $(VENV)/lock-without-torch.txt
	$(BIN)/python -m pip install -q -c $(VENV)/lock-without-torch.txt pip setuptools
	$(BIN)/python -m pip install -q --no-build-isolation -c $(VENV)/lock-without-torch.txt -e '.[$(EXTRAS)]'
endif
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/artstyle demo $(if $(QUICK),--quick --out $(QUICK_OUT),--out $(DEMO_OUT)) $(if $(BASE_MODEL),--base-model $(BASE_MODEL))

demo-quick: install
	$(BIN)/artstyle demo --quick --out $(QUICK_OUT)

# pyproject.toml, the lock and the venv agree (exactly, for the CPU install); then pip's own check.
check-lock: install
	$(BIN)/python tools/lock.py check $(if $(filter cpu,$(TORCH)),--exact)
	$(BIN)/python -m pip check

# Re-resolve pyproject.toml in a clean venv (newest versions the ranges allow, this machine's
# CPU torch), write the lock, install it and run the tests against it.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip setuptools
	.lock-venv/bin/python -m pip install -q -c constraints-cpu.txt -e '.[$(EXTRAS)]'
	.lock-venv/bin/python tools/lock.py write --out $(LOCK) --extras $(EXTRAS)
	rm -rf .lock-venv
	$(MAKE) test

test: check-lock
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not slow"

lint: install
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/lint-imports --no-cache

bench: install
	$(BIN)/python bench/run.py --out docs/benchmarks.md

soak: install
	$(BIN)/python -m pytest -q -m slow tests

clean:
	rm -rf $(VENV) .lock-venv $(DEMO_OUT) $(QUICK_OUT) .pytest_cache
