"""Keyframe detection (workers/track/keyframes.py, the tracker's skipped frames, the detect stage).

Real frames: on the tai chi clip (one person, smooth) the detector runs on a fraction of the frames and the
actor's track stays within the module's tolerance of the every-frame track; on the NTU hug (two people meeting,
one lost by the detector) every crowded frame still gets the detector and the following finds the same frames.
SYNTHETIC rows (constructed detections, named so) pin the rules one at a time: a straight line is vouched for, a
bend, an entrance, a crowd or a recent miss is not, and the bisection finds an entrance to the frame.
"""
from __future__ import annotations

import numpy as np
import pytest

from schemas.config import ConfigError, load_config
from tests.conftest import NTU_CLIP
from tests.test_follow import TAI_CHI, frames_of
from workers.detect.blazepose import BlazePoseDetector
from workers.pose.body_landmarks import BodyLandmarker
from workers.track import keyframes as kf
from workers.track.follow import Follower, crowded
from workers.track.select import select_actors
from workers.track.tracker import Tracker


class Frames:
    """A clip's frames (or stand-ins) with `frame(k)`, recording the order they are asked for."""

    def __init__(self, frames):
        self.frames, self.asked = frames, []

    def __len__(self):
        return len(self.frames)

    def frame(self, k):
        self.asked.append(k)
        return self.frames[k]


def person(x: float, y: float = 100.0, r: float = 50.0) -> np.ndarray:
    """SYNTHETIC detector row: hip (x, y), body-circle point r above it, a face box near the top."""
    return np.array([0.9, x - 8, y - r, x + 8, y - r + 16, x, y, x, y - r], np.float32)


def rows(*people) -> np.ndarray:
    return np.array(people, np.float32).reshape(-1, 9)


def run(frames, det, stride, horizon=15, follower=None):
    """(detections per frame or None, tracker result, frames the detector ran on)."""
    calls = []

    def detect(batch):
        calls.extend(range(len(batch)))
        return [det(f) for f in batch]

    tracker = Tracker(follower=follower)
    seq = []
    for t, frame, dets in kf.detections(frames, detect, stride, 4, horizon, tracker.following):
        seq.append(dets)
        tracker.step(t, dets, frame)
    return seq, tracker, len(calls)


@pytest.fixture(scope="module")
def detector():
    return BlazePoseDetector()


def test_smooth_real_clip_needs_few_detector_runs_and_tracks_within_tolerance(detector):
    frames = frames_of(TAI_CHI, 150)
    sparse, tr_sparse, ran = run(Frames(frames), detector, 10)
    full, tr_full, ran_full = run(Frames(frames), detector, 1)
    assert ran_full == 150 and ran <= 0.4 * 150
    assert sum(d is None for d in sparse) == 150 - ran
    a, obs_a, _ = tr_sparse.result()
    b, obs_b, _ = tr_full.result()
    ka, kb = select_actors(a, obs_a, 1)[0], select_actors(b, obs_b, 1)[0]
    assert obs_a[ka].sum() == obs_b[kb].sum() == 150          # skipped frames inside vouched windows count
    err = kf._distance(a[ka], b[kb]).diagonal()
    assert err.max() <= kf.TOLERANCE


def test_frames_are_read_once_in_order_SYNTHETIC():
    """Stand-in frames (their indices) and a detector that finds nobody."""
    frames = Frames(list(range(47)))
    out = list(kf.detections(frames, lambda b: [rows() for _ in b], 10, 4, 15))
    assert [t for t, _, _ in out] == list(range(47))
    assert frames.asked == list(range(47))


def test_batch_size_bounds_calls_and_changes_nothing_SYNTHETIC():
    """A person walking, a second entering at 23 and leaving at 41: calls never exceed the batch size and the
    detections do not depend on it."""
    def det(t):
        return rows(person(100 + 3 * t), *([person(400 - t)] if 23 <= t < 41 else []))

    for every in (False, True):                                    # bisection rounds; whole windows
        results = {}
        for bs in (1, 2, 4):
            sizes = []

            def detect(batch):
                sizes.append(len(batch))
                return [det(t) for t in batch]
            results[bs] = [(t, None if d is None else d.tolist()) for t, _, d in
                           kf.detections(Frames(list(range(60))), detect, 10, bs, 15, lambda: every)]
            assert max(sizes) <= bs
        assert results[1] == results[2] == results[4]
        assert any(d is None for _, d in results[1]) != every


def test_real_meeting_gets_the_detector_on_every_crowded_frame_and_the_same_following(detector):
    frames = frames_of(NTU_CLIP, 72)
    lm = BodyLandmarker()
    sparse, tr_sparse, _ = run(Frames(frames), detector, 10, follower=Follower(lm))
    full, tr_full, _ = run(Frames(frames), detector, 1, follower=Follower(lm))
    crowded_frames = [t for t, d in enumerate(full) if any(crowded(d[i], np.delete(d, i, 0)) for i in range(len(d)))]
    assert len(crowded_frames) > 10
    assert all(sparse[t] is not None for t in crowded_frames)
    _, _, fa = tr_sparse.result()
    _, _, fb = tr_full.result()
    assert fa.sum() == fb.sum() > 0


def test_straight_line_is_vouched_for_SYNTHETIC():
    assert kf.linear(rows(person(100)), rows(person(130)), rows(person(160)), 0.5)
    assert kf.linear(rows(), rows(), rows(), 0.5)
    # two people apart, listed in different orders at the three frames
    assert kf.linear(rows(person(100), person(400)), rows(person(430), person(130)), rows(person(160), person(460)),
                     0.5)


def test_bend_entrance_and_crowd_are_not_SYNTHETIC():
    bend = person(130, y=100 + 0.2 * 50)                           # 0.2 body radii off the line
    assert not kf.linear(rows(person(100)), rows(bend), rows(person(160)), 0.5)
    grown = person(130, r=50 * 1.2)                                # size off by 20 %
    assert not kf.linear(rows(person(100)), rows(grown), rows(person(160)), 0.5)
    assert not kf.linear(rows(person(100)), rows(person(130)), rows(person(160), person(400)), 0.5)
    assert not kf.linear(rows(person(100), person(130)), rows(person(130), person(160)),
                         rows(person(160), person(190)), 0.5)       # 30 px apart, radius 50: crowded


def test_bisection_finds_an_entrance_to_the_frame_SYNTHETIC():
    """A second person appears at frame 23 of 60: the detector runs on 23 (their first frame) and on 22."""
    def det(t):
        return rows(person(100 + t), *([person(400 - t)] if t >= 23 else []))
    seq, tracker, ran = run(Frames(list(range(60))), det, 10)
    assert seq[22] is not None and seq[23] is not None
    assert ran < 40
    tracks, observed, _ = tracker.result()
    assert len(tracks) == 2
    assert np.flatnonzero(observed[1])[0] == 23 and observed[1, 23:].all() and observed[0].all()


def test_a_recent_miss_keeps_the_detector_running_SYNTHETIC():
    """From frame 10 the detector misses the second person on every 5th frame — exactly the frames a window
    checks — and finds them between. Someone seen within `horizon` frames but missing at a window's start is a
    miss, not an exit: the window is searched, the track kept. With horizon 0 the keyframes alone decide and the
    second person is lost."""
    def det(t):
        return rows(person(100 + t), *([person(400 - t)] if t < 10 or t % 5 else []))

    def second_person(horizon):
        _, tracker, _ = run(Frames(list(range(40))), det, 10, horizon)
        tracks, observed, _ = tracker.result()
        return [np.flatnonzero(o) for o, tr in zip(observed, tracks) if np.nanmax(tr[:, 5]) > 300]

    kept = second_person(15)
    assert len(kept) == 1 and kept[0][0] == 0 and kept[0][-1] == 39
    lost = second_person(0)
    assert sum(map(len, lost)) < 30


def test_stride_wider_than_the_bridge_is_a_config_error(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("detect: {keyframe_stride: 20}\ntrack: {max_gap: 15}\n")
    with pytest.raises(ConfigError, match="detect.keyframe_stride"):
        load_config(f)
    f.write_text("detect: {keyframe_stride: 16}\ntrack: {max_gap: 15}\n")
    assert load_config(f).detect.keyframe_stride == 16
