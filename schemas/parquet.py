"""Shard schema: one row per kept clip; keypoints flattened in (M, T, V, C) order with their shape beside them.
Schema metadata key `skelforge` holds everything needed to reshape and interpret a row (see README); the shard
writer adds the keypoint codec's keys (shard_format, keypoints_scale, keypoints_3d_scale, decode:
workers/io/shard_codec.py)."""
from __future__ import annotations

import json

import pyarrow as pa

from .layouts import get_layout

SHARD_SCHEMA = pa.schema([
    pa.field("clip_id", pa.string(), nullable=False),
    pa.field("label", pa.int32(), nullable=False),
    pa.field("label_name", pa.string()),
    pa.field("split", pa.string(), nullable=False),
    pa.field("n_frames", pa.int32(), nullable=False),
    pa.field("n_persons", pa.int32(), nullable=False),
    pa.field("keypoints", pa.list_(pa.int32()), nullable=False),    # quantised: workers/io/shard_codec.py
    pa.field("keypoints_shape", pa.list_(pa.int32(), 4), nullable=False),
    pa.field("keypoints_3d", pa.list_(pa.int32())),
    pa.field("keypoints_3d_shape", pa.list_(pa.int32())),    # [M, T, V, 4] or null: variable-size (nullable)
    pa.field("provenance", pa.list_(pa.int8())),          # (M, T, V): index into metadata provenance_experts
    pa.field("frame_confidence", pa.list_(pa.float32())),  # (M, T): SSTA-PRS per-frame confidence
    pa.field("smplx_params", pa.list_(pa.float32())),      # (M, T, P) when fit3d fitted SMPL-X; see metadata
    pa.field("smplx_params_shape", pa.list_(pa.int32())),   # [M, T, P] (variable-size list: nullable)
    pa.field("flow", pa.list_(pa.float32())),              # (M, T, B, 2) when the flow stage ran; see metadata
    pa.field("flow_shape", pa.list_(pa.int32())),           # [M, T, B, 2] (variable-size list: nullable)
])

COORDINATES = "original-frame pixels (x right, y down); missing joint: NaN coordinates, score 0"
COORDINATES_3D_CAMERA = ("metres, camera frame (x right, y down, z forward from the camera; fit3d's chosen "
                         "candidate per person, see the manifest's fit3d_method); missing: NaN, score 0")
FLOW = ("forward optical flow at each of `joints` (indices into joint_names, in order) in frame t: frame pixels "
        "per output frame from t to t+1, channels dx, dy; NaN where the joint is missing and on the last frame")
COORDINATES_3D = ("metres, MediaPipe world frame (origin between the hips, x to the subject's left as seen "
                  "from the camera, y down, z towards the camera); body-derived joints only, others NaN, score 0")


def layout_metadata(layout_name: str, fps: int, experts: list[dict], version: str,
                    provenance_experts: list[str], camera_frame_3d: bool = False,
                    smplx_params: list | None = None, flow: dict | None = None) -> dict:
    layout = get_layout(layout_name)
    return {
        "layout": layout.name,
        "description": layout.description,
        "joint_names": layout.joint_names,
        "joint_rules": [{"name": j.name, "kind": j.kind, "note": j.note} for j in layout.joints],
        "edges": [list(e) for e in layout.edges],
        "edge_notes": layout.edge_notes,
        "parts": {k: list(v) for k, v in layout.parts.items()},
        "regions": {k: list(v) for k, v in layout.regions.items()},
        "center": layout.center,
        "channels": ["x", "y", "score"],
        "channels_3d": ["x", "y", "z", "score"],
        "coordinates": COORDINATES,
        "coordinates_3d": COORDINATES_3D_CAMERA if camera_frame_3d else COORDINATES_3D,
        "smplx_params": smplx_params or [],                 # [[name, size], ...] in column order
        "flow": ({**flow, "coordinates": FLOW} if flow else None),  # `joints`: the layout's joints it is sampled at
        "fps": fps,
        "shape_order": "MTVC",
        "experts": experts,
        "provenance_experts": provenance_experts,
        "provenance_codes": {"-1": "missing", "-2": "interpolated by refine (short gap)"},
        "skelforge_version": version,
    }


def schema_with_metadata(meta: dict) -> pa.Schema:
    return SHARD_SCHEMA.with_metadata({"skelforge": json.dumps(meta, sort_keys=True)})


def read_metadata(schema: pa.Schema) -> dict:
    return json.loads(schema.metadata[b"skelforge"])
