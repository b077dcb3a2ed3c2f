"""Identity repair by appearance (workers/track/appearance.py). The person is real — a COCO person crop (a skier
in a red jacket) with its ground-truth keypoints — the rest is synthesized: a second person is the same crop
with its hues turned (a green jacket; or unchanged: two people dressed alike), so that the two bodies have one
shape and motion alone cannot tell them apart; pasted on a grey canvas they walk towards each other, meet (the
second in front) and either turn back or walk on. Detections are made from the pasted ground-truth keypoints
(the detector is not under test here)."""
import json

import cv2
import numpy as np
import pytest

from workers.track import appearance as look
from workers.track.tracker import Tracker

COCO = "gt/coco"
RED = ("000000000785.jpg", 0)          # (file, index of its annotation among that image's annotations)
HUE_TURN = 60                          # OpenCV hue units (of 180): red -> green
H, W, RADIUS = 360, 720, 110
STEP, T = 9, 70


def _recoloured(patch: np.ndarray, turn: int) -> np.ndarray:
    hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + turn) % 180
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _person(samples, which):
    d = json.loads((samples / COCO / "test_coco.json").read_text())
    img = next(i for i in d["images"] if i["file_name"] == which[0])
    ann = [a for a in d["annotations"] if a["image_id"] == img["id"]][which[1]]
    rgb = cv2.cvtColor(cv2.imread(str(samples / COCO / which[0])), cv2.COLOR_BGR2RGB)
    x, y, w, h = (int(round(v)) for v in ann["bbox"])
    kp = np.array(ann["keypoints"], np.float32).reshape(17, 3)
    s = RADIUS / _row(kp, 0, 0)[[5, 6, 7, 8]].reshape(2, 2).ptp(0).max()    # both bodies one size: same depth
    patch = cv2.resize(rgb[y:y + h, x:x + w], (max(1, int(w * s)), max(1, int(h * s))))
    kp[:, :2] = (kp[:, :2] - [x, y]) * s
    return patch, kp


def _row(kp: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """A detector-layout row (score, face box, hip, body-circle point) from pasted COCO keypoints."""
    vis = kp[:, 2] > 0
    p = kp[:, :2] + [dx, dy]
    face = p[:5][vis[:5]]
    c, side = face.mean(0), 2 * np.ptp(face, 0).max() + 10
    hip = p[[11, 12]].mean(0)
    r = 1.1 * np.linalg.norm(p[vis] - hip, axis=1).max()
    return np.array([0.9, c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2,
                     hip[0], hip[1], hip[0], hip[1] - r], np.float32)


def _scene(samples, bounce: bool, turn: int = HUE_TURN):
    """Frames and per-frame detections [red, recoloured] of the two people meeting in the middle at frame T/2."""
    patch, kp = _person(samples, RED)
    people = [(patch, kp), (_recoloured(patch, turn), kp)]
    meet = T // 2
    frames, dets, xs = [], [], []
    for t in range(T):
        k = t if t <= meet or not bounce else 2 * meet - t            # turning back retraces the way
        canvas = np.full((H, W, 3), 128, np.uint8)
        rows = []
        for (patch, kp), hip_x in zip(people, (W / 2 - STEP * (meet - k), W / 2 + STEP * (meet - k))):
            x0 = int(round(hip_x - kp[[11, 12], 0].mean()))                # the second is drawn in front
            y0 = int(round(H - 20 - RADIUS - kp[[11, 12], 1].mean()))      # hips at one height
            a, b = max(x0, 0), min(x0 + patch.shape[1], W)
            top, bottom = max(y0, 0), min(y0 + patch.shape[0], H)
            if b > a and bottom > top:
                canvas[top:bottom, a:b] = patch[top - y0:bottom - y0, a - x0:b - x0]
            rows.append(_row(kp, x0, y0))
        frames.append(canvas)
        dets.append(np.stack(rows))
        xs.append([rows[0][5], rows[1][5]])
    return frames, dets, np.array(xs)


def _who(tracker: Tracker, xs: np.ndarray) -> list[list[int]]:
    """For each result track, which person (0 red, 1 recoloured) its hip was on, frame by frame (not at the
    meeting frame, where both stand on one spot)."""
    tracks, _, _ = tracker.result()
    out = []
    for tr in tracks:
        hips = tr[:, 5]
        out.append([int(np.argmin(np.abs(xs[t] - hips[t]))) for t in range(T)
                    if np.isfinite(hips[t]) and abs(xs[t, 0] - xs[t, 1]) > 1])
    return out


def _run(frames, dets, appearance):
    tr = Tracker(appearance=appearance)
    for t, (f, d) in enumerate(zip(frames, dets)):
        tr.step(t, d, f)
    return tr


@pytest.fixture(scope="module")
def turn_back(samples):
    return _scene(samples, bounce=True)


def test_synthetic_meeting_and_turning_back_motion_swaps_appearance_repairs(turn_back):
    frames, dets, xs = turn_back
    plain = _run(frames, dets, appearance=False)
    who = _who(plain, xs)
    assert len(who) == 2 and any(len(set(w)) == 2 for w in who)       # motion alone: each track changed person
    fixed = _run(frames, dets, appearance=True)
    who = _who(fixed, xs)
    assert sorted(set(w) == {0} or set(w) == {1} for w in who) == [True, True]   # one person per track
    assert {w[0] for w in who} == {0, 1}
    assert len(fixed.repairs) == 1
    rep = fixed.repairs[0]
    assert abs(rep["frame"] - T // 2) <= 2 and sorted(rep["tracks"]) == [0, 1]
    assert rep["crossed"] < look.SWAP_RATIO * rep["kept"]


def test_synthetic_walking_on_is_left_alone(samples):
    frames, dets, xs = _scene(samples, bounce=False)
    fixed = _run(frames, dets, appearance=True)
    assert fixed.repairs == []
    who = _who(fixed, xs)
    assert sorted(set(w) == {0} or set(w) == {1} for w in who) == [True, True]


def test_synthetic_two_people_dressed_alike_are_never_swapped_on_appearance(samples):
    """The same red skier twice, meeting and turning back: appearance cannot tell them apart, so the tracks stay
    as motion made them (no repair on rounding noise)."""
    frames, dets, _ = _scene(samples, bounce=True, turn=0)
    assert _run(frames, dets, appearance=True).repairs == []


def test_signature_is_torso_colour_and_ignores_what_lies_outside(turn_back):
    frames, dets, _ = turn_back
    red, green = (look.signature(frames[0], dets[0][i]) for i in (0, 1))
    assert red.shape == (look.HUE * look.SAT * look.VAL,) and abs(float(red.sum()) - 1) < 1e-5
    assert look.distance(red, red) == pytest.approx(0, abs=1e-3)
    assert look.distance(red, green) > 0.5
    painted = frames[0].copy()
    x0, y0, x1, y1 = look.torso_box(dets[0][0], W, H)
    painted[:, :x0] = 0                                                   # everything left of the torso changes
    assert look.distance(look.signature(painted, dets[0][0]), red) == pytest.approx(0, abs=1e-3)
    off = dets[0][0].copy()
    off[[1, 3, 5, 7]] += 2 * W                                            # wholly outside the frame
    assert look.signature(frames[0], off) is None
