"""Part-to-body consistency (workers/fusion/parts.py): a hand hangs from its own body wrist, a face sits on its own
body's head. A real multi-expert build of sample clips (configs/experts-offline.yaml) audited with
`hand_points_off_wrist`, and synthetic candidates (a person drawn from a template, said in each test's name) for
the cases a sample clip cannot be relied on to show: a hand on a foot, a hand at the wrong wrist, a face on a
neighbour, a missing wrist."""
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.cache import Store
from pipeline.manifest import read_manifest
from schemas.experts import used_experts
from pipeline.stages.refine import PART_GROUPS, fusion_params, stack_candidates
from schemas.config import BuildConfig
from schemas.layouts import SOURCE_SIZE
from schemas.layouts.mediapipe import B, BODY_BONES, BODY_LIMBS, BODY_SWAP_GROUPS
from tests.conftest import NTU_CLIP, ROOT, VIDEOS, run_build, stage_videos
from workers.fusion.fuse import INTERPOLATED, NONE, fuse
from workers.fusion.parts import (PARTS, PartLimits, fuse_consistent, hand_points_off_wrist, part_slice)

KINETICS_CLIP = VIDEOS / "kinetics" / "tai_chi" / "ta_chi.mp4"
FUSE_KW = dict(scale_joints=np.arange(35), bones=np.array(BODY_BONES), swap_groups=BODY_SWAP_GROUPS,
               limb_joints=np.array(BODY_LIMBS), part_groups=PART_GROUPS)


def limits(cfg=None) -> PartLimits:
    cfg = cfg or BuildConfig()
    return PartLimits(hand=cfg.refine.hand_limit, face=cfg.refine.face_limit)


# ---------------------------------------------------------------------------------------------------- real build

@pytest.fixture(scope="module")
def multi(tmp_path_factory, samples):
    """Every offline expert, several per part, on two sample clips (first 40 frames)."""
    root = tmp_path_factory.mktemp("parts")
    videos = stage_videos(root / "videos", NTU_CLIP, KINETICS_CLIP)
    cfg = yaml.safe_load((ROOT / "configs" / "experts-offline.yaml").read_text())
    cfg.update(frames={"max_frames": 40}, layouts=["coco-17"], cache={"dir": str(root / "cache")})
    record = run_build(videos, root / "out", cfg)
    rows = {r["clip_id"]: r for r in read_manifest(root / "out").to_pylist()}
    return BuildConfig.model_validate(cfg), Store(root / "cache"), rows, record


def test_multi_expert_build_has_no_hand_off_its_wrist(multi):
    cfg, store, rows, record = multi
    assert record["counts"]["ok"] == 2, rows
    for clip, row in rows.items():
        ref = store.load("refine", row["refine_key"])
        assert hand_points_off_wrist(ref.arrays["points"]) == 0, clip
        viol = ref.meta["part_violations"]
        assert set(viol) == set(PARTS) and all(isinstance(v, int) and v >= 0 for v in viol.values())
        # the counts reach the manifest through quality's scores (the `quality` JSON column)
        quality = json.loads(row["quality"])
        assert {p: quality[p]["violations"] for p in PARTS} == viol, clip


def test_rule_on_real_candidates_keeps_hands_and_removes_what_is_off(multi):
    """The same experts' candidates fused with and without the rule: the rule removes every hand off its wrist
    the plain fusion lets through, and keeps hand presence comparable (it does not just delete hands)."""
    cfg, store, rows, _ = multi
    listed = used_experts(cfg)
    row = rows["ntu_sample"]
    pose = store.load("pose", row["pose_key"]).meta["experts"]
    X, S = stack_candidates({n: store.load(f"pose.{n}", pose[n]["key"]).arrays["points"] for n in listed}, listed)
    p = fusion_params(cfg)
    plain = fuse(X, S, p, **FUSE_KW)
    ruled, dropped = fuse_consistent(X, S, p, limits(cfg), **FUSE_KW)
    assert hand_points_off_wrist(ruled.points) == 0
    for part in ("left_hand", "right_hand", "face"):
        before = (plain.points[..., part_slice(part), 2] > 0).any(-1).mean()
        after = (ruled.points[..., part_slice(part), 2] > 0).any(-1).mean()
        assert after >= 0.8 * before, (part, before, after)
    # the body is not touched by the rule
    body = part_slice("body")
    np.testing.assert_array_equal(plain.points[..., body, :], ruled.points[..., body, :])


# ----------------------------------------------------------------------------------------------- synthetic person

T = 40
FOREARM = 60.0


def synthetic_person(t: np.ndarray, x0: float = 300.0) -> np.ndarray:
    """(T, SOURCE_SIZE, 2) canonical points of a standing person (height ~420 px, forearm 60 px) slowly raising
    the left forearm; hands hang from the wrists, the face sits on the head. Template geometry, not a video."""
    P = np.full((len(t), SOURCE_SIZE, 2), np.nan)
    body = {"nose": (0, 40), "left_eye_inner": (4, 34), "left_eye": (8, 34), "left_eye_outer": (12, 34),
            "right_eye_inner": (-4, 34), "right_eye": (-8, 34), "right_eye_outer": (-12, 34), "left_ear": (20, 38),
            "right_ear": (-20, 38), "mouth_left": (6, 50), "mouth_right": (-6, 50),
            "left_shoulder": (40, 90), "right_shoulder": (-40, 90), "left_elbow": (50, 160),
            "right_elbow": (-50, 160), "left_hip": (25, 240), "right_hip": (-25, 240), "left_knee": (28, 330),
            "right_knee": (-28, 330), "left_ankle": (30, 420), "right_ankle": (-30, 420), "left_heel": (28, 430),
            "right_heel": (-28, 430), "left_foot_index": (50, 435), "right_foot_index": (-50, 435)}
    for name, (x, y) in body.items():
        P[:, B[name]] = (x0 + x, 100 + y)
    angle = np.linspace(0, 0.6, len(t))                          # left forearm swings up slowly
    elbow_l, elbow_r = P[:, B["left_elbow"]], P[:, B["right_elbow"]]
    P[:, B["left_wrist"]] = elbow_l + FOREARM * np.stack([np.sin(angle), np.cos(angle)], -1)
    P[:, B["right_wrist"]] = elbow_r + (0, FOREARM)
    for side in ("left", "right"):
        w = P[:, B[f"{side}_wrist"]]
        for k, name in enumerate(("pinky", "index", "thumb")):
            P[:, B[f"{side}_{name}"]] = w + (6 * k - 6, 12)
        P[:, part_slice(f"{side}_hand")] = hand_at(w + (0, 5))   # the hand model's wrist: a little below
    nose = P[:, B["nose"]]
    rng = np.random.default_rng(0)
    P[:, part_slice("face")] = nose[:, None] + rng.uniform(-14, 14, (68, 2))
    return P


def hand_at(root: np.ndarray) -> np.ndarray:
    """(T, 2) root -> (T, 21, 2): five straight fingers hanging down, middle finger ~45 px from the root."""
    offs = [(0, 0)]
    for k, dx in enumerate((-12, -6, 0, 6, 12)):
        offs += [(dx * (j + 1) / 4, 12 + 8 * j) for j in range(4)]
    return root[:, None] + np.array(offs, float)


def candidates(n_experts: int = 2):
    """Two experts agreeing on everything (a real build's holistic + pose): X (E, 1, T, 145, 2), S."""
    P = synthetic_person(np.arange(T))
    X = np.repeat(P[None, None], n_experts, 0)
    S = np.where(np.isfinite(X).all(-1), 0.9, 0.0)
    return X, S


def params(**kw):
    return fusion_params(BuildConfig(), **kw)


def present(f, part):
    return (f.points[0, :, part_slice(part), 2] > 0).all(-1)


def test_synthetic_correct_hands_and_face_are_kept():
    X, S = candidates()
    f, dropped = fuse_consistent(X, S, params(), limits(), **FUSE_KW)
    for part in PARTS:
        assert present(f, part).all(), part
        assert dropped[part].sum() == 0, part
    assert hand_points_off_wrist(f.points) == 0


def test_synthetic_hand_on_foot_is_rejected_not_interpolated_and_counted():
    """Expert 1 alone puts the left hand on the left foot for 15 frames (longer than max_gap) while expert 0 sees
    no hand there: plain fusion outputs the foot-hand; the rule drops it, leaves the span empty, counts it."""
    X, S = candidates()
    span = slice(10, 25)
    lh = part_slice("left_hand")
    S[0, :, span, lh] = 0.0                                          # expert 0: no left hand in the span
    foot = X[1, 0, span, B["left_foot_index"]]
    X[1, 0, span, lh] = hand_at(foot)
    p = params()
    assert 15 > p.max_gap
    plain = fuse(X, S, p, **FUSE_KW)
    assert present(plain, "left_hand")[span].all() and hand_points_off_wrist(plain.points) >= 15 * 21
    f, dropped = fuse_consistent(X, S, p, limits(), **FUSE_KW)
    assert not present(f, "left_hand")[span].any()
    assert np.isnan(f.points[0, span, lh, :2]).all() and (f.points[0, span, lh, 2] == 0).all()
    assert (f.provenance[0, span, lh] == NONE).all()
    assert present(f, "left_hand")[:10].all() and present(f, "left_hand")[25:].all()
    assert dropped["left_hand"].sum() == 15 and dropped["right_hand"].sum() == 0 and dropped["face"].sum() == 0
    assert hand_points_off_wrist(f.points) == 0


def test_synthetic_short_rejected_span_is_bridged_from_good_ends_only():
    """A 3-frame foot-hand span (within max_gap) is interpolated from the good hands around it, never from the
    foot: the filled points sit on the wrist, marked INTERPOLATED."""
    X, S = candidates()
    span = slice(12, 15)
    lh = part_slice("left_hand")
    S[0, :, span, lh] = 0.0
    X[1, 0, span, lh] = hand_at(X[1, 0, span, B["left_foot_index"]])
    f, dropped = fuse_consistent(X, S, params(), limits(), **FUSE_KW)
    assert dropped["left_hand"].sum() == 3
    assert (f.provenance[0, span, lh] == INTERPOLATED).all()
    root = f.points[0, span, lh.start, :2]
    wrist = f.points[0, span, B["left_wrist"], :2]
    assert (np.linalg.norm(root - wrist, axis=-1) < 0.5 * FOREARM).all()
    assert hand_points_off_wrist(f.points) == 0


def test_synthetic_left_hand_at_the_right_wrist_is_rejected():
    """A lone expert labels the right hand as the left one (MediaPipe Hands' handedness can flip): side check."""
    X, S = candidates()
    span = slice(5, 20)
    lh = part_slice("left_hand")
    S[0, :, span, lh] = 0.0
    X[1, 0, span, lh] = X[1, 0, span, part_slice("right_hand")]
    f, dropped = fuse_consistent(X, S, params(max_gap=0), limits(), **FUSE_KW)
    assert not present(f, "left_hand")[span].any() and dropped["left_hand"].sum() == 15


def test_synthetic_face_of_a_neighbour_is_rejected():
    """One face expert locks on a face 1.5 head widths away (a neighbour in a crowd) and outscores the right one."""
    X, S = candidates(3)
    fs = part_slice("face")
    X[2, 0, :, fs] += (60.0, 0.0)
    S[2, :, :, fs] = 1.0
    S[1, :, :, fs] = 0.0                                             # the body-only expert has no face
    f, dropped = fuse_consistent(X, S, params(), limits(), **FUSE_KW)
    assert present(f, "face").all() and dropped["face"].sum() == T
    np.testing.assert_allclose(f.points[0, :, fs, :2], X[0, 0, :, fs], atol=1e-3)


def test_synthetic_missing_wrist_falls_back_to_the_elbow_then_drops():
    """No body wrist from frame 10: a hand within a forearm (+ limit) of its elbow is kept, one farther away is
    dropped; with the elbow missing too (from frame 30), nothing anchors the hand and it is dropped."""
    X, S = candidates()
    lh = part_slice("left_hand")
    S[:, :, 10:, B["left_wrist"]] = 0.0                              # no expert sees the left wrist
    S[:, :, 30:, B["left_elbow"]] = 0.0                              # nor, from frame 30, the elbow
    X[:, 0, 15:20, lh] += (0.0, 2 * FOREARM)                         # frames 15-19: hand far below the arm
    f, dropped = fuse_consistent(X, S, params(max_gap=0), limits(), **FUSE_KW)
    keep = present(f, "left_hand")
    assert keep[:15].all() and keep[20:30].all()
    assert not keep[15:20].any() and not keep[30:].any()
    assert dropped["left_hand"].sum() == 5 + 10
