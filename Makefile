# skelforge — the README's two commands. Both create .venv on a fresh machine.
PYTHON  ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
SAMPLES ?= ../shared/samples/videos
OUT     ?= out/demo
WORKERS ?= 2

.PHONY: demo test test-shuffled venv venv-gpu gpu-check clean bench chromium slurm

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# mmaction2's dataset side for tests/test_export_pyskl.py (its real PoseDataset and pipelines on our export):
# pinned in constraints.txt, --no-deps (its wheel lacks models/localizers/drn, so only the dataset side imports).
MMACTION := mmaction2 mmengine mmcv-lite

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e ".[test,all]"
	$(BIN)/pip install -q --no-deps -c constraints.txt $(MMACTION)
	touch $@

venv: $(VENV)/.installed

# GPU machines: the venv with onnxruntime-gpu in place of the CPU onnxruntime (pyproject's `gpu` extra; the script
# says why it is swapped rather than added). A later `make venv` (after a pyproject/constraints change) puts the CPU
# wheel back; `make venv-gpu` then swaps again.
$(VENV)/.installed-gpu: $(VENV)/.installed scripts/use_onnxruntime_gpu.sh
	bash scripts/use_onnxruntime_gpu.sh $(BIN)/python
	touch $@

venv-gpu: $(VENV)/.installed-gpu

# Every CUDA path end to end on this machine's GPU, with crops/s, frames/s and GPU memory (README "GPU").
gpu-check: venv-gpu
	bash benchmarks/gpu_check.sh

demo: venv
	$(BIN)/skelforge build --videos $(SAMPLES) --out $(OUT) --config configs/demo.yaml --workers $(WORKERS)
	$(BIN)/skelforge inspect $(OUT)

# The report test renders the page in headless Chromium (Debian's package).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && \
	     apt-get install -y -q chromium >/dev/null 2>&1)) && echo "installed chromium"; } || \
	  { echo "the report test needs Chromium: install Debian's chromium package"; exit 1; }

# The SLURM test (tests/test_slurm.py) starts a single-node SLURM with scripts/slurm_single_node.py: Debian's
# munge, slurmctld, slurmd and slurm-client packages (the daemons are started by the script, no systemd).
SLURM_PKGS := munge slurmctld slurmd slurm-client
slurm:
	@{ command -v munged && command -v slurmctld && command -v slurmd && command -v sbatch; } >/dev/null 2>&1 || \
	  { (apt-get install -y -q $(SLURM_PKGS) >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && \
	     apt-get install -y -q $(SLURM_PKGS) >/dev/null 2>&1)) && echo "installed $(SLURM_PKGS)"; } || \
	  { echo "the SLURM test needs Debian's $(SLURM_PKGS) packages"; exit 1; }

test: venv chromium slurm
	$(BIN)/python -m pytest -q

# the suite in a shuffled order (pytest-randomly; SEED=N repeats an order): tests must not depend on each other
test-shuffled: venv chromium slurm
	$(BIN)/python -m pytest -q -p randomly $(if $(SEED),--randomly-seed=$(SEED),)

bench: venv
	$(BIN)/python benchmarks/throughput.py --videos $(SAMPLES)/kinetics

clean:
	rm -rf $(VENV) out .pytest_cache
