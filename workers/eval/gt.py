"""Ground-truth instances from COCO-format keypoint files (../shared/samples/gt), mapped into the canonical
whole-body space so every expert and the fusion are scored on the same points.

Each instance gives what the pipeline would give an expert: a square crop (the person box x 1.25 for bodies,
the hand box x 2 for hands, the face box x 3 for faces) and a head-region hint (the face box x 2.5, as loose as
the person detector's). Hand-only datasets (FreiHAND, OneHand10K) do not say which hand it is: there each
expert's most confident hand is scored (`side_agnostic`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from schemas.layouts import SOURCE_SIZE, source_offset
from workers.experts.canonical import to_canonical


@dataclass
class Instance:
    dataset: str
    part: str                    # body | hands | face
    image: Path
    crop_box: np.ndarray         # square (cx, cy, side) in image pixels
    hint: np.ndarray             # head-region xyxy
    gt: np.ndarray               # (SOURCE_SIZE, 3) canonical, score = visible
    ref: dict = field(default_factory=dict)     # normalisers: body_size, hand sizes, interocular
    side_agnostic: bool = False


def _canon(native: str, kpts: list, n: int) -> np.ndarray:
    k = np.asarray(kpts, dtype=np.float32).reshape(n, 3)
    k[:, 2] = (k[:, 2] > 0).astype(np.float32)
    k[k[:, 2] == 0, :2] = np.nan
    return to_canonical(native, k)


def _square(x, y, w, h, k):
    return np.array([x + w / 2, y + h / 2, max(w, h) * k], dtype=np.float32)


def _hint_from_face(x, y, w, h):
    cx, cy, s = x + w / 2, y + h / 2, max(w, h) * 2.5
    return np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], dtype=np.float32)


def _hint_from_head(gt: np.ndarray, box) -> np.ndarray:
    head = gt[:5][gt[:5, 2] > 0, :2] if (gt[:5, 2] > 0).any() else None
    if head is None:
        x, y, w, h = box
        return np.array([x, y, x + w, y + w], dtype=np.float32)
    c = head.mean(0)
    s = max(np.ptp(head[:, 0]), np.ptp(head[:, 1]), 8.0) * 3.0
    return np.array([c[0] - s / 2, c[1] - s / 2, c[0] + s / 2, c[1] + s / 2], dtype=np.float32)


def interocular(gt68: np.ndarray) -> float:
    return float(np.linalg.norm(gt68[36, :2] - gt68[45, :2]))


def load(gt_root: Path) -> list[Instance]:
    gt_root = Path(gt_root)
    out: list[Instance] = []
    loaders = [("coco/test_coco.json", _coco), ("coco/test_coco_wholebody.json", _wholebody),
               ("freihand/test_freihand.json", _hands_only), ("onehand10k/test_onehand10k.json", _hands_only),
               ("300w/test_300w.json", _faces_68), ("wflw/test_wflw.json", _faces_wflw)]
    for rel, fn in loaders:
        p = gt_root / rel
        if p.exists():
            d = json.loads(p.read_text())
            images = {im["id"]: p.parent / im["file_name"] for im in d["images"]}
            out += fn(p.parent.name, d, images)
    return out


def _coco(name, d, images):
    out = []
    for a in d["annotations"]:
        gt = _canon("coco-17", a["keypoints"], 17)
        if (gt[:, 2] > 0).sum() < 5:
            continue
        x, y, w, h = a["bbox"]
        out.append(Instance("coco", "body", images[a["image_id"]], _square(x, y, w, h, 1.25),
                            _hint_from_head(gt, a["bbox"]), gt, {"body_size": max(w, h)}))
    return out


def _wholebody(name, d, images):
    out = []
    fo = source_offset("face")
    for a in d["annotations"]:
        x, y, w, h = a["bbox"]
        kp = np.concatenate([np.reshape(a["keypoints"], (17, 3)), np.reshape(a["foot_kpts"], (6, 3)),
                             np.reshape(a["face_kpts"], (68, 3)), np.reshape(a["lefthand_kpts"], (21, 3)),
                             np.reshape(a["righthand_kpts"], (21, 3))])
        for flag, sl in (("foot_valid", slice(17, 23)), ("face_valid", slice(23, 91)),
                         ("lefthand_valid", slice(91, 112)), ("righthand_valid", slice(112, 133))):
            if not a.get(flag, False):
                kp[sl, 2] = 0
        gt = _canon("coco-wholebody-133", kp, 133)
        hint = _hint_from_face(*a["face_box"]) if a.get("face_valid") else _hint_from_head(gt, a["bbox"])
        ref = {"body_size": max(w, h)}
        for side in ("left", "right"):
            bx = a[f"{side}hand_box"]
            ref[f"{side}_hand_size"] = max(bx[2], bx[3])
        if (gt[fo:fo + 68, 2] > 0).all():
            ref["interocular"] = interocular(gt[fo:fo + 68])
        if (gt[:, 2] > 0).sum() >= 5:
            out.append(Instance("coco-wholebody", "body", images[a["image_id"]], _square(x, y, w, h, 1.25), hint,
                                gt, ref))
    return out


def _hands_only(name, d, images):
    out = []
    lo = source_offset("left_hand")
    for a in d["annotations"]:
        gt = np.full((SOURCE_SIZE, 3), np.nan, dtype=np.float32)
        gt[:, 2] = 0
        k = np.asarray(a["keypoints"], dtype=np.float32).reshape(21, 3)
        gt[lo:lo + 21, :2] = k[:, :2]
        gt[lo:lo + 21, 2] = (k[:, 2] > 0)
        x, y, w, h = a["bbox"]
        out.append(Instance(name, "hands", images[a["image_id"]], _square(x, y, w, h, 2.0),
                            np.array([x, y, x + w, y + h], np.float32), gt, {"left_hand_size": max(w, h)},
                            side_agnostic=True))
    return out


def _faces_68(name, d, images, native="ibug-68", n=68):
    out = []
    fo = source_offset("face")
    for a in d["annotations"]:
        gt = _canon(native, a["keypoints"], n)
        x, y, w, h = a["bbox"]
        out.append(Instance(name, "face", images[a["image_id"]], _square(x, y + h * 0.6, w, h, 3.0),
                            _hint_from_face(x, y, w, h), gt, {"interocular": interocular(gt[fo:fo + 68])}))
    return out


def _faces_wflw(name, d, images):
    """WFLW's 98 points, scored on the 68 iBUG points they contain (schemas.natives.WFLW98_TO_IBUG68)."""
    return _faces_68(name, d, images, native="wflw-98", n=98)
