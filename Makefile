# artstyle — the two commands:  make demo   |   make test
# On a GPU machine use your own torch build:  make install TORCH_PIN=
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN ?= -c constraints-cpu.txt
EXTRAS ?= dev,lora
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-out
QUICK_OUT ?= demo-quick
PYTEST_WORKERS ?= 2

.PHONY: install demo demo-quick test lint bench soak clean

$(STAMP): pyproject.toml constraints-cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PIN) -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/artstyle demo $(if $(QUICK),--quick --out $(QUICK_OUT),--out $(DEMO_OUT)) $(if $(BASE_MODEL),--base-model $(BASE_MODEL))

demo-quick: install
	$(BIN)/artstyle demo --quick --out $(QUICK_OUT)

test: install
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not slow"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: install
	$(BIN)/python bench/run.py --out docs/benchmarks.md

soak: install
	$(BIN)/python -m pytest -q -m slow tests

clean:
	rm -rf $(VENV) $(DEMO_OUT) $(QUICK_OUT) .pytest_cache
