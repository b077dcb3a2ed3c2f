"""The `holistic-roi` expert: MediaPipe Holistic's models wired on the tracker's ROI (no in-crop person detector,
no reset call). Real clips and real ground truth, except where a test's name says synthetic."""
import math

import cv2
import numpy as np
import pytest

from tests.conftest import SAMPLES, VIDEOS
from workers.detect.blazepose import BlazePoseDetector, person_boxes
from workers.eval.gt import load
from workers.eval.metrics import pck_hits
from workers.experts.base import Crop
from workers.experts.canonical import to_canonical
from workers.experts.holistic import HolisticExpert
from workers.experts.holistic_roi import HolisticRoiExpert
from workers.pose.body_landmarks import Roi, refine_heatmap, rotated_up
from workers.pose.crops import square_crop
from workers.pose.face_landmarks import rect_roi
from workers.pose.hand_landmarks import roi_from_body

ROI_SCALE = 1.25


def clip_crops(path, every=10, limit=30):
    """Crops of a real clip as the pose stage cuts them: each detection's square of side body-circle diameter x
    1.25 around its hip, with the detection's face box, hip centre and circle point."""
    cap = cv2.VideoCapture(str(path))
    det = BlazePoseDetector()
    crops, k = [], 0
    while len(crops) < limit:
        ok, bgr = cap.read()
        if not ok:
            break
        k += 1
        if k % every:
            continue
        frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        for d in det(frame):
            x1, y1, x2, y2 = person_boxes(d[None])[0]
            img, x0, y0, _ = square_crop(frame, (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * ROI_SCALE)
            crops.append(Crop(img, x0, y0, 1.0, d[1:5].copy(), frame, d[5:7].copy(), np.zeros((0, 2)),
                              circle=d[7:9].copy()))
    cap.release()
    return crops


@pytest.fixture(scope="module")
def tai_chi_crops(samples):
    return clip_crops(VIDEOS / "kinetics" / "tai_chi" / "ta_chi.mp4")


def body_size(p):
    b = p[:33][p[:33, 2] > 0, :2]
    return float(np.linalg.norm(b.max(0) - b.min(0)))


def test_agrees_with_holistic_on_a_real_clip(tai_chi_crops):
    """Same networks, same person: on the tai chi clip's tracked crops the body points lie within a few percent
    of the body's size of Holistic's, the metric 3D points within a few centimetres (the tracked ROIs here are
    turned up to 60 degrees, so an unrotated world frame would fail), and hands and face are found about as often
    and in the same place."""
    roi, hol = HolisticRoiExpert(), HolisticExpert(roi_fallback=False)
    body_err, hand_err, face_err, world_err = [], [], [], []
    found = {"roi": [0, 0, 0], "holistic": [0, 0, 0]}
    for c in tai_chi_crops:
        ra, rb = roi.process([c])[0], hol.process([c])[0]
        a, b = ra.points, rb.points
        for name, p in (("roi", a), ("holistic", b)):
            found[name] = [n + int(p[s, 2].max() > 0) for n, s in
                           zip(found[name], (slice(33, 54), slice(54, 75), slice(75, 543)))]
        if a[0, 2] == 0 or b[0, 2] == 0:
            continue
        size = body_size(b)
        world_err.append(np.median(np.linalg.norm(ra.world[:, :3] - rb.world[:, :3], axis=1)))   # metres
        body_err.append(np.median(np.linalg.norm(a[:33, :2] - b[:33, :2], axis=1)) / size)
        for s, errs in ((slice(33, 54), hand_err), (slice(54, 75), hand_err), (slice(75, 543), face_err)):
            if a[s, 2].max() > 0 and b[s, 2].max() > 0:
                errs.append(np.median(np.linalg.norm(a[s, :2] - b[s, :2], axis=1)) / size)
    assert len(body_err) >= 20
    assert np.median(body_err) < 0.03
    assert np.median(world_err) < 0.05          # metric 3D in the same (camera-upright) frame as Holistic's
    assert len(face_err) >= 10 and np.median(face_err) < 0.03
    assert len(hand_err) >= 10 and np.median(hand_err) < 0.05
    for part in range(3):                           # found as often, within a fifth
        assert abs(found["roi"][part] - found["holistic"][part]) <= max(2, found["holistic"][part] // 5), found


def test_no_tracked_roi_falls_back_to_the_detector_on_real_ground_truth(samples):
    """Crops without the tracker's ROI (ground-truth boxes, as `eval-experts` cuts them) are posed from the person
    detector on the crop, and where it finds nobody from the whole crop: COCO body PCK@0.2 as high as `holistic`'s
    (0.97 and 0.98; without the whole-crop step 0.89, 165 of 181 points predicted)."""
    hits = total = 0
    e = HolisticRoiExpert()
    for inst in [i for i in load(SAMPLES / "gt") if i.dataset == "coco"]:
        img = cv2.cvtColor(cv2.imread(str(inst.image)), cv2.COLOR_BGR2RGB)
        cx, cy, side = inst.crop_box
        c, x0, y0, _ = square_crop(img, cx, cy, side)
        p = to_canonical(e.native, e.process([Crop(c, x0, y0, 1.0, inst.hint, img)])[0].points)
        h, n, _ = pck_hits(p, inst.gt, np.arange(35), inst.ref["body_size"])
        hits, total = hits + h, total + n
    assert total > 150 and hits / total > 0.93


def test_a_wrong_tracked_roi_is_repaired_by_the_detector(tai_chi_crops):
    """A tracked ROI that misses the person (moved off the body onto the background) finds no pose or one far
    from the face box: the expert re-detects in the crop and poses the person it was given."""
    e = HolisticRoiExpert()
    c = next(c for c in tai_chi_crops if e.process([c])[0].points[0, 2] > 0)
    want = e.process([c])[0].points
    side = c.image.shape[0]
    off = Crop(c.image, c.x0, c.y0, 1.0, c.face_box, c.frame, c.centre + [side * 0.45, side * 0.4], c.others,
               circle=c.circle + [side * 0.45, side * 0.4] + (c.circle - c.centre) * -0.7)
    got = e.process([off])[0].points
    assert got[0, 2] > 0
    assert np.median(np.linalg.norm(got[:33, :2] - want[:33, :2], axis=1)) < 0.05 * body_size(want)


def test_results_depend_on_the_crop_alone(tai_chi_crops):
    """Stateless: one instance run over the crops twice gives each crop the result a fresh instance gives it."""
    crops = tai_chi_crops[:8]
    alone = [HolisticRoiExpert().process([c])[0].points for c in crops]
    one = HolisticRoiExpert()
    for _ in range(2):
        for c, want in zip(crops, alone):
            np.testing.assert_array_equal(one.process([c])[0].points, want)


def test_settings_and_version():
    with pytest.raises(ValueError, match="min_face_score"):
        HolisticRoiExpert(min_face_score=2)
    v = HolisticRoiExpert().version()
    assert v["expert"] == "holistic-roi" and len(v["model_sha256"]) == 64
    assert len(HolisticRoiExpert().model_files()) == 6


def test_heatmap_refinement_synthetic_heatmap():
    """SYNTHETIC heatmap: a confident blob moves the point to its weighted centre (cells at their top-left
    corner, as MediaPipe's calculator counts them); a flat low heatmap, or a point off the map, leaves it."""
    hm = np.full((64, 64, 3), -10.0, np.float32)
    hm[20, 30, 0] = 5.0                             # one confident cell near point 0
    hm[40:43, 10:13, 1] = 0.0                       # point 1's window: sigmoid 0.5 at most, 9 cells
    uv = np.array([[31.5 / 64, 21.2 / 64], [11.4 / 64, 41.6 / 64], [1.5, 0.5]])
    out = refine_heatmap(uv, hm)
    w = 1 / (1 + math.exp(-5.0))
    rest = 1 / (1 + math.exp(10.0))
    n = 49 - 1
    assert out[0, 0] == pytest.approx((30 * w + rest * (sum(range(28, 35)) * 7 - 30)) / (w + n * rest) / 64)
    assert out[1] == pytest.approx([11 / 64, 41 / 64], abs=1e-3)     # threshold 0.5 reached: the blob's centre
    np.testing.assert_array_equal(out[2], uv[2])
    flat = refine_heatmap(uv, np.full((64, 64, 3), -1.0, np.float32))
    np.testing.assert_array_equal(flat, uv)


def test_roi_geometry_synthetic_points():
    """SYNTHETIC points: MediaPipe's ROI conventions. A hand pointing up has no rotation; its search region is
    centred 0.1 side above the middle finger, 2.7 x twice the wrist-to-middle distance; a pixel drawn in the frame
    lands where the ROI says, at any warp size."""
    wrist, index, pinky = np.array([100.0, 200.0]), np.array([95.0, 150.0]), np.array([110.0, 150.0])
    middle = (2 * index + pinky) / 3
    roi = roi_from_body(wrist, pinky, index)
    d = 2 * np.linalg.norm(middle - wrist)
    assert rotated_up(wrist, middle) == pytest.approx(math.atan2(middle[0] - wrist[0], wrist[1] - middle[1]))
    assert roi.side == pytest.approx(2.7 * d)
    c, s = math.cos(roi.angle), math.sin(roi.angle)
    assert [roi.cx, roi.cy] == pytest.approx([middle[0] + 0.1 * d * s, middle[1] - 0.1 * d * c])
    assert rotated_up(np.array([0, 0]), np.array([0, -5.0])) == pytest.approx(0.0)       # up: no rotation
    assert rotated_up(np.array([0, 0]), np.array([5.0, 0])) == pytest.approx(math.pi / 2)
    frame = np.zeros((300, 300, 3), np.uint8)
    frame[120, 140] = 255
    r = Roi(150.0, 130.0, 100.0, 0.3)
    for size in (128, 192, 224):
        img = r.warp(frame, size)
        v, u = np.unravel_index(img[..., 0].argmax(), img.shape[:2])
        assert np.linalg.norm(r.to_frame(np.array([[u, v]], float), size)[0] - [140, 120]) < 1.5
    face = np.array([[0, 0], [10, 0], [0, 4.0]])
    f = rect_roi(face, face[0], face[1], 3.0, -0.1)
    assert f.side == pytest.approx(30.0) and f.angle == pytest.approx(0.0) and f.cy == pytest.approx(2.0 - 0.4)
