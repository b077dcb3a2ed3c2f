# skelforge — the README's two commands. Both create .venv on a fresh machine.
PYTHON  ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
SAMPLES ?= ../shared/samples/videos
OUT     ?= out/demo
WORKERS ?= 2

.PHONY: demo test venv clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/skelforge build --videos $(SAMPLES) --out $(OUT) --config configs/demo.yaml --workers $(WORKERS)
	$(BIN)/skelforge inspect $(OUT)

test: venv
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/throughput.py --videos $(SAMPLES)/kinetics

clean:
	rm -rf $(VENV) out .pytest_cache
