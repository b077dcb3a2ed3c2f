"""Inputs with odd timing, made in the test from a real sample clip (../shared has no raw H.264 stream and no
file with a broken frame rate): the first frames of the 25-fps MPEG-4 sample are re-encoded with PyAV into a raw
H.264 elementary stream (`.h264` / `.264`: no container, no timestamps), into containers that declare absurd
frame rates over real 25-fps timestamps, and into an MP4 whose timestamps really are 1000 fps. Each goes
through a real in-process build; the manifest row must hold the right frame count (duration x 30) or a failed
row with the exact reason."""
from fractions import Fraction

import av
import pytest

from pipeline.cache import Store
from pipeline.manifest import read_manifest
from schemas.config import BuildConfig
from tests.conftest import VIDEOS, run_build
from workers.decode.probe import VideoError, probe_video
from workers.decode.resample import check_timing, frame_timing

SOURCE = VIDEOS / "misc" / "mpeg4_25fps_320x240.avi"
N = 15                     # source frames used: 0.6 s at 25 fps -> 18 output frames at 30 fps
N_OUT = 18


def _real_frames(n: int = N) -> list[av.VideoFrame]:
    with av.open(str(SOURCE)) as c:
        out = []
        for f in c.decode(video=0):
            out.append(av.VideoFrame.from_ndarray(f.to_ndarray(format="rgb24"), format="rgb24"))
            if len(out) == n:
                return out
    raise AssertionError(f"{SOURCE} has fewer than {n} frames")


def write_clip(path, fmt: str, rate, time_base=None, pts=None, codec="libx264", options=None):
    """Re-encode the real frames; `pts(i)` in `time_base` units sets the timestamps (else the encoder's)."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate, options=options or {})
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        if time_base is not None:
            s.time_base = time_base
        for i, frame in enumerate(_real_frames()):
            if pts is not None:
                frame.pts, frame.time_base = pts(i), time_base
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


@pytest.fixture(scope="module")
def odd_build(tmp_path_factory, samples):
    """One build over every odd-timing clip (real frames, synthesized containers)."""
    root = tmp_path_factory.mktemp("odd")
    v = root / "videos" / "walk"
    v.mkdir(parents=True)
    ms = Fraction(1, 1000)
    write_clip(v / "raw_h264_from_real.h264", "h264", 25)
    write_clip(v / "raw_264_declaring_90000fps_from_real.264", "h264", 90000)
    write_clip(v / "mkv_declaring_90000fps_real25_from_real.mkv", "matroska", 90000, ms, lambda i: 40 * i)
    write_clip(v / "mp4_declaring_1000fps_real25_from_real.mp4", "mp4", 1000, ms, lambda i: 40 * i)
    write_clip(v / "mp4_timestamps_1000fps_from_real.mp4", "mp4", 1000, ms, lambda i: i)
    out = root / "out"
    run_build(root / "videos", out, {"layouts": ["coco-17"], "filter": {"min_frames": None},
                                     "experts": {"body": ["pose"], "hands": [], "face": []}})
    rows = {r["clip_id"].split("/")[-1]: r for r in read_manifest(out).to_pylist()}
    return v, Store(out / ".cache"), rows


def test_raw_h264_synthesized_from_real_clip_is_read(odd_build):
    v, store, rows = odd_build
    row = rows["raw_h264_from_real"]
    assert row["status"] != "failed", row
    assert row["n_frames"] == N_OUT                    # N frames at the stream's declared 25 fps = 0.6 s x 30
    frames = store.load("frames", row["frames_key"])
    assert frames.meta["timing"] == "raw h264 stream: no timestamps, timed by its declared 25 fps"
    assert frames.meta["n_source_frames"] == N and frames.meta["source_duration_s"] == pytest.approx(N / 25)
    # output frame k (time k/30) shows source frame floor(k * 25 / 30)
    assert frames.arrays["src_index"].tolist() == [k * 25 // 30 for k in range(N_OUT)]
    probe = store.load("probe", row["probe_key"]).meta
    assert probe["fps"] == 25.0 and probe["container"] == "h264"


def test_raw_264_declaring_absurd_rate_synthesized_is_failed_row(odd_build):
    v, store, rows = odd_build
    row = rows["raw_264_declaring_90000fps_from_real"]      # discovered by its .264 extension
    assert (row["status"], row["stage"]) == ("failed", "frames"), row
    assert row["reason"].startswith(f"implausible frame timing: the file's timestamps put {N} frames in")
    assert "90000 fps, above frames.max_source_fps 480" in row["reason"]


def _packet_seconds(path) -> list[float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(p.duration * s.time_base) for p in c.demux(s) if p.size]


@pytest.mark.parametrize("clip", ["mkv_declaring_90000fps_real25_from_real", "mp4_declaring_1000fps_real25_from_real"])
def test_absurd_declared_rate_over_real_timestamps_synthesized(odd_build, clip):
    """Streams declared at 90000 / 1000 fps over real 25-fps timestamps: the MKV then claims 30000 fps on
    average, the MP4 gives its last frame a 1 ms duration. Frames follow the timestamps, the last one lasting
    one real interval, so both give exactly the 25-fps clip's output."""
    v, store, rows = odd_build
    path = next(v.glob(f"{clip}.*"))
    if path.suffix == ".mkv":
        assert probe_video(str(path)).fps == 30000.0
    else:
        assert _packet_seconds(path)[-1] == 0.001
    row = rows[clip]
    assert row["status"] != "failed" and row["n_frames"] == N_OUT, row
    frames = store.load("frames", row["frames_key"])
    assert frames.meta["timing"] == "timestamps" and frames.meta["source_duration_s"] == pytest.approx(N / 25)
    assert frames.arrays["src_index"].tolist() == [k * 25 // 30 for k in range(N_OUT)]


def test_container_with_1000fps_timestamps_synthesized_is_failed_row(odd_build):
    v, store, rows = odd_build
    row = rows["mp4_timestamps_1000fps_from_real"]
    assert (row["status"], row["stage"]) == ("failed", "frames"), row
    assert row["reason"] == (f"implausible frame timing: the file's timestamps put {N} frames in 0.014 s (1000 fps, "
                             "above frames.max_source_fps 480); re-mux it with its real frame rate, or raise "
                             "frames.max_source_fps for genuine high-speed footage")
    # genuine high-speed footage: raising the limit lets the timestamps rule (15 frames in 15 ms -> 1 frame)
    timing = frame_timing(str(next(v.glob("mp4_timestamps_1000fps_from_real.*"))))
    check_timing(timing, 1000)
    assert timing.end == Fraction(N, 1000)


def test_raw_stream_without_declared_rate_synthesized_fails_exactly(tmp_path, samples):
    """HEVC written with x265's VUI timing switched off: no container, no timestamps, no rate anywhere."""
    path = write_clip(tmp_path / "no_rate_from_real.hevc", "hevc", 25, codec="libx265",
                      options={"x265-params": "vui-timing-info=0:vui-hrd-info=0:log-level=none"})
    assert probe_video(str(path)).fps == 0.0            # not the raw demuxer's made-up 25
    with pytest.raises(VideoError, match="raw hevc stream with no timestamps and no declared frame rate"):
        frame_timing(str(path))


def test_raw_h264_extensions_are_discovered():
    assert {".h264", ".264"} <= set(BuildConfig().dataset.extensions)
