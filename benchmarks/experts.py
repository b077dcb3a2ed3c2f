"""Cost of each expert, in one run on the same person crops: crops/s per expert (one process, one thread),
so users can choose experts per part. Crops come from a real build's detector tracks (the sample clips), with
the tracker's hints the pose stage gives them (face box, body centres, body-circle point).

Usage: python benchmarks/experts.py --videos DIR [--frames N] [--experts holistic,pose,...]
       [--yolo-arch yolov8n-pose]

`--yolo-arch NAME` also times the yolo-pose expert on an Ultralytics architecture built from NAME.yaml with
random weights: compute cost does not depend on weight values, so the ms/crop are those of the real model
(its "crops with output" are not meaningful). Point `--settings` at real weights for any cluster expert.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=60, help="output frames per clip")
    ap.add_argument("--experts", default="holistic,holistic-roi,pose,hands,facemesh,dlib68")
    ap.add_argument("--yolo-arch", default=None, help="e.g. yolov8n-pose: time yolo-pose on that architecture")
    ap.add_argument("--settings", default="{}", help='JSON {expert: settings}, e.g. {"rtmpose": {"onnx": "m.onnx"}}')
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()

    import numpy as np
    from rich.console import Console

    from dagfile import DAG
    from pipeline.build import build
    from pipeline.cache import Store
    from pipeline.manifest import read_manifest
    from schemas.config import BuildConfig
    from workers import models
    from workers.decode.spool import open_frames
    from workers.detect.blazepose import person_boxes
    from workers.experts.base import Crop
    from workers.pose.crops import square_crop

    out = Path(tempfile.mkdtemp(prefix="skelforge-bench-experts-"))
    cfg = BuildConfig.model_validate({"frames": {"max_frames": a.frames}, "layouts": ["coco-17"]})
    build(DAG, a.videos, out, cfg, 0, None, None, None, False, Console(quiet=True))
    store = Store(out / ".cache")
    crops = []
    for r in read_manifest(out).to_pylist():
        if r["status"] != "ok":
            continue
        det = store.load("detect", r["detect_key"]).arrays
        idx = store.load("frames", r["frames_key"]).arrays["src_index"]
        source = open_frames(r["source_path"], idx, out)
        tr = det["tracks"][det["actors"]]
        for m in range(tr.shape[0]):
            for k in range(tr.shape[1]):
                if np.isnan(tr[m, k, 0]):
                    continue
                frame = source.frame(k)
                b = person_boxes(tr[m, k][None])[0]
                img, x0, y0, _ = square_crop(frame, (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, (b[2] - b[0]) * 1.25)
                others = np.delete(det["tracks"][:, k, 5:7], det["actors"][m], axis=0)
                crops.append(Crop(img, x0, y0, 1.0, tr[m, k, 1:5].copy(), frame, tr[m, k, 5:7].copy(),
                                  others[np.isfinite(others[:, 0])], circle=tr[m, k, 7:9].copy()))
        source.close()
    settings = json.loads(a.settings)
    names = a.experts.split(",")
    if a.yolo_arch:
        import os
        os.environ.setdefault("YOLO_OFFLINE", "1")
        from ultralytics import YOLO
        pt = out / f"{a.yolo_arch}-random.pt"
        YOLO(f"{a.yolo_arch}.yaml", task="pose").save(str(pt))
        settings["yolo-pose"] = {"weights": str(pt)}
        names.append("yolo-pose")
    results = {}
    for name in names:
        e = models.expert(name, json.dumps(settings.get(name, {}), sort_keys=True))
        e.process(crops[:2])                                   # warm-up
        t0 = time.perf_counter()
        found = sum(int(r.points[:, 2].max() > 0) for r in e.process(crops))
        dt = time.perf_counter() - t0
        results[name] = {"crops": len(crops), "seconds": round(dt, 2), "crops_per_s": round(len(crops) / dt, 1),
                         "ms_per_crop": round(1000 * dt / len(crops), 1), "found": found}
    print(json.dumps(results, indent=1))
    print("\n| expert | ms per crop | crops/s | crops with output |\n|---|---|---|---|")
    for n, r in results.items():
        print(f"| {n} | {r['ms_per_crop']} | {r['crops_per_s']} | {r['found']} / {r['crops']} |")
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
