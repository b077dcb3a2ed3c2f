"""`OUT/manifest.parquet`: one row per input video. Fixed columns first; then optional ones — frame size (upright),
rotation (clockwise degrees applied from the display matrix), frame_timing (timestamps | a raw stream's rate),
identity_switches / switch_frames (suspected swaps of a kept actor's track: workers/track/switches.py),
identity_repairs (JSON: the swaps undone by appearance, workers/track/appearance.py: frame, tracks, distances),
quality scores (pose_ratio, actors_ratio, confidence, quality = per-part JSON), filter_rule / filter_value /
filter_threshold for filtered clips, provenance (JSON), fit3d_method / fit3d_errors (JSON, per person: the 3D
candidate chosen by back-projection and every candidate's normalised reprojection error), adapter columns (e.g. NTU's split_xsub/xview/xset) —
and per-stage `<stage>_seconds` / `<stage>_key` / `<stage>_cached`."""
from __future__ import annotations

import pyarrow as pa

FIXED = [
    ("clip_id", pa.string()), ("source_path", pa.string()), ("label", pa.int32()), ("label_name", pa.string()),
    ("split", pa.string()), ("status", pa.string()), ("stage", pa.string()), ("reason", pa.string()),
    ("n_frames", pa.int32()), ("n_persons", pa.int32()),
]
# Optional columns with a known type (present when the stage that fills them ran).
TYPED = {
    "width": pa.int32(), "height": pa.int32(),
    "rotation": pa.int32(), "frame_timing": pa.string(),   # display rotation applied (degrees); how frames were timed
    "identity_switches": pa.int32(), "switch_frames": pa.string(),   # suspected track swaps; JSON frames per actor
    "identity_repairs": pa.string(),                                  # JSON: swaps undone by appearance
    "pose_ratio": pa.float64(), "actors_ratio": pa.float64(), "confidence": pa.float64(), "quality": pa.string(),
    "filter_rule": pa.string(), "filter_value": pa.float64(), "filter_threshold": pa.float64(),
    "provenance": pa.string(), "source_label_name": pa.string(),
    "fit3d_method": pa.string(), "fit3d_errors": pa.string(),      # JSON lists, one entry per person
}
STATUSES = ("ok", "filtered", "failed")


def manifest_schema(extra_cols: list[str], stages: list[str]) -> pa.Schema:
    fields = [pa.field(n, t) for n, t in FIXED]
    fields += [pa.field(c, TYPED.get(c, pa.string())) for c in extra_cols]
    for s in stages:
        fields += [pa.field(f"{s}_seconds", pa.float64()), pa.field(f"{s}_key", pa.string()),
                   pa.field(f"{s}_cached", pa.bool_())]
    return pa.schema(fields)
