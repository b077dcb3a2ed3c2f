"""How closely two whole-body experts agree on the same real tracked crops, per clip, in one run: the median over
crops of each crop's median point distance (body, hands, face; as a share of the second expert's body size),
of the metric 3D points (metres), and how many crops each expert finds a body, left hand, right hand and face in.

Crops are cut as the pose stage cuts them, around each BlazePose detection of every `--every`-th frame, with the
detection's face box, hip centre and body-circle point (`tests/test_holistic_roi.py` `clip_crops`).

Usage: PYTHONPATH=. python benchmarks/agreement.py VIDEO [VIDEO ...] [--experts holistic-roi,holistic]
       [--every 5] [--limit 40]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SLICES = {"body": slice(0, 33), "left_hand": slice(33, 54), "right_hand": slice(54, 75), "face": slice(75, 543)}


def compare(crops, a, b) -> dict:
    from tests.test_holistic_roi import body_size
    dist = {"body": [], "hands": [], "face": [], "world_m": []}
    found = {n: dict.fromkeys(SLICES, 0) for n in ("a", "b")}
    for c in crops:
        ra, rb = a.process([c])[0], b.process([c])[0]
        for n, p in (("a", ra.points), ("b", rb.points)):
            for part, s in SLICES.items():
                found[n][part] += int(p[s, 2].max() > 0)
        if ra.points[0, 2] == 0 or rb.points[0, 2] == 0:
            continue
        size = body_size(rb.points)
        for part, s in SLICES.items():
            pa, pb = ra.points[s], rb.points[s]
            if pa[:, 2].max() > 0 and pb[:, 2].max() > 0:
                key = "hands" if part.endswith("hand") else part
                dist[key].append(float(np.median(np.linalg.norm(pa[:, :2] - pb[:, :2], axis=1))) / size)
        if ra.world is not None and rb.world is not None:
            dist["world_m"].append(float(np.median(np.linalg.norm(ra.world[:, :3] - rb.world[:, :3], axis=1))))
    return {"crops": len(crops), "found": found,
            "median": {k: round(float(np.median(v)), 4) if v else None for k, v in dist.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", type=Path, nargs="+")
    ap.add_argument("--experts", default="holistic-roi,holistic")
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--limit", type=int, default=40)
    args = ap.parse_args()
    from tests.test_holistic_roi import clip_crops
    from workers import models
    a, b = (models.expert(n, "{}") for n in args.experts.split(","))
    out = {v.name: compare(clip_crops(v, args.every, args.limit), a, b) for v in args.videos}
    print(json.dumps({"experts": args.experts.split(","), "clips": out}, indent=1))


if __name__ == "__main__":
    main()
