"""fit3d cost per frame: direct 3D lifting vs SMPL-X fitting, in one run, on the same person-frames.

SMPL-X uses --model-dir (your licence-gated model) or, by default, the SYNTHETIC model the tests generate
(tests/synthetic_smplx.py; cost depends on the model's size, which matches the real one: 10,475 vertices,
55 joints). Keypoints: --frames x --persons person-frames rendered from a mild pose through a pinhole camera
(the fit's cost does not depend on where they come from). The fit is guided as in a build, by a SYNTHETIC
stand-in for the direct candidate (true body joints + 4 cm noise). Prints seconds per person-frame for each, the
ratio, and the fit's error against the true joints. Usage:
  python benchmarks/fit3d.py [--frames 16] [--persons 2] [--iterations N] [--device cpu|cuda] [--model-dir DIR]
--iterations caps each fitting stage (default: the fit's own, 600; converged stages stop earlier).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

INTR = (1000.0, 1000.0, 640.0, 360.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--persons", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model-dir", type=Path, default=None)
    a = ap.parse_args()
    import torch

    from test_smplx_fit import _guide, _scene
    from workers.fitting.smplx_fit import fit, load_model
    from workers.lift.direct import lift_direct, project

    model_dir = a.model_dir
    if model_dir is None:
        from synthetic_smplx import write_synthetic_smplx
        model_dir = write_synthetic_smplx(Path(tempfile.mkdtemp()) / "model")
    model = load_model(model_dir, device=a.device)
    kp, J, person = _scene(model.cpu(), T=a.frames, P=a.persons)
    model = model.to(a.device)
    B = len(kp)

    # direct lifting on the same person-frames: world = the true joints minus their mean, 2D = their projection
    world = np.zeros((a.persons, a.frames, 33, 4))
    world[..., :3] = (J[:, :33] - J[:, :33].mean(1, keepdims=True)).reshape(a.persons, a.frames, 33, 3)
    world[..., 3] = 1.0
    pts = np.zeros((a.persons, a.frames, 145, 3))
    pts[:, :, :33, :2] = project(J[:, :33], INTR).reshape(a.persons, a.frames, 33, 2)
    pts[:, :, :33, 2] = 1.0
    t0 = time.perf_counter()
    for _ in range(20):
        lift_direct(pts, world, INTR)
    direct = (time.perf_counter() - t0) / 20 / B

    t0 = time.perf_counter()
    kw = {} if a.iterations is None else {"iterations": a.iterations}
    out = fit(model, kp, INTR, sequence_ids=person, init={"joints": _guide(J)}, device=a.device, **kw)
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()
    smplx = (time.perf_counter() - t0) / B

    print(f"{B} person-frames ({a.persons} persons x {a.frames} frames), device {a.device}, "
          f"SMPL-X up to {a.iterations or 'the default'} iterations per stage, "
          f"torch threads {torch.get_num_threads()}; "
          f"clean fit: mean 3D joint error {np.linalg.norm(out['joints'] - J, axis=-1).mean():.3f} m, "
          f"reprojection {np.nanmean(out['reprojection_error']):.2f} px")
    print("| method | s / person-frame |")
    print("|---|---|")
    print(f"| direct lifting | {direct:.2e} |")
    print(f"| SMPL-X fitting | {smplx:.3f} |")
    print(f"| ratio SMPL-X / direct | {smplx / direct:.0f}x |")


if __name__ == "__main__":
    main()
