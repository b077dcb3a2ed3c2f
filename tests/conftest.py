"""Shared fixtures. Real data comes from ../shared/samples (beside the checkout, as in CI)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
VIDEOS = SAMPLES / "videos"
NTU_CLIP = VIDEOS / "ntu" / "ntu_sample.avi"


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def stage_videos(dest: Path, *sources: Path, names: list[str] | None = None) -> Path:
    """Copy real sample videos into a fresh input folder (optionally renamed, e.g. to NTU names)."""
    dest.mkdir(parents=True, exist_ok=True)
    for i, src in enumerate(sources):
        target = dest / (names[i] if names else src.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, target)
    return dest


def run_build(videos: Path, out: Path, config: dict | None = None, workers: int = 0, **flags):
    """The same code path as `skelforge build`, in-process; returns the build record."""
    from rich.console import Console

    from dagfile import DAG
    from pipeline.build import build
    from schemas.config import BuildConfig
    cfg = BuildConfig.model_validate(config or {})
    return build(flags.get("dag") or DAG, Path(videos), Path(out), cfg, workers, flags.get("scheduler"),
                 flags.get("only"), flags.get("start"), flags.get("force", False), Console(quiet=True),
                 cluster=flags.get("cluster", "local"), gpus=flags.get("gpus", 0))


@pytest.fixture
def one_torch_thread():
    """For modules of small torch models (`pytestmark = pytest.mark.usefixtures("one_torch_thread")`): OpenMP's
    thread hand-offs cost more than they save on tiny tensors and stall for seconds on a loaded 2-core machine,
    so run single-threaded and restore the setting afterwards."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fit_steps(model, x, y, lr: float, steps: int = 15) -> list[float]:
    """Adam steps of cross-entropy on one fixed batch; the losses, for tests that a model can learn."""
    import torch
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.fixture(scope="session")
def samples() -> Path:
    assert VIDEOS.is_dir(), f"real sample data missing: {VIDEOS} (../shared must sit beside the checkout)"
    return SAMPLES


@pytest.fixture(scope="session")
def built3d(tmp_path_factory, samples) -> Path:
    """One real build with fit3d on (the NTU hug clip and a Kinetics clip, 40 frames), in the layouts the 3D and
    export tests read; shared by tests/test_fit3d.py and tests/test_export_posetics.py."""
    root = tmp_path_factory.mktemp("fit3d")
    videos = stage_videos(root / "v", NTU_CLIP, VIDEOS / "kinetics/tai_chi/ta_chi.mp4",
                          names=["ntu/S001C001P001R001A058.avi", "tai_chi/t.mp4"])
    out = root / "out"
    run_build(videos, out, {"frames": {"max_frames": 40}, "layouts": ["ntu-x-118", "posetics-17", "coco-17"],
                            "fit3d": {"enabled": True}})
    return out
