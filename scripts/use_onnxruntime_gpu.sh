#!/usr/bin/env bash
# Replace the CPU onnxruntime wheel with onnxruntime-gpu (the `gpu` extra, pinned in constraints.txt) in the
# environment of PYTHON, so the rtmpose/rtmw experts and the yolox detector can run on CUDAExecutionProvider.
#
# Why a script and not just `pip install ".[gpu]"`: both wheels install the same `onnxruntime/` package folder, and
# rtmlib requires `onnxruntime`, so pip would keep both and whichever came last would own the files. Here:
#   1. install pyproject.toml's `gpu` extra: onnxruntime-gpu with its CUDA libraries (its extras cuda, cudnn:
#      CUDA 13 runtime, NVRTC, cuFFT, cuRAND and cuDNN 9, the CUDA of the pinned torch), versions from constraints.txt,
#   2. uninstall the CPU `onnxruntime` distribution (which deletes the shared files),
#   3. reinstall onnxruntime-gpu alone (--no-deps --force-reinstall) to put its files back,
#   4. check that onnxruntime lists CUDAExecutionProvider (a compiled-in provider: this needs no GPU).
# `pip check` then reports that rtmlib wants `onnxruntime`: onnxruntime-gpu provides the same module. (Tried on a
# fresh Python 3.11 venv holding onnxruntime + rtmlib: ends with onnxruntime-gpu 1.31.1 listing TensorRT, CUDA and
# CPU providers, every CUDA library at its constraints.txt pin.)
# pip's own variables choose where packages come from, e.g. PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR for local wheels.
# Usage: bash scripts/use_onnxruntime_gpu.sh [PYTHON]      (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
ver=$(sed -n 's/^onnxruntime-gpu==\([^ #]*\).*/\1/p' constraints.txt)
cpu=$(sed -n 's/^onnxruntime==\([^ #]*\).*/\1/p' constraints.txt)
[ -n "$ver" ] || { echo "constraints.txt pins no onnxruntime-gpu" >&2; exit 2; }
[ "$ver" = "$cpu" ] || { echo "constraints.txt: onnxruntime $cpu and onnxruntime-gpu $ver differ" >&2; exit 2; }
gpu=$("$PY" -c 'import tomllib
print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["gpu"]))')
"$PY" -m pip install -q -c constraints.txt $gpu                 # the `gpu` extra, versions from constraints.txt
"$PY" -m pip uninstall -q -y onnxruntime
"$PY" -m pip install -q --no-deps --force-reinstall -c constraints.txt "onnxruntime-gpu==$ver"
"$PY" - <<'EOF'
import onnxruntime as ort
providers = ort.get_available_providers()
if "CUDAExecutionProvider" not in providers:
    raise SystemExit(f"onnxruntime {ort.__version__} still lacks CUDAExecutionProvider: {providers}")
print(f"onnxruntime-gpu {ort.__version__}: {', '.join(providers)}")
EOF
