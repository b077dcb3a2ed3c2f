#!/usr/bin/env bash
# GPU check (README "GPU"): every CUDA path of skelforge end to end on this machine's GPU — ONNX experts on the CUDA
# provider, YOLO-pose, a build of the sample clips with `device: cuda`, one AMP training epoch with GPU heatmaps, an
# SMPL-X fit — printing crops/s, frames/s and GPU memory (benchmarks/gpu_check.py does the work). Exit 1 when any
# path failed or ran on the CPU; 124 when the check itself ran past GPU_CHECK_TIMEOUT seconds (default 480).
#
# Which Python, in this order:
#   PYTHON=CMD    that interpreter as it is: a cluster's module or venv, a container's (`PYTHON=python` in the GPU
#                 image), a machine image's own Python with its CUDA torch;
#   .venv         the repo's venv, made or brought up to date by `make venv` (Python 3.11 and PyPI needed).
# Its onnxruntime must list CUDAExecutionProvider; where it does not, the `gpu` extra is swapped in first
# (scripts/use_onnxruntime_gpu.sh; from PyPI, or offline from wheels: PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR).
# The sample clips: ../shared/samples/videos beside the repo, else shared/samples/videos inside it, else --videos.
# Setup time (venv, swap) is outside the 8 minutes; the check itself is sized to finish well inside them on one
# recent GPU with 16 cores.
# Usage: bash benchmarks/gpu_check.sh [benchmarks/gpu_check.py options, e.g. --json gpu.json --checks onnx,build]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
else
  make -s venv
  PY=.venv/bin/python
fi
if ! "$PY" -c 'import onnxruntime as o, sys; sys.exit("CUDAExecutionProvider" not in o.get_available_providers())'
then
  echo "onnxruntime in $PY has no CUDAExecutionProvider: swapping in onnxruntime-gpu (the gpu extra)" >&2
  bash scripts/use_onnxruntime_gpu.sh "$PY"
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv >&2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec timeout --kill-after=15 "${GPU_CHECK_TIMEOUT:-480}" "$PY" benchmarks/gpu_check.py --device cuda "$@"
