"""The NTU-X ablation in one call: the same model trained on body (25 joints), body + hands (67) and
body + hands + face (118) of the NTU-X layout's shards, then compared per class. For deepacts each variant
takes the Deep Action Stamps whose joints its regions hold (body: body, bones and flow when built; then hands;
then face), so the same three runs are its modality ablation.

inputs:  OUT (a build with ntu-x-118 shards), a TrainConfig (model, stream, epochs, ...), DEST
outputs: DEST/<variant>/ (one run each: metrics.json, curves, checkpoints), DEST/compare.{json,md} and the
         per-class gain figures of each step (body -> +hands -> +face)
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from schemas.train import TrainConfig

from .compare import compare
from .experiment import run_experiment

LAYOUT = "ntu-x-118"
VARIANTS: list[tuple[str, tuple[str, ...]]] = [
    ("body", ("body",)),
    ("body+hands", ("body", "left_hand", "right_hand")),
    ("body+hands+face", ("body", "left_hand", "right_hand", "face")),
]


def run_ablation(out: Path, tc: TrainConfig, dest: Path,
                 on_epoch: Optional[Callable[[str, str, dict], None]] = None) -> dict:
    dest = Path(dest)
    runs = []
    for name, regions in VARIANTS:
        cfg = tc.model_copy(update={"layout": LAYOUT, "regions": regions})
        run_experiment(out, cfg, dest / name, on_epoch and (lambda s, rec, name=name: on_epoch(name, s, rec)))
        runs.append(dest / name)
    return compare(runs, dest, [n for n, _ in VARIANTS])
