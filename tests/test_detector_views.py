"""The BlazePose person detector's views (workers/detect/blazepose.py) on real frames of the sample clips.

The detector sees 224 px views, so a 1080p frame is shrunk once to the scale its views need and every view
(whole frame, tiles, zoom-out) is cut from that small image. What must hold:
  - detections come back in the frame's own pixels: the same real frame given at full size and pre-shrunk to
    half size gives the same people at the same places (scaled), because the detector's input is the same;
  - one resampling of the large frame per call, whatever the number of views (counted on cv2.resize's inputs);
  - tiles still find the NTU actors apart (both actors on the first frame of the real two-person clip).
"""
from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from tests.conftest import NTU_CLIP
from workers.detect import blazepose
from workers.detect.blazepose import BlazePoseDetector, person_boxes, square_tiles
from workers.detect.nms import box_iou


@pytest.fixture(scope="module")
def ntu_frames() -> list[np.ndarray]:
    out = []
    with av.open(str(NTU_CLIP)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 10 == 0:
                out.append(f.to_ndarray(format="rgb24"))
            if len(out) == 6:
                break
    return out


@pytest.fixture(scope="module")
def detector() -> BlazePoseDetector:
    return BlazePoseDetector()


def test_detections_are_in_frame_pixels_whatever_the_input_size(detector, ntu_frames):
    compared = 0
    for frame in ntu_frames:
        h, w = frame.shape[:2]
        half = cv2.resize(frame, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        full, small = detector(frame), detector(half)
        assert len(full) == len(small) >= 1
        small = small.copy()
        small[:, 1:] *= 2.0
        # each person's hip and body-circle point within 1.5% of the frame width (resampling differs a little)
        gap = np.linalg.norm(full[:, None, 5:7] - small[None, :, 5:7], axis=2)
        order = gap.argmin(1)
        assert len(set(order.tolist())) == len(full)
        assert gap.min(1).max() < 0.015 * w, gap
        assert np.abs(full[:, 7:9] - small[order, 7:9]).max() < 0.015 * w
        assert box_iou(person_boxes(full), person_boxes(small[order])).diagonal().min() > 0.8
        compared += len(full)
    assert compared >= 2 * len(ntu_frames) - 1


def test_a_large_frame_is_resampled_once_whatever_the_views(detector, ntu_frames, monkeypatch):
    frame = ntu_frames[0]
    h, w = frame.shape[:2]
    assert len(square_tiles(h, w)) == 3                 # 1920x1080: the whole frame + 3 tiles go through
    sizes = []
    real = cv2.resize

    def counting(img, *a, **k):
        sizes.append(img.shape[0] * img.shape[1])
        return real(img, *a, **k)

    monkeypatch.setattr(blazepose.cv2, "resize", counting)
    detector(frame)
    assert len(sizes) >= 4                              # one shrink + one per view
    assert sum(s > 4 * 224 * 224 for s in sizes) == 1   # only the shrink reads the large frame


def test_tiles_find_both_ntu_actors(detector, ntu_frames):
    d = detector(ntu_frames[0])
    hips = d[:, 5]
    assert len(d) >= 2
    assert hips.max() - hips.min() > 0.05 * ntu_frames[0].shape[1]   # two people (hugging), not one twice
