"""The Dockerfile against pyproject.toml and constraints.txt, without Docker (these machines have no daemon): its
build argument picks the GPU (default) or CPU stage, every install is pinned by constraints.txt, the GPU stage swaps
in the `gpu` extra's onnxruntime-gpu with the same version and CUDA as the pinned torch, the base image's Python
satisfies requires-python, and every file the image needs is copied. Each assertion fails when one of those files
drifts from the others."""
from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.conftest import ROOT


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip()
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def stages(ins) -> tuple[dict, list[dict]]:
    """Global ARGs (name -> default) and the stages: {base, name, steps}."""
    args, result = {}, []
    for word, rest in ins:
        if word == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            result.append({"base": m.group(1), "name": m.group(2), "steps": []})
        elif not result and word == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        else:
            result[-1]["steps"].append((word, rest))
    return args, result


@pytest.fixture(scope="module")
def docker():
    return stages(instructions((ROOT / "Dockerfile").read_text()))


@pytest.fixture(scope="module")
def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, ver = line.partition("==")
            assert ver, f"constraints.txt: {line!r} is not an exact pin"
            out[name.lower().replace("_", "-")] = ver
    return out


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def runs(stage) -> list[str]:
    return [rest for word, rest in stage["steps"] if word == "RUN"]


def test_build_argument_picks_the_gpu_stage_by_default_and_the_cpu_stage_on_request(docker):
    args, st = docker
    names = [s["name"] for s in st]
    assert args["DEVICE"] == "gpu" and {"cpu", "gpu"} <= set(names)
    final = st[-1]
    assert final["base"] == "${DEVICE}"                       # the argument names the stage the image ends on
    gpu = st[names.index("gpu")]
    assert gpu["base"] == "cpu"                                # the GPU image is the CPU image plus the swap
    assert any("use_onnxruntime_gpu.sh" in r for r in runs(gpu))
    assert not any("use_onnxruntime_gpu.sh" in r or "[gpu" in r for r in runs(st[names.index("cpu")]))
    env = " ".join(rest for word, rest in gpu["steps"] if word == "ENV")
    assert "NVIDIA_VISIBLE_DEVICES=all" in env and "compute" in env


def test_every_pip_install_is_pinned_by_constraints(docker):
    _, st = docker
    installs = [r for s in st for r in runs(s) for cmd in r.split("&&") if "pip install" in cmd]
    assert installs
    for cmd in (c for r in installs for c in r.split("&&") if "pip install" in c):
        assert "-c constraints.txt" in cmd, cmd


def test_base_python_satisfies_requires_python(docker, project):
    args, st = docker
    image = st[0]["base"].replace("${PYTHON_IMAGE}", args["PYTHON_IMAGE"])
    m = re.fullmatch(r"python:(\d+\.\d+)(?:\.\d+)?-slim", image)
    assert m, image
    assert SpecifierSet(project["requires-python"]).contains(m.group(1) + ".0")


def test_the_image_copies_every_file_it_installs_or_runs(docker, project):
    _, st = docker
    copied = set()
    for s in st:
        for word, rest in s["steps"]:
            if word == "COPY":
                *src, _ = rest.split()
                copied |= set(src)
    for src in copied:
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repo"
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    needed = {f"{m}.py" for m in tool["py-modules"]} | set(tool["packages"]["find"]["include"]) | {
        "pyproject.toml", "constraints.txt", project["readme"], "scripts", "benchmarks", "tests"}
    assert {n.rstrip("*") for n in needed} <= copied


def test_every_dependency_and_extra_is_pinned(project, pins):
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    missing = sorted({r.name for r in reqs if r.name.lower().replace("_", "-") not in pins})
    assert not missing, f"not pinned in constraints.txt: {missing}"
    for r in reqs:                                            # each pin satisfies the requirement's own bounds
        assert r.specifier.contains(pins[r.name.lower().replace("_", "-")]), (r, pins[r.name.lower().replace("_", "-")])


def test_gpu_extra_is_onnxruntime_gpu_at_the_cpu_wheels_version_and_torchs_cuda(project, pins):
    gpu = [Requirement(r) for r in project["optional-dependencies"]["gpu"]]
    assert [(r.name, r.extras) for r in gpu] == [("onnxruntime-gpu", {"cuda", "cudnn"})]
    assert pins["onnxruntime-gpu"] == pins["onnxruntime"]     # the swap changes the build, not the API
    # onnxruntime-gpu 1.31's extras ask for CUDA 13 wheels (nvidia-cuda-runtime~=13.0, nvidia-cudnn-cu13~=9.0,
    # nvidia-cufft~=12.0, nvidia-curand~=10.0, nvidia-cuda-nvrtc~=13.0): all pinned, and torch's CUDA is 13 too
    for name, spec in [("nvidia-cuda-runtime", "~=13.0"), ("nvidia-cuda-nvrtc", "~=13.0"),
                       ("nvidia-cudnn-cu13", "~=9.0"), ("nvidia-cufft", "~=12.0"), ("nvidia-curand", "~=10.0")]:
        assert SpecifierSet(spec).contains(pins[name]), (name, pins.get(name))
    import torch
    assert torch.__version__.split("+")[0] == pins["torch"]   # the tests run on the torch the image gets
    assert torch.version.cuda.split(".")[0] == pins["nvidia-cuda-runtime"].split(".")[0]


def test_make_and_the_gpu_check_use_the_same_swap():
    make = (ROOT / "Makefile").read_text()
    assert "bash scripts/use_onnxruntime_gpu.sh $(BIN)/python" in make
    sh = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    assert "bash scripts/use_onnxruntime_gpu.sh" in sh and "--device cuda" in sh
    swap = (ROOT / "scripts" / "use_onnxruntime_gpu.sh").read_text()
    assert '["optional-dependencies"]["gpu"]' in swap and "pip uninstall -q -y onnxruntime" in swap
