"""Stable identities: the identity-switch measure on a real NTU two-person build (and on its actor tracks swapped
at a frame by the test), the motion-aware association against plain IoU on two synthetic crossing people, and
`show` drawing each person in its own colour."""
import json
import cv2
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from typer.testing import CliRunner

import dagfile
from pipeline.cache import Store
from pipeline.cli import app, set_dag
from pipeline.manifest import read_manifest
from workers.track.switches import identity_switches, suspected_switches
from workers.track.tracker import iou_cost, track
from workers.report.viewer import person_colour
from workers.io.shard_codec import read_rows
from tests.conftest import NTU_CLIP, run_build, stage_videos

set_dag(dagfile.DAG)
FRAMES = 36


@pytest.fixture(scope="module")
def ntu(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("ids")
    videos = stage_videos(root / "v", NTU_CLIP, names=["S001C002P003R001A055_rgb.avi"])
    out = root / "out"
    record = run_build(videos, out, {"frames": {"max_frames": FRAMES}, "layouts": ["coco-17"]})
    assert record["counts"]["ok"] == 1
    row = read_manifest(out).to_pylist()[0]
    return out, row, Store(out / ".cache").load("detect", row["detect_key"])


def test_no_switch_on_the_real_ntu_two_person_build(ntu):
    _, _, det = ntu
    a = det.arrays
    assert len(a["actors"]) == 2 and a["observed"][a["actors"]].all(0).sum() > FRAMES / 2
    assert det.meta["identity_switches"] == 0 and det.meta["switch_frames"] == [[], []]
    assert identity_switches(a["tracks"], a["observed"], a["actors"]) == [[], []]


def test_switch_found_in_real_ntu_tracks_swapped_at_a_frame_synthesized(ntu):
    _, _, det = ntu
    a = det.arrays
    tracks, observed = a["tracks"].copy(), a["observed"].copy()
    i, j = a["actors"]
    both = np.flatnonzero(observed[i] & observed[j])
    t = int(both[len(both) // 2])                        # a frame where both actors are seen, history on each side
    assert both[0] < t - 3
    tracks[[i, j], t:] = tracks[[j, i], t:]              # the swap: each track follows the other person from t
    observed[[i, j], t:] = observed[[j, i], t:]
    found = identity_switches(tracks, observed, a["actors"])
    assert found[0] == [t] and found[1] == [t], found
    # a one-frame hop to the other person and back counts once, as an excursion
    hop = a["tracks"].copy()
    hop[i, t] = a["tracks"][j, t]
    assert suspected_switches(hop[i], a["observed"][i]) == [t]


def _person(x: float, side: float, y: float = 500.0) -> np.ndarray:
    """A detection row (score, face box, hip, body-circle point) for a standing person of body-box `side`."""
    r, face = side / 2, side * 0.12
    fx, fy = x, y - side * 0.38
    return np.array([0.9, fx - face / 2, fy - face / 2, fx + face / 2, fy + face / 2, x, y, x, y - r], np.float32)


def test_synthetic_crossing_people_plain_iou_swaps_motion_aware_does_not():
    """Synthetic: a near person (body box 300 px) walks right and a farther one (240 px) walks left, 45 px a
    frame each, and they cross. Comparing each track's last box with the new detections (plain IoU) pairs them
    the wrong way round once they have passed each other by less than a step; the motion-aware cost follows
    each person's prediction (and size)."""
    xa = 300 + 45 * np.arange(16)
    xb = 975 - 45 * np.arange(16)
    per_frame = [np.stack([_person(a, 300), _person(b, 240)]) for a, b in zip(xa, xb)]
    swapped_by_iou = []
    for t in range(1, len(per_frame)):
        r, c = linear_sum_assignment(iou_cost(per_frame[t - 1], per_frame[t])[0])
        swapped_by_iou.append(bool((c[r] != r).any()))
    assert any(swapped_by_iou), "the synthetic crossing must be a trap for plain IoU"

    tracks, observed = track(per_frame, min_iou=0.2, max_gap=15, min_frames=5)
    assert len(tracks) == 2 and observed.all()
    hips = tracks[..., 5]
    near, far = (0, 1) if hips[0, 0] < hips[1, 0] else (1, 0)
    np.testing.assert_allclose(hips[near], xa)
    np.testing.assert_allclose(hips[far], xb)
    assert identity_switches(tracks, observed, np.array([0, 1])) == [[], []]


def test_synthetic_scale_jump_refused_by_the_tracker():
    """Synthetic: a standing person (300 px) whose detection is replaced in one frame by a much smaller person
    (200 px: ratio 1.5, beyond one body's 4/3) at the same place: the tracker does not let the track take it."""
    per_frame = [np.stack([_person(400, 300)]) for _ in range(8)]
    per_frame[5] = np.stack([_person(400, 200, y=450)])
    tracks, observed = track(per_frame, min_iou=0.2, max_gap=15, min_frames=5)
    assert len(tracks) == 1 and not observed[0, 5] and observed[0, [4, 6]].all()


def test_show_draws_each_person_in_its_own_colour(ntu, tmp_path):
    out, row, _ = ntu
    png = tmp_path / "two.png"
    r = CliRunner().invoke(app, ["show", str(out), row["clip_id"], "--layout", "coco-17", "--video",
                                 str(tmp_path / "none.avi"), "--save", str(png)])
    assert r.exit_code == 0, r.output
    img = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
    shard = next((out / "shards" / "coco-17").glob("*.parquet"))
    srow = read_rows(shard)[0]
    kp = np.asarray(srow["keypoints"], np.float32).reshape(srow["keypoints_shape"])
    k = kp.shape[1] // 2                                  # the .png is the middle frame
    seen = []
    for m in range(2):
        ok = kp[m, k, :, 2] > 0
        assert ok.sum() >= 5
        px = np.array([img[int(y), int(x)] for x, y in kp[m, k, ok, :2].astype(int)], np.int32)
        # the joint dot is the person's colour (other people's lines may cross a few joints)
        hit = (np.abs(px - np.array(person_colour(m))).max(-1) <= 40).mean()
        assert hit > 0.7, (m, hit)
        seen.append(np.median(px, 0))
    assert np.abs(seen[0] - seen[1]).max() > 100


def test_identity_switches_reach_the_manifest(tmp_path, samples):
    videos = stage_videos(tmp_path / "v", NTU_CLIP, names=["S001C002P003R001A055_rgb.avi"])
    run_build(videos, tmp_path / "out", {"frames": {"max_frames": 24}, "layouts": ["coco-17"]})
    row = read_manifest(tmp_path / "out").to_pylist()[0]
    assert row["identity_switches"] == 0 and len(json.loads(row["switch_frames"])) == row["n_persons"]
    assert json.loads(row["identity_repairs"]) == []          # the hug never separates: nothing to compare across
