"""Ground truth from keypoint files at any path, its layout read from the content, mapped into the canonical
whole-body space so every expert, the fusion and the whole pipeline are scored on the same points.

Formats (workers/eval/gt_layouts.py lists the layouts):
- COCO-style JSON (`images`, `annotations`, `categories`): the layout from the keypoints per annotation and
  the category's keypoint names (COCO-17 / OCHuman, CrowdPose 14, AIC 14, JHMDB 15 with track_id, hand-only 21
  — FreiHAND, OneHand10K, Panoptic —, faces 68 — 300W — and 98 — WFLW); COCO-WholeBody by its per-part lists;
- MPII's list of `{image, joints, joints_vis, center, scale}` records (16 joints; the person box is the square
  of side 200 x scale around `center`, MPII's convention).
Images are found next to the file (`file_name` / `image` relative to its folder).

`load_sets(path)` reads one file, or every `*.json` under a folder (any depth); anything it cannot read — a
missing path, a folder with no .json, bad JSON, a format or keypoint count it does not know, ambiguous names,
a missing image — raises `GtError` naming the file and the problem. There is no silent "0 instances".

Each instance gives what the pipeline would give an expert: a square crop (the person box x 1.25 for bodies,
the hand box x 2 for hands, the face box x 3 for faces) and a head-region hint (the face box x 2.5, as loose as
the person detector's). Hand-only datasets do not say which hand it is: there each method's most confident
hand is scored (`side_agnostic`). An instance with fewer than `MIN_LABELED` labelled canonical points is kept
as `ignore` (COCO's rule for unannotated people): a prediction may match it, but it is neither scored nor
counted as missed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from schemas.layouts import source_offset
from workers.experts.canonical import to_canonical

from .gt_layouts import COCO_STYLE, LAYOUTS, GtLayout, known_counts, normalise

MIN_LABELED = 5
WHOLEBODY_KEYS = ("foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")


class GtError(ValueError):
    """A ground-truth file that cannot be read; the message names the file and the problem."""


@dataclass
class Instance:
    dataset: str
    part: str                    # body | hands | face
    image: Path
    crop_box: np.ndarray         # square (cx, cy, side) in image pixels
    hint: np.ndarray             # head-region xyxy
    gt: np.ndarray               # (SOURCE_SIZE, 3) canonical, score = labelled
    ref: dict = field(default_factory=dict)     # normalisers: body_size, hand sizes, interocular
    side_agnostic: bool = False
    layout: str = ""
    box: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))   # instance box xywh
    ignore: bool = False


@dataclass
class GtSet:
    name: str
    path: Path
    layout: str
    images: list[Path]
    instances: list[Instance]


def _canon(native: str, kpts, n: int) -> np.ndarray:
    k = np.asarray(kpts, dtype=np.float32).reshape(n, 3).copy()
    k[:, 2] = (k[:, 2] > 0).astype(np.float32)
    k[k[:, 2] == 0, :2] = np.nan
    return to_canonical(native, k)


def _square(x, y, w, h, k):
    return np.array([x + w / 2, y + h / 2, max(w, h) * k], dtype=np.float32)


def _hint_from_face(x, y, w, h):
    cx, cy, s = x + w / 2, y + h / 2, max(w, h) * 2.5
    return np.array([cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2], dtype=np.float32)


def _hint_from_head(gt: np.ndarray, box) -> np.ndarray:
    head = gt[:11][gt[:11, 2] > 0, :2]          # canonical head points: nose, eyes, ears, mouth
    if not len(head):
        x, y, w, h = box
        return np.array([x, y, x + w, y + w], dtype=np.float32)
    c = head.mean(0)
    s = max(np.ptp(head[:, 0]), np.ptp(head[:, 1]), 8.0) * 3.0
    return np.array([c[0] - s / 2, c[1] - s / 2, c[0] + s / 2, c[1] + s / 2], dtype=np.float32)


def interocular(gt68: np.ndarray) -> float:
    return float(np.linalg.norm(gt68[36, :2] - gt68[45, :2]))


def _box(a: dict, gt: np.ndarray) -> tuple[float, float, float, float]:
    """The annotation's `bbox` (xywh), else the extent of its labelled points."""
    if a.get("bbox") is not None and len(a["bbox"]) == 4 and a["bbox"][2] > 0 and a["bbox"][3] > 0:
        return tuple(float(v) for v in a["bbox"])
    pts = gt[gt[:, 2] > 0, :2]
    if not len(pts):
        return (0.0, 0.0, 0.0, 0.0)
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    return (float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def _labelled(gt: np.ndarray) -> int:
    return int((gt[:, 2] > 0).sum())


# ---- one annotation -> one Instance, per layout part --------------------------------------------------------

def _body(name: str, layout: GtLayout, a: dict, image: Path) -> Instance:
    gt = _canon(layout.native, a["keypoints"], layout.count)
    x, y, w, h = _box(a, gt)
    return Instance(name, "body", image, _square(x, y, w, h, 1.25), _hint_from_head(gt, (x, y, w, h)), gt,
                    {"body_size": max(w, h)}, layout=layout.name, box=np.array([x, y, w, h], np.float32))


def _wholebody(name: str, layout: GtLayout, a: dict, image: Path) -> Instance:
    fo = source_offset("face")
    kp = np.concatenate([np.reshape(a["keypoints"], (17, 3)), np.reshape(a["foot_kpts"], (6, 3)),
                         np.reshape(a["face_kpts"], (68, 3)), np.reshape(a["lefthand_kpts"], (21, 3)),
                         np.reshape(a["righthand_kpts"], (21, 3))]).astype(np.float32)
    for flag, sl in (("foot_valid", slice(17, 23)), ("face_valid", slice(23, 91)),
                     ("lefthand_valid", slice(91, 112)), ("righthand_valid", slice(112, 133))):
        if not a.get(flag, False):
            kp[sl, 2] = 0
    gt = _canon(layout.native, kp, 133)
    x, y, w, h = _box(a, gt)
    hint = _hint_from_face(*a["face_box"]) if a.get("face_valid") else _hint_from_head(gt, (x, y, w, h))
    ref = {"body_size": max(w, h)}
    for side in ("left", "right"):
        bx = a.get(f"{side}hand_box") or [0, 0, 0, 0]
        ref[f"{side}_hand_size"] = max(bx[2], bx[3])
    if (gt[fo:fo + 68, 2] > 0).all():
        ref["interocular"] = interocular(gt[fo:fo + 68])
    return Instance(name, "body", image, _square(x, y, w, h, 1.25), hint, gt, ref, layout=layout.name,
                    box=np.array([x, y, w, h], np.float32))


def _hand(name: str, layout: GtLayout, a: dict, image: Path) -> Instance:
    gt = _canon(layout.native, a["keypoints"], layout.count)
    x, y, w, h = _box(a, gt)
    return Instance(name, "hands", image, _square(x, y, w, h, 2.0), np.array([x, y, x + w, y + h], np.float32),
                    gt, {"left_hand_size": max(w, h)}, side_agnostic=True, layout=layout.name,
                    box=np.array([x, y, w, h], np.float32))


def _face(name: str, layout: GtLayout, a: dict, image: Path) -> Instance:
    fo = source_offset("face")
    gt = _canon(layout.native, a["keypoints"], layout.count)
    x, y, w, h = _box(a, gt)
    ref = {"interocular": interocular(gt[fo:fo + 68])} if (gt[fo + 36, 2] > 0 and gt[fo + 45, 2] > 0) else {}
    return Instance(name, "face", image, _square(x, y + h * 0.6, w, h, 3.0), _hint_from_face(x, y, w, h), gt,
                    ref, layout=layout.name, box=np.array([x, y, w, h], np.float32))


MAKERS: dict[str, Callable] = {"body": _body, "hands": _hand, "face": _face}


# ---- files ------------------------------------------------------------------------------------------------

def detect_layout(path: Path, d: dict) -> GtLayout:
    """The layout of a COCO-style file (see gt_layouts): by per-part lists, keypoint count and names."""
    anns = d["annotations"]
    if any(k in a for a in anns for k in WHOLEBODY_KEYS):
        return LAYOUTS["coco-wholebody"]
    lengths = set()
    for a in anns:
        kp = a.get("keypoints")
        if not isinstance(kp, list) or len(kp) % 3:
            raise GtError(f"{path}: annotation {a.get('id')} has no keypoints list of (x, y, v) triples")
        lengths.add(len(kp) // 3)
    if len(lengths) != 1:
        raise GtError(f"{path}: annotations carry different keypoint counts {sorted(lengths)}")
    n = lengths.pop()
    candidates = [LAYOUTS[c] for c in COCO_STYLE if LAYOUTS[c].count == n]
    if not candidates:
        raise GtError(f"{path}: {n} keypoints per annotation match no known layout (known: {known_counts()})")
    used = {a.get("category_id") for a in anns}
    names = next((tuple(normalise(k) for k in c["keypoints"]) for c in d.get("categories") or []
                  if c.get("keypoints") and (c.get("id") in used or not used - {None})), None)
    if names:
        match = [c for c in candidates if c.names == names]
        if not match:
            raise GtError(f"{path}: keypoint names {list(names)} match no known {n}-point layout "
                          f"({', '.join(f'{c.name}: {list(c.names)}' for c in candidates if c.names)})")
        return match[0]
    if len(candidates) > 1:
        raise GtError(f"{path}: {n} keypoints could be {' or '.join(c.what for c in candidates)}, and the file's "
                      "categories name no keypoints to tell them apart")
    return candidates[0]


def _image(path: Path, rel: str) -> Path:
    p = path.parent / rel
    if not p.is_file():
        raise GtError(f"{path}: image {rel} not found (looked in {path.parent})")
    return p


def _coco_file(path: Path, name: str, d: dict) -> GtSet:
    if not isinstance(d.get("annotations"), list) or not isinstance(d.get("images"), list):
        raise GtError(f"{path}: not a COCO-style keypoint file (no `images` and `annotations` lists)")
    if not d["annotations"]:
        raise GtError(f"{path}: no annotations")
    layout = detect_layout(path, d)
    images = {im["id"]: _image(path, im["file_name"]) for im in d["images"]}
    maker = _wholebody if layout.name == "coco-wholebody" else MAKERS[layout.part]
    out = []
    for a in d["annotations"]:
        if a.get("image_id") not in images:
            raise GtError(f"{path}: annotation {a.get('id')} names image id {a.get('image_id')}, not in `images`")
        try:
            inst = maker(name, layout, a, images[a["image_id"]])
        except (KeyError, ValueError, TypeError) as e:
            raise GtError(f"{path}: annotation {a.get('id')} does not read as {layout.name}: {e}") from None
        out.append(_ignore_sparse(inst))
    return GtSet(name, path, layout.name, sorted(set(images.values())), out)


def _mpii_file(path: Path, name: str, d: list) -> GtSet:
    layout = LAYOUTS["mpii-16"]
    out = []
    for i, r in enumerate(d):
        try:
            joints = np.asarray(r["joints"], np.float32).reshape(16, 2)
            vis = np.asarray(r["joints_vis"], np.float32).reshape(16, 1)
            cx, cy = (float(v) for v in r["center"])
            side = 200.0 * float(r["scale"])
        except (KeyError, ValueError, TypeError) as e:
            raise GtError(f"{path}: record {i} is not an MPII record {{image, joints (16x2), joints_vis (16), "
                          f"center, scale}}: {e}") from None
        a = {"keypoints": np.concatenate([joints, vis], 1).ravel().tolist(),
             "bbox": [cx - side / 2, cy - side / 2, side, side]}
        out.append(_ignore_sparse(_body(name, layout, a, _image(path, r["image"]))))
    return GtSet(name, path, layout.name, sorted({i.image for i in out}), out)


def _ignore_sparse(inst: Instance) -> Instance:
    inst.ignore = _labelled(inst.gt) < MIN_LABELED
    return inst


def load_file(path: Path, name: Optional[str] = None) -> GtSet:
    path = Path(path)
    name = name or path.parent.name
    if not path.is_file():
        raise GtError(f"{path}: ground-truth file does not exist")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GtError(f"{path}: not valid JSON: {e}") from None
    if isinstance(d, list):
        if not d:
            raise GtError(f"{path}: an empty list (no MPII records)")
        if not all(isinstance(r, dict) and {"image", "joints", "joints_vis"} <= set(r) for r in d):
            raise GtError(f"{path}: a list, but not of MPII records {{image, joints, joints_vis, center, scale}}")
        return _mpii_file(path, name, d)
    if not isinstance(d, dict):
        raise GtError(f"{path}: neither a COCO-style keypoint file nor an MPII record list")
    return _coco_file(path, name, d)


def find_files(root: Path) -> list[Path]:
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise GtError(f"{root}: no such ground-truth file or folder")
    files = sorted(p for p in root.rglob("*.json") if p.is_file())
    if not files:
        raise GtError(f"{root}: no ground-truth .json file under it")
    return files


SPLIT_PREFIX = re.compile(r"^(train|val|valid|test)[_-]", re.IGNORECASE)


def set_names(files: list[Path]) -> list[str]:
    """A set is named after its folder ("coco/test_coco.json" -> "coco"); a folder holding several files names
    each after its stem, less a leading split word, "_" as "-" ("test_coco_wholebody" -> "coco-wholebody")."""
    per_folder: dict[Path, int] = {}
    for f in files:
        per_folder[f.parent] = per_folder.get(f.parent, 0) + 1
    names = [f.parent.name if per_folder[f.parent] == 1 else SPLIT_PREFIX.sub("", f.stem).replace("_", "-")
             for f in files]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [n if seen[n] == 1 else f"{f.parent.name}/{f.stem}" for n, f in zip(names, files)]


def load_sets(root: Path) -> list[GtSet]:
    files = find_files(root)
    return [load_file(f, n) for f, n in zip(files, set_names(files))]


def load(root: Path) -> list[Instance]:
    """Every scored (not ignored) instance of every set under `root`."""
    return [i for s in load_sets(root) for i in s.instances if not i.ignore]

