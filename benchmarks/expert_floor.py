"""The floor the default experts' models put under whole-body frames/s per core, in one run.

Runs each TFLite model that MediaPipe Holistic (mediapipe 0.10.21, model_complexity 1) chains for one person —
pose detector, pose landmarks, per hand the re-crop model and the hand landmarks, the face landmarks — plus the
skelforge person detector's view, each alone on one thread (ai-edge-litert, zero input: the cost of these models
does not depend on pixel values), and prints the sum per person for

  - Holistic as it runs (its own pose detector on every crop, and its reset call, which is one more detector run
    on a blank image: README *Each crop on its own*);
  - the models alone with the ROI already known (no detector inside the crop): the least any whole-body expert
    built from these models could cost;

and from that the most frames/s one core could reach for `--persons` actors per frame, models only: no decode,
no pre- or post-processing, no person detection on the frame, no tracking. Compare with issue 15's goal 3
(20 whole-body frames/s per core on the NTU two-person clip).

    PYTHONPATH=. python benchmarks/expert_floor.py [--persons 2] [--runs 50] [--views 4]

`--views`: the person detector's views per frame (4 on a 1920x1080 frame: the whole frame and 3 tiles).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from workers.mediapipe_files import model_file

PARTS = {   # name -> (module folder, file); one run per person unless `PER_PERSON` says otherwise
    "pose_detection": ("pose_detection", "pose_detection.tflite"),
    "pose_landmark_full": ("pose_landmark", "pose_landmark_full.tflite"),
    "hand_recrop": ("holistic_landmark", "hand_recrop.tflite"),
    "hand_landmark_full": ("hand_landmark", "hand_landmark_full.tflite"),
    "face_landmark": ("face_landmark", "face_landmark.tflite"),
}
PER_PERSON = {"pose_landmark_full": 1, "hand_recrop": 2, "hand_landmark_full": 2, "face_landmark": 1}


def invoke_ms(path: str, runs: int) -> float:
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=path, num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    x = np.zeros(d["shape"], d["dtype"])
    times = []
    for i in range(runs + 5):
        t0 = time.perf_counter()
        it.set_tensor(d["index"], x)
        it.invoke()
        if i >= 5:                                    # the first runs warm the caches
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--views", type=int, default=4)
    args = ap.parse_args()
    ms = {name: round(invoke_ms(model_file(*where), args.runs), 2) for name, where in PARTS.items()}
    roi_known = sum(ms[n] * k for n, k in PER_PERSON.items())
    as_run = roi_known + 2 * ms["pose_detection"]           # its detector on the crop + the reset's run
    per_frame = {"roi_known": roi_known * args.persons,
                 "holistic_as_run": as_run * args.persons + args.views * ms["pose_detection"]}
    fig = {"ms_per_model": ms, "ms_per_person": {"roi_known": round(roi_known, 1), "holistic_as_run": round(as_run, 1)},
           "persons": args.persons, "detector_views": args.views,
           "ms_per_frame_models_only": {k: round(v, 1) for k, v in per_frame.items()},
           "max_frames_per_s_per_core": {k: round(1000.0 / v, 1) for k, v in per_frame.items()},
           "goal_frames_per_s_per_core": 20.0}
    print(json.dumps(fig, indent=1))
    print(f"\nper person: {roi_known:.1f} ms with the ROI known, {as_run:.1f} ms as Holistic runs it")
    print(f"{args.persons} persons + {args.views} detector views per frame: at most "
          f"{fig['max_frames_per_s_per_core']['holistic_as_run']} frames/s per core as run, "
          f"{1000.0 / (roi_known * args.persons):.1f} with no detector at all (goal 20)")


if __name__ == "__main__":
    main()
