"""The clip's frames in bounded memory and scratch (workers/decode/spool.py): the same bytes as a plain decode
whether spooled or streamed, no scratch left on any exit path (success, an exception in a stage, a truncated
video, ENOSPC on a tiny tmpfs), scratch never above the budget, and display-matrix rotation applied upright.
Peak RSS / scratch on long 1080p clips is measured by benchmarks/memory.py, not here."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import weakref
from pathlib import Path

import av
import numpy as np
import pytest

from benchmarks.memory import loop_clip
from pipeline.adapters.base import VideoItem
from pipeline.context import VideoContext
from pipeline.dag import Dag, Stage
from pipeline.manifest import read_manifest
from pipeline.stages import frames as frames_stage
from pipeline.stages import probe as probe_stage
from pipeline.video_task import run_video
from schemas.config import BuildConfig
from workers.decode import spool as spool_mod
from workers.decode.resample import presentation_times, resample_indices
from workers.decode.spool import Truncated, open_frames
from tests.conftest import VIDEOS, run_build, stage_videos

CARPHONE = VIDEOS / "misc/carphone_face_176x144.mp4"


def plain_decode(video) -> list[np.ndarray]:
    """Every source frame as `frame.to_ndarray(format="rgb24")`, nothing else (the reference)."""
    with av.open(str(video)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def digest(a: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()


def output_index(video) -> np.ndarray:
    times, end = presentation_times(str(video))
    return resample_indices(times, end, 30)


def open_in(scratch: Path) -> list[str]:
    """Files this process holds open under `scratch` (an unnamed spool shows as '... (deleted)')."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(scratch)):
            out.append(target)
    return out


def files_in(scratch: Path) -> list[Path]:
    return [p for p in scratch.rglob("*") if not p.is_dir()] if scratch.exists() else []


@pytest.mark.parametrize("budget", [None, 0], ids=["spooled", "streamed"])
@pytest.mark.parametrize("video", ["misc/lab_walk_60fps_h264.mp4", "misc/mpeg4_25fps_320x240.avi"])
def test_frames_identical_to_plain_decode(tmp_path, samples, video, budget):
    path = VIDEOS / video
    ref = [digest(f) for f in plain_decode(path)]
    idx = output_index(path)
    with open_frames(str(path), idx, tmp_path, budget=budget) as source:
        assert source.spooled == (budget is None)
        assert len(source) == len(idx) and source.rotation == 0
        got = [digest(f) for f in source]
        assert got == [ref[s] for s in idx]
        assert all(f.flags.c_contiguous and not f.flags.writeable for f in (source.frame(0), source.frame(1)))
        # reading backwards is allowed (a streamed source restarts its decoder) and gives the same bytes
        assert digest(source.frame(len(idx) - 1)) == ref[idx[-1]]
        assert digest(source.frame(0)) == ref[idx[0]]
    assert open_in(tmp_path) == [] and files_in(tmp_path) == []


@pytest.fixture(scope="module")
def carphone_build(tmp_path_factory, samples):
    """A build of a real clip (30 frames) with its scratch in a dir of its own; returns (out, scratch)."""
    root = tmp_path_factory.mktemp("carphone")
    scratch = root / "scratch"
    scratch.mkdir()
    out = root / "out"
    run_build(stage_videos(root / "v", CARPHONE), out, _config(scratch))
    return out, scratch


def _config(scratch: Path) -> dict:
    return {"frames": {"max_frames": 30}, "layouts": ["coco-17"], "filter": {"min_frames": None},
            "cache": {"scratch": str(scratch)}}


def _keypoints(out: Path) -> dict:
    import pyarrow.parquet as pq
    rows = [r for f in sorted((out / "shards" / "coco-17").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    return {r["clip_id"]: r["keypoints"] for r in rows}


def test_scratch_empty_after_a_build(carphone_build):
    out, scratch = carphone_build
    rows = read_manifest(out).to_pylist()
    assert [(r["status"], r["n_frames"]) for r in rows] == [("ok", 30)]
    assert files_in(scratch) == [] and open_in(scratch) == []


def test_spool_freed_after_an_exception_in_a_synthesized_failing_stage(tmp_path, samples):
    """A stage (made up for the test) that reads frames from a real spool, then raises: the clip's task reports
    it as a failed row and frees the spool on its way out."""
    seen = {}

    def boom(ctx, inputs):
        source = ctx.frames(inputs["frames"].arrays["src_index"])
        source.frame(0)
        seen.update(spooled=source.spooled, scratch_bytes=source.scratch_bytes, open=open_in(tmp_path / "scratch"))
        raise RuntimeError("boom after reading frames")

    dag = Dag([(probe_stage.STAGE, []), (frames_stage.STAGE, ["probe"]),
               (Stage(name="boom", run=boom), ["frames"])])
    item = VideoItem("carphone", str(CARPHONE), 0, "x", "train")
    res = run_video(item, BuildConfig(), dag, dag.plan(), str(tmp_path / "cache"), str(tmp_path / "scratch"))
    row = res["row"]
    assert (row["status"], row["stage"]) == ("failed", "boom")
    assert "internal error: RuntimeError: boom after reading frames" in row["reason"]
    assert seen["spooled"] and seen["scratch_bytes"] >= len(np.unique(output_index(CARPHONE))) * 176 * 144 * 3
    assert len(seen["open"]) == 1 and seen["open"][0].endswith("(deleted)")   # the spool has no name
    assert open_in(tmp_path / "scratch") == [] and files_in(tmp_path / "scratch") == []


def test_truncated_copy_of_a_real_clip_frees_its_partial_spool(tmp_path, samples):
    """The second half of a real AVI cut off, then asked for the whole clip's frames (as when the data stops
    before the index says): Truncated, a VideoError, and nothing left in scratch."""
    src = VIDEOS / "misc/mpeg4_25fps_320x240.avi"
    cut = tmp_path / "cut.avi"
    data = src.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    scratch = tmp_path / "scratch"
    with pytest.raises(Truncated, match=r"truncated: decoding stopped after \d+ of 164 frames"):
        open_frames(str(cut), output_index(src), scratch)
    assert open_in(scratch) == [] and files_in(scratch) == []


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 2 MiB tmpfs (needs root / CAP_SYS_ADMIN); skipped with the reason when it cannot be mounted."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a tiny tmpfs for the ENOSPC test")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here (not permitted): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        u = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
        assert u.returncode == 0, f"tmpfs busy after the test (a file left open?): {u.stderr}"


def test_enospc_on_a_tiny_tmpfs_falls_back_to_streaming(tiny_tmpfs, samples, caplog):
    """The clip's frames (9 MB) do not fit a 2 MiB scratch: the write fails with ENOSPC mid-spool, the partial
    spool is dropped at once, and the frames are streamed: same bytes, scratch empty."""
    ref = [digest(f) for f in plain_decode(CARPHONE)]
    idx = output_index(CARPHONE)
    with caplog.at_level(logging.WARNING, logger=spool_mod.__name__):
        source = open_frames(str(CARPHONE), idx, tiny_tmpfs)
    with source:
        assert not source.spooled
        assert "No space left on device" in caplog.text and str(tiny_tmpfs) in caplog.text
        assert shutil.disk_usage(tiny_tmpfs).used == 0 and open_in(tiny_tmpfs) == []
        assert [digest(f) for f in source] == [ref[s] for s in idx]
    assert files_in(tiny_tmpfs) == []


def test_build_with_scratch_on_a_full_tiny_tmpfs_gives_the_same_keypoints(tiny_tmpfs, carphone_build, tmp_path):
    out, _ = carphone_build
    out2 = tmp_path / "out"
    run_build(stage_videos(tmp_path / "v", CARPHONE), out2, _config(tiny_tmpfs))
    assert [r["status"] for r in read_manifest(out2).to_pylist()] == ["ok"]
    assert _keypoints(out2) == _keypoints(out)
    assert files_in(tiny_tmpfs) == [] and shutil.disk_usage(tiny_tmpfs).used == 0


def test_bounded_scratch_and_frames_held_on_a_longer_synthesized_clip(tmp_path, samples):
    """A real clip looped 5 times (600 frames, made by remuxing): scratch never exceeds the budget (spooled
    exactly at the budget, nothing at one byte less), and a streamed source holds at most RECENT frames."""
    clip = tmp_path / "looped.mp4"
    assert loop_clip(CARPHONE, clip, 20) == 600
    ref = [digest(f) for f in plain_decode(clip)]
    idx = output_index(clip)
    need = len(np.unique(idx)) * 176 * 144 * 3
    scratch = tmp_path / "scratch"
    block = os.statvfs(tmp_path).f_bsize

    with open_frames(str(clip), idx, scratch, budget=need) as source:
        assert source.spooled
        peak = 0
        for k, f in enumerate(source):
            assert digest(f) == ref[idx[k]]
            peak = max(peak, source.scratch_bytes)
        assert need <= peak <= need + block        # whole blocks

    with open_frames(str(clip), idx, scratch, budget=need - 1) as source:
        assert not source.spooled and source.scratch_bytes == 0 and open_in(scratch) == []
        alive = []
        most = 0
        for k, f in enumerate(source):
            assert digest(f) == ref[idx[k]]
            alive.append(weakref.ref(f))
            del f
            most = max(most, len({id(r()) for r in alive if r() is not None}))   # repeated frames are one array
        assert most <= spool_mod.RECENT
        assert source.restarts == 1                 # one decoder start for one in-order pass
    assert open_in(scratch) == [] and files_in(scratch) == []


def _rotated_copy(src: Path, dest: Path, degrees_ccw: int) -> None:
    """Remux a real clip (packets untouched) with a display matrix, as phones write for portrait shots."""
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        stream = inp.streams.video[0]
        ostream = out.add_stream_from_template(stream)
        ostream.set_display_rotation(degrees_ccw)
        for p in inp.demux(stream):
            if p.dts is None:
                continue
            p.stream = ostream
            out.mux(p)


# display matrix rotation (counter-clockwise, as FFmpeg stores it) -> clockwise degrees to stand frames upright
@pytest.mark.parametrize("ccw, rotation", [(-90, 90), (90, 270), (180, 180)])
def test_phone_rotation_synthesized_by_remuxing_a_real_clip(tmp_path, samples, ccw, rotation):
    clip = tmp_path / "portrait.mp4"
    _rotated_copy(CARPHONE, clip, ccw)
    plain = plain_decode(CARPHONE)                      # the unrotated clip's frames
    idx = output_index(clip)
    assert np.array_equal(idx, output_index(CARPHONE))
    for budget in (None, 0):
        with open_frames(str(clip), idx, tmp_path / "scratch", budget=budget) as source:
            assert source.rotation == rotation
            assert source.size == ((176, 144) if rotation % 180 else (144, 176))
            for k, f in enumerate(source):
                assert np.array_equal(f, np.rot90(plain[idx[k]], -rotation // 90))
    # the frames stage reports it (meta `rotation`) with the upright size
    ctx = VideoContext(VideoItem("portrait", str(clip), 0, "x", "train"), BuildConfig(), tmp_path / "scratch")
    try:
        meta = frames_stage.run(ctx, {"probe": probe_stage.run(ctx, {})}).meta
    finally:
        ctx.close()
    assert (meta["rotation"], meta["width"], meta["height"]) == (
        (rotation, 144, 176) if rotation % 180 else (rotation, 176, 144))
