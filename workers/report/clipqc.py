"""Per-clip QC measures from a clip's cached arrays (refined canonical points, the frame size, detect's
identity-switch frames): what the report's per-clip table, its worst-clip ranking and its viewer windows show.

Parts (canonical joints, `QC_PARTS`): torso (shoulders, hips), arms (elbows, wrists), legs (knees, ankles, heels,
toes), left_hand, right_hand, face (iBUG-68). A part *exists* in a person-frame when at least half of its joints
have a point (score > 0) inside the image: MediaPipe's body model also places the joints it cannot see (off the
image, score near 0), and such a guess is not an observation of the part.

  presence[part]     share of the actors' person-frames (kept actors x frames) where the part exists
  confidence[part]   mean score of the part's points that exist (inside the image)
  absent[part]       share of person-frames per reason the part is absent (presence + the shares = 1); the first
                     reason that holds, in this order:
    actor_missing    the actor has no body point at all in that frame (not posed there)
    out_of_frame     the part's expected position lies outside the image: for torso/arms/legs the body model's
                     own points for the part (most of its placed joints off the image); for a hand its expected
                     centre, half a hand length beyond the body wrist along the forearm (the wrist itself when
                     the elbow is missing); for the face the body's head centre (nose and eyes, else ears and
                     mouth: workers.fusion.parts)
    back_view        face only: the body's shoulders are in reversed left/right order in the image (the subject's
                     left shoulder on the image's left: facing away), and the hips agree where both are placed
    too_small        hands and face: the part's expected size in pixels leaves less than 2 px (the Nyquist
                     limit: two landmarks closer than two pixels cannot be told apart) between consecutive
                     landmarks along its longest chain — a hand's 4 gaps wrist-to-middle-fingertip (expected hand
                     length = forearm x 0.108 / 0.146, Drillis & Contini's hand and forearm shares of stature), a
                     face's 16 jaw gaps across its width (expected width = the body's head-joint box, the
                     person's 90th percentile over the clip, as workers.fusion.parts measures it)
    not_detected     none of the above
  badness (T,)       per frame, the mean of four shares in [0, 1]: actors missing (1 - posed actors / the actors
                     expected, capped at the actors kept, as quality's actors_ratio), parts absent (over actors x
                     parts), a suspected identity switch at that frame (0 or 1), and part violations (refine's
                     per-frame mask: hands and faces dropped for lying off their body, over actors x those 3
                     parts; a refine result without the mask counts 0)
  identity_suspect   share of person-frames whose identity is suspect: each actor's track is cut at its switch
                     frames and every segment but the longest (presumed the right person) is suspect
  jerk               workers.fusion.motion_metrics.jerk of the body joints that exist (mean |third difference| per
                     frame^3 in body sizes): the refined points are smoothed without lag, so jerk left is motion
                     or estimation noise, never smoothing delay
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemas.layouts import SOURCE_PARTS, source_offset
from schemas.layouts.mediapipe import B, BODY_LIMBS
from workers.fusion.motion_metrics import body_size, jerk
from workers.fusion.parts import body_anchors

BODY = np.arange(SOURCE_PARTS["body"])


def _range(part: str) -> np.ndarray:
    return np.arange(source_offset(part), source_offset(part) + SOURCE_PARTS[part])


def _body(*names: str) -> np.ndarray:
    return np.array([B[f"{s}_{n}"] for n in names for s in ("left", "right")])


QC_PARTS: dict[str, np.ndarray] = {
    "torso": _body("shoulder", "hip"),
    "arms": _body("elbow", "wrist"),
    "legs": _body("knee", "ankle", "heel", "foot_index", "small_toe"),
    "left_hand": _range("left_hand"),
    "right_hand": _range("right_hand"),
    "face": _range("face"),
}
REASONS = ("actor_missing", "out_of_frame", "back_view", "too_small", "not_detected")
NYQUIST_PX = 2.0                       # least spacing, in pixels, at which two landmarks can be told apart
HAND_PER_FOREARM = 0.108 / 0.146       # Drillis & Contini (1966): hand length / forearm length
LANDMARK_GAPS = {"left_hand": 4, "right_hand": 4, "face": 16}
HAND_SIDE = {"left_hand": "left", "right_hand": "right"}


@dataclass
class ClipView:
    """What the rules read of one clip: points (M, T, 145, 3), image size, derived masks."""
    points: np.ndarray
    width: int
    height: int

    def __post_init__(self):
        self.xy = self.points[..., :2].astype(np.float64)
        self.scored = self.points[..., 2] > 0
        self.inside = self.scored & self.in_image(self.xy)
        self.anchors = body_anchors(self.points[..., BODY, :])

    def in_image(self, xy: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return (xy[..., 0] >= 0) & (xy[..., 0] < self.width) & (xy[..., 1] >= 0) & (xy[..., 1] < self.height)


def exists(f: ClipView) -> dict[str, np.ndarray]:
    """{part: (M, T) bool}: at least half of the part's joints placed inside the image."""
    return {p: f.inside[..., idx].sum(-1) >= len(idx) / 2 for p, idx in QC_PARTS.items()}


# ---- out_of_frame: where the part should be, per part kind

def _body_part_outside(f: ClipView, part: str) -> np.ndarray:
    idx = QC_PARTS[part]
    placed = f.scored[..., idx]
    off = placed & ~f.inside[..., idx]
    return off.sum(-1) * 2 > placed.sum(-1)                           # most of its placed joints off the image


def _hand_outside(f: ClipView, part: str) -> np.ndarray:
    side = HAND_SIDE[part]
    w, e = B[f"{side}_wrist"], B[f"{side}_elbow"]
    wrist, elbow = f.xy[..., w, :], f.xy[..., e, :]
    along = wrist - elbow
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = along / np.linalg.norm(along, axis=-1, keepdims=True)
    half = (HAND_PER_FOREARM * f.anchors.forearm / 2)[:, None, None]   # (M, 1, 1)
    centre = np.where((f.scored[..., e] & np.isfinite(unit).all(-1) & np.isfinite(half))[..., None],
                      wrist + unit * np.nan_to_num(half), wrist)
    return f.scored[..., w] & ~f.in_image(centre)


def _face_outside(f: ClipView, part: str) -> np.ndarray:
    return f.anchors.has_head & ~f.in_image(f.anchors.head_centre)


OUTSIDE = {"torso": _body_part_outside, "arms": _body_part_outside, "legs": _body_part_outside,
           "left_hand": _hand_outside, "right_hand": _hand_outside, "face": _face_outside}


def back_view(f: ClipView) -> np.ndarray:
    """(M, T): the shoulders reversed in the image (facing away), the hips agreeing where both are placed."""
    def reversed_pair(name: str) -> tuple[np.ndarray, np.ndarray]:
        l, r = B[f"left_{name}"], B[f"right_{name}"]
        both = f.scored[..., l] & f.scored[..., r]
        return both & (f.xy[..., l, 0] < f.xy[..., r, 0]), both
    shoulders, has_sh = reversed_pair("shoulder")
    hips, has_hips = reversed_pair("hip")
    return has_sh & shoulders & (~has_hips | hips)


def expected_size(f: ClipView, part: str) -> np.ndarray:
    """(M,) the part's expected size in pixels (NaN where the body never measures it)."""
    return HAND_PER_FOREARM * f.anchors.forearm if part in HAND_SIDE else f.anchors.head


def too_small(f: ClipView, part: str) -> np.ndarray:
    """(M, 1) True where the expected size leaves under NYQUIST_PX per landmark gap; False for body parts."""
    if part not in LANDMARK_GAPS:
        return np.zeros((f.points.shape[0], 1), bool)
    size = expected_size(f, part)
    return (np.isfinite(size) & (size < NYQUIST_PX * LANDMARK_GAPS[part]))[:, None]


def absent_reasons(f: ClipView, present: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """{part: {reason: (M, T) bool}}: each absent person-frame under the first reason that holds."""
    no_actor = ~f.scored[..., BODY].any(-1)
    away = back_view(f)
    out = {}
    for part in QC_PARTS:
        rules = {"actor_missing": no_actor, "out_of_frame": OUTSIDE[part](f, part),
                 "back_view": away if part == "face" else np.zeros_like(no_actor),
                 "too_small": np.broadcast_to(too_small(f, part), no_actor.shape)}
        left = ~present[part]
        masks = {}
        for reason in REASONS[:-1]:
            masks[reason] = left & rules[reason]
            left = left & ~rules[reason]
        masks["not_detected"] = left
        out[part] = masks
    return out


def frame_terms(present: dict[str, np.ndarray], posed: np.ndarray, expected: int,
                switch_frames: list[list[int]], violations: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{term: (T,) in [0, 1]} per frame: actors missing, parts absent, suspected identity switch, part
    violations (`violations` (M, T, 3) from refine; docstring)."""
    M, T = posed.shape
    want = max(min(expected, M), 1)
    switch = np.zeros(T)
    for frames in switch_frames:
        switch[[k for k in frames if 0 <= k < T]] = 1.0
    return {"actors_missing": 1.0 - np.minimum(posed.sum(0), want) / want,
            "parts_absent": 1.0 - np.mean([present[p].mean(0) for p in QC_PARTS], axis=0) if M else np.ones(T),
            "switch": switch,
            "part_violations": (violations.mean((0, 2)) if violations is not None and violations.size
                                else np.zeros(T))}


def identity_suspect(switch_frames: list[list[int]], M: int, T: int) -> float:
    """Share of person-frames outside each actor's longest switch-free segment."""
    if not M or not T:
        return 0.0
    suspect = 0
    for frames in list(switch_frames)[:M]:
        cuts = np.unique(np.clip([0, *frames, T], 0, T))
        suspect += T - int(np.diff(cuts).max(initial=T))
    return suspect / (M * T)


def clip_jerk(f: ClipView, present_points: np.ndarray) -> float | None:
    P = np.where(present_points[..., None], f.xy, np.nan)[..., BODY, :]
    try:
        return jerk(P, present_points[..., BODY], body_size(f.points[..., BODY, :], np.array(BODY_LIMBS)))
    except ValueError:                                   # no run of 4 frames with a body point
        return None


def worst_window(badness: np.ndarray, length: int) -> tuple[int, int, int]:
    """(worst frame, start, end): the first frame where badness peaks, and the `length` frames centred on it
    (shifted to stay inside the clip)."""
    T = len(badness)
    k = int(np.argmax(badness)) if T else 0
    n = min(length, T)
    start = int(np.clip(k - n // 2, 0, T - n))
    return k, start, start + n


def measure(points: np.ndarray, width: int, height: int, expected: int, switch_frames: list[list[int]],
            violations: np.ndarray | None = None) -> dict:
    """points (M, T, 145, 3) refined canonical points -> the clip's QC measures (JSON-ready) and, as numpy
    arrays, its per-frame terms (`frame_terms`) and their mean (`badness`)."""
    f = ClipView(points, int(width), int(height))
    M, T = points.shape[:2]
    present = exists(f)
    reasons = absent_reasons(f, present)
    posed = f.scored[..., BODY_LIMBS].sum(-1) >= len(BODY_LIMBS) / 2
    n = M * T
    parts = {}
    for part, idx in QC_PARTS.items():
        pts = f.inside[..., idx]
        parts[part] = {"presence": round(float(present[part].sum() / n), 4) if n else 0.0,
                       "confidence": round(float(points[..., idx, 2][pts].mean()), 4) if pts.any() else None,
                       "absent": {r: round(float(m.sum() / n), 4) for r, m in reasons[part].items() if m.any()}}
    terms = frame_terms(present, posed, expected, switch_frames, violations)
    j = clip_jerk(f, f.inside)
    return {"parts": parts, "identity_suspect": round(identity_suspect(switch_frames, M, T), 4),
            "jerk": None if j is None else round(j, 6), "frame_terms": terms,
            "badness": np.mean(list(terms.values()), axis=0)}
