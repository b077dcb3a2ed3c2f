"""30 FPS by presentation timestamp, on the real clips (25, 29.97, 28, 30, 60 FPS) and a synthetic VFR clip
(made in the test: no variable-frame-rate sample exists in ../shared)."""
from fractions import Fraction

import av
import numpy as np
import pytest

from tests.conftest import VIDEOS
from workers.decode.resample import presentation_times, resample_indices

CASES = {  # clip -> (source frames, output frames at 30 FPS)
    "ntu/ntu_sample.avi": (72, 72),                      # 30 fps, AVI (decoded pts out of display order)
    "misc/lab_walk_60fps_h264.mp4": (100, 50),
    "misc/lab_walk_60fps_vp9.mp4": (100, 50),
    "misc/mpeg4_25fps_320x240.avi": (164, 197),          # 6.56 s -> k/30 < 6.56 -> 197
    "kinetics/tai_chi/ta_chi.mp4": (300, 301),            # 29.97: 10.01 s -> 301
    "kinetics/arm_wrestling/arm_wrestling_demo.mp4": (280, 300),   # 28 fps, 10 s
}


@pytest.mark.parametrize("clip", list(CASES))
def test_real_clip_frame_counts(samples, clip):
    times, end = presentation_times(str(VIDEOS / clip))
    idx = resample_indices(times, end, 30)
    assert (len(times), len(idx)) == CASES[clip]
    # output k shows the last source frame whose time <= k/30
    for k in range(len(idx)):
        t = Fraction(k, 30)
        assert times[idx[k]] <= t
        assert idx[k] == len(times) - 1 or times[idx[k] + 1] > t
    assert np.all(np.diff(idx) >= 0)


def test_60_to_30_takes_every_other_frame(samples):
    times, end = presentation_times(str(VIDEOS / "misc/lab_walk_60fps_h264.mp4"))
    assert resample_indices(times, end, 30).tolist() == list(range(0, 100, 2))


def test_max_frames(samples):
    times, end = presentation_times(str(VIDEOS / "kinetics/tai_chi/ta_chi.mp4"))
    assert len(resample_indices(times, end, 30, max_frames=40)) == 40


def test_variable_frame_rate(tmp_path):
    """Synthetic VFR: frames at irregular times (ms); the mapping must follow the timestamps."""
    path = tmp_path / "vfr.mp4"
    stamps_ms = [0, 10, 20, 100, 110, 300, 301, 302, 500, 900]
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=1000)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.time_base = Fraction(1, 1000)
        for i, ms in enumerate(stamps_ms):
            img = np.full((48, 64, 3), i * 20, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = ms
            frame.time_base = Fraction(1, 1000)
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    times, end = presentation_times(str(path))
    assert [float(t) for t in times] == pytest.approx([ms / 1000 for ms in stamps_ms])
    idx = resample_indices(times, end, 30)
    expect = [max(i for i, ms in enumerate(stamps_ms) if ms / 1000 <= k / 30) for k in range(len(idx))]
    assert idx.tolist() == expect
    assert len(idx) == int(np.ceil(float(end) * 30))
