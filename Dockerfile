# skelforge images (README "GPU image"). Two variants from one file, chosen by the build argument DEVICE:
#   gpu (default): CUDA 13 runtime image. torch 2.15.0 + torchvision 0.29.2 from PyPI are the CUDA builds and bring
#                  their CUDA libraries as pinned wheels (cuda-toolkit, cuDNN, cuBLAS, NCCL in constraints.txt);
#                  onnxruntime-gpu (pyproject's `gpu` extra, with its CUDA 13 runtime/NVRTC/cuFFT/cuRAND/cuDNN
#                  wheels) replaces the CPU onnxruntime (scripts/use_onnxruntime_gpu.sh says why it is swapped).
#                  The host supplies only the NVIDIA driver (CUDA 13 needs driver >= 580): docker --gpus all,
#                  apptainer --nv. Also holds benchmarks/, tests/ and the test extra for benchmarks/gpu_check.sh.
#   cpu:           the same packages with the CPU onnxruntime (MediaPipe/TFLite experts are CPU either way).
# Build:  docker build -t skelforge:gpu .          docker build --build-arg DEVICE=cpu -t skelforge:cpu .
# Run:    docker run --rm --gpus all -v /data:/data skelforge:gpu build --videos /data/videos --out /data/out \
#             --config /data/gpu-cluster.yaml
# Every version comes from constraints.txt (pip -c); tests/test_dockerfile.py checks this file against
# pyproject.toml and constraints.txt. (Not built on the machines this was written on: they have no Docker daemon.)
ARG DEVICE=gpu
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 YOLO_OFFLINE=1
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/skelforge
COPY pyproject.toml constraints.txt README.md dagfile.py ./
COPY pipeline ./pipeline
COPY workers ./workers
COPY schemas ./schemas
COPY configs ./configs
COPY scripts ./scripts
RUN pip install -c constraints.txt ".[all]"
ENTRYPOINT ["skelforge"]
CMD ["--help"]

FROM cpu AS gpu
COPY benchmarks ./benchmarks
COPY tests ./tests
RUN pip install -c constraints.txt ".[test,all]" && bash scripts/use_onnxruntime_gpu.sh python
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility

FROM ${DEVICE} AS final
