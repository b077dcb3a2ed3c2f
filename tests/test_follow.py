"""Person recall without a visible face (workers/track/follow.py, workers/pose/body_landmarks.py,
workers/experts/roi_fallback.py) on real frames of the sample clips.

The NTU hug (../shared/samples/videos/ntu) is the real case: from frame 41 the person detector finds only one of
the two actors; the end-to-end figure (both actors posed in >= 90% of frames) is checked by
tests/test_build_real.py. Here the parts, each on real frames:
  - the landmark model on a detection's ROI agrees with MediaPipe's own Pose solution;
  - an actor overlapping another whose detections are withheld by the test (synthesized loss) is followed on
    the real frames and stays on their body; a person lost with nobody near is bridged, not followed; the
    hug's lost actor is followed on their own body, not on the other actor;
  - `belongs` (constructed centres) refuses a pose whose hips are nearer another tracked person.
"""
from __future__ import annotations

import av
import numpy as np
import pytest

from tests.conftest import NTU_CLIP, SAMPLES
from workers.detect.blazepose import BlazePoseDetector
from workers.experts.base import Crop
from workers.experts.roi_fallback import belongs
from workers.pose.body_landmarks import BodyLandmarker, roi_from_points
from workers.track.follow import Follower, same_body
from workers.track.tracker import Tracker

TAI_CHI = SAMPLES / "videos" / "kinetics" / "tai_chi" / "ta_chi.mp4"


def frames_of(path, n: int) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="rgb24"))
            if len(out) == n:
                break
    return out


@pytest.fixture(scope="module")
def models():
    return BlazePoseDetector(), BodyLandmarker()


@pytest.fixture(scope="module")
def ntu_frames():
    return frames_of(NTU_CLIP, 72)


def test_landmarks_on_a_detection_roi_match_mediapipe_pose(models):
    import mediapipe as mp
    det, lm = models
    frame = frames_of(TAI_CHI, 101)[100]
    d = det(frame)
    assert len(d) == 1
    ours = lm(frame, roi_from_points(d[0, 5:7], d[0, 7:9]))
    with mp.solutions.pose.Pose(static_image_mode=True) as pose:
        ref = pose.process(frame).pose_landmarks.landmark
    h, w = frame.shape[:2]
    ref = np.array([[p.x * w, p.y * h] for p in ref])
    size = np.ptp(ref[:, 1])                                     # the person's height in pixels
    assert ours.presence > 0.9
    assert np.median(np.linalg.norm(ours.points[:, :2] - ref, axis=1)) < 0.1 * size
    assert lm(np.zeros_like(frame), roi_from_points(d[0, 5:7], d[0, 7:9])).presence < 0.5


def test_overlapping_actor_followed_through_withheld_detections_synthesized_loss(models, ntu_frames):
    """NTU's two actors stand within each other's body radius from the start: the test withholds one actor's
    detections for 20 frames; the track is followed on that actor's body and picked up again after."""
    det, lm = models
    dets = [det(f) for f in ntu_frames[:40]]
    assert all(len(d) == 2 for d in dets)
    left = [d[np.argsort(d[:, 5])] for d in dets]               # per frame: [left actor, right actor]
    tr = Tracker(follower=Follower(lm))
    for t, (f, d) in enumerate(zip(ntu_frames, left)):
        tr.step(t, d[1:] if 10 <= t < 30 else d, f)             # the test withholds the left actor's detection
    tracks, observed, followed = tr.result()
    assert len(tracks) == 2
    k = int(np.argmin(tracks[:, 0, 5]))                          # the left actor's track
    assert followed[k, 10:30].all() and not followed[k, :10].any() and observed[k, 30:].all()
    assert not followed[1 - k].any()
    r = np.linalg.norm(left[20][0, 7:9] - left[20][0, 5:7])
    for t in (10, 20, 29):                                       # on the body the detector saw there
        assert np.linalg.norm(tracks[k, t, 5:7] - left[t][0, 5:7]) < 0.3 * r
    pts, _ = tr.landmarks(np.array([k]))
    assert (pts[0, 10:30, :, 2] > 0).any(-1).all()


def test_a_person_lost_with_nobody_near_is_bridged_not_followed_synthesized_loss(models):
    det, lm = models
    frames = frames_of(TAI_CHI, 40)
    dets = [det(f) for f in frames]
    assert all(len(d) == 1 for d in dets)
    follower = Follower(lm)
    tr = Tracker(follower=follower)
    for t, (f, d) in enumerate(zip(frames, dets)):
        tr.step(t, d[:0] if 20 <= t < 30 else d, f)             # the test withholds 10 frames of detections
    tracks, observed, followed = tr.result()
    assert len(tracks) == 1 and not followed.any() and follower.calls == 0
    assert not observed[0, 20:30].any() and np.isfinite(tracks[0, 20:30, 5]).all()     # bridged (max_gap 15)


def test_the_lost_hug_actor_is_followed_on_their_own_body(models, ntu_frames):
    det, lm = models
    tr = Tracker(follower=Follower(lm))
    for t, f in enumerate(ntu_frames[:60]):
        tr.step(t, det(f), f)
    tracks, observed, followed = tr.result()
    both = ~np.isnan(tracks[..., 0])
    assert len(tracks) == 2 and both.all(0).sum() >= 0.9 * 60
    lost = int(np.argmax(followed.sum(1)))
    assert followed[lost].sum() >= 10                             # the detector lost this one for a while
    for t in np.flatnonzero(followed[lost]):
        assert not same_body(tracks[lost, t], tracks[1 - lost, t][None]), t


def test_belongs_refuses_a_pose_nearer_another_person_constructed():
    pose = np.zeros((33, 3), np.float32)
    pose[[23, 24], :2] = [[95, 200], [105, 200]]                 # hips centred at (100, 200)
    crop = Crop(np.zeros((8, 8, 3), np.uint8), 0, 0, centre=np.array([40.0, 200.0]),
                others=np.array([[110.0, 195.0]]))
    assert not belongs(pose, crop)
    crop.centre = np.array([98.0, 201.0])
    assert belongs(pose, crop)
    assert belongs(pose, Crop(np.zeros((8, 8, 3), np.uint8), 0, 0))    # no centres: nothing to refuse
