"""The report's drawn images are content-addressed cache entries (pipeline/report_images.py), on a real build of
two short real clips (in-process, so every open is seen here): a rebuilt report opens no source video; cached
image bytes equal freshly drawn ones; a changed skeleton redraws only its own clip's image, from cached frames;
a corrupt or truncated image entry is a miss that is redrawn, never a failed build."""
import base64
import json
import os
import re
import shutil
import sys

import av
import numpy as np
import pytest
from typer.testing import CliRunner

import dagfile
import pipeline.report_images as report_images
from pipeline.cache import Artifact, Store
from pipeline.cli import app, set_dag
from pipeline.manifest import read_manifest
from tests.conftest import VIDEOS, run_build, stage_videos

set_dag(dagfile.DAG)
CFG = {"frames": {"max_frames": 20}, "layouts": ["coco-17"]}
KINDS = (report_images.FRAMES, report_images.THUMB, report_images.GIF)


@pytest.fixture(scope="module")
def built(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("repcache")
    videos = stage_videos(root / "v", VIDEOS / "kinetics/tai_chi/ta_chi.mp4",
                          VIDEOS / "misc/carphone_face_176x144.mp4", names=["tai_chi/t.mp4", "face/c.mp4"])
    run_build(videos, root / "out", CFG)
    return root


@pytest.fixture
def out(built, tmp_path):
    """A private copy of the build (same source videos), so tests can change its cache."""
    dest = tmp_path / "out"
    shutil.copytree(built / "out", dest)
    (dest / "build.json").write_text((built / "out" / "build.json").read_text())
    return dest


ACTIVE: list = []                        # the spies now listening (audit hooks cannot be removed: one, added once)


def _audit(event, args):
    if event == "open" and ACTIVE and args and isinstance(args[0], (str, bytes, os.PathLike)):
        for spy in ACTIVE:
            spy.saw(args[0])


class Opens:
    """Every file opened under `root` while active: Python-level opens (audit hook "open" events) and PyAV's
    container opens (native, so no audit event: `av.open` is wrapped)."""

    def __init__(self, root, monkeypatch):
        self.root, self.paths = str(root), []
        if _audit not in HOOKED:
            sys.addaudithook(_audit)
            HOOKED.append(_audit)
        real = av.open
        monkeypatch.setattr(av, "open", lambda f, *a, **k: (self.saw(f), real(f, *a, **k))[1])

    def saw(self, path):
        p = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else ""
        if p.startswith(self.root):
            self.paths.append(p)

    def __enter__(self):
        ACTIVE.append(self)
        return self

    def __exit__(self, *exc):
        ACTIVE.remove(self)


HOOKED: list = []


def page_images(out) -> dict:
    """{clip id: thumbnail JPEG bytes} from the page, and the viewer GIFs' bytes."""
    html = (out / "report" / "index.html").read_text()
    thumbs = {cid: base64.b64decode(b64) for cid, b64 in
              re.findall(r'<img alt="([^"]+)" src="data:image/jpeg;base64,([^"]+)"', html)}
    gifs = {p.name: p.read_bytes() for p in (out / "report" / "clips").glob("*.gif")}
    return {"thumbs": thumbs, "gifs": gifs}


def entries(out, kind) -> dict:
    return {p.stem: p for p in (out / ".cache" / kind).glob("*/*.npz")}


def report(out):
    r = CliRunner().invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output
    return json.loads((out / "report" / "quality.json").read_text())


def test_rebuilt_report_opens_no_source_video(built, out, monkeypatch):
    before = page_images(out)
    assert before["thumbs"] and before["gifs"]
    assert all(entries(out, k) for k in KINDS)
    with Opens(built / "v", monkeypatch) as spy:
        report(out)                                       # the page is redrawn from the cache
    assert spy.paths == []
    assert page_images(out) == before
    with Opens(built / "v", monkeypatch) as spy:          # and the spy does see a decode when one happens
        shutil.rmtree(out / ".cache" / report_images.FRAMES)
        shutil.rmtree(out / ".cache" / report_images.THUMB)
        report(out)
    assert spy.paths


def test_noop_and_from_refine_rebuilds_open_no_video_in_the_report(built, out, monkeypatch):
    """A no-op rebuild does not rebuild the report; `--from refine` rebuilds it from cached images."""
    import pipeline.report as stage
    real, inside = stage.build_report, []

    def build_report(*a, **k):
        with Opens(built / "v", monkeypatch) as spy:
            q = real(*a, **k)
        inside.append(spy.paths)
        return q
    monkeypatch.setattr(stage, "build_report", build_report)
    before = page_images(out)
    r = run_build(built / "v", out, CFG)
    assert r["dataset_stages"]["report"]["cached"] and inside == []
    r = run_build(built / "v", out, CFG, start="refine")
    assert not r["dataset_stages"]["report"]["cached"] and inside == [[]]
    assert page_images(out) == before


def test_cached_bytes_equal_freshly_drawn(out):
    cached = {k: {n: p.read_bytes() for n, p in entries(out, k).items()} for k in KINDS}
    before = page_images(out)
    for k in (report_images.THUMB, report_images.GIF):      # redraw from the cached frames
        shutil.rmtree(out / ".cache" / k)
    report(out)
    assert page_images(out) == before
    for k in KINDS:                                          # and from a fresh decode of the sources
        shutil.rmtree(out / ".cache" / k)
    report(out)
    assert page_images(out) == before
    assert {k: {n: p.read_bytes() for n, p in entries(out, k).items()} for k in KINDS} == cached


def test_changed_skeleton_redraws_only_its_clip_from_cached_frames(built, out, monkeypatch):
    rows = {r["clip_id"]: r for r in read_manifest(out).to_pylist()}
    q = json.loads((out / "report" / "quality.json").read_text())
    worst = {c["clip_id"]: c["worst"] for c in q["clips"]}
    cid = next(c for c, r in rows.items() if r["status"] == "ok" and worst[c])
    store = Store(out / ".cache")
    ref = store.load("refine", rows[cid]["refine_key"])
    pts, k = ref.arrays["points"].copy(), worst[cid]["frame"]
    w, h = rows[cid]["width"], rows[cid]["height"]
    x, y = pts[:, k, :, 0], pts[:, k, :, 1]
    move = (pts[:, k, :, 2] > 0) & (x >= 0) & (x < w - 4) & (y >= 0) & (y < h - 4)   # stays inside the image
    assert move.any()
    pts[:, k, :, 0] = np.where(move, x + 4, x)
    pts[:, k, :, 1] = np.where(move, y + 4, y)
    new_key = "e" * 64
    store.save("refine", new_key, Artifact({**ref.arrays, "points": pts}, ref.meta))
    manifest = read_manifest(out).to_pylist()
    for r in manifest:
        if r["clip_id"] == cid:
            r["refine_key"] = new_key
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist(manifest, schema=read_manifest(out).schema), out / "manifest.parquet")

    before, thumbs_before = page_images(out), set(entries(out, report_images.THUMB))
    drawn = []
    real = report_images.thumb_jpeg
    monkeypatch.setattr(report_images, "thumb_jpeg", lambda *a: (drawn.append(a[1]), real(*a))[1])
    with Opens(built / "v", monkeypatch) as spy:
        q2 = report(out)
    assert spy.paths == []                                    # redrawn on the cached frames
    assert {c["clip_id"]: c["worst"]["frame"] for c in q2["clips"] if c["worst"]} == \
        {c: wv["frame"] for c, wv in worst.items() if wv}
    assert len(drawn) == 1 and np.allclose(drawn[0][..., :2], report_images.apply_layout(
        report_images.THUMB_LAYOUT, pts[:, k])[..., :2], equal_nan=True)
    after = page_images(out)
    assert after["thumbs"][cid] != before["thumbs"][cid]
    assert {c: b for c, b in after["thumbs"].items() if c != cid} == \
        {c: b for c, b in before["thumbs"].items() if c != cid}
    assert after["gifs"] == before["gifs"]                    # the shard's points did not change
    assert len(set(entries(out, report_images.THUMB)) - thumbs_before) == 1


@pytest.mark.parametrize("damage", ["truncate", "garble", "empty"])
def test_corrupt_image_entry_is_a_miss_and_redrawn(built, out, damage):
    before = page_images(out)

    def hurt_all():
        hurt = []
        for kind in KINDS:
            for p in entries(out, kind).values():
                data = p.read_bytes()
                p.write_bytes({"truncate": data[:len(data) // 2], "empty": b"",
                               "garble": data[:200] + bytes(255 - b for b in data[200:400]) + data[400:]}[damage])
                hurt.append((kind, p))
        assert hurt
        return hurt
    hurt = hurt_all()
    report(out)
    assert page_images(out) == before
    store = Store(out / ".cache")
    for kind, p in hurt:                                      # rewritten intact
        assert store.load(kind, p.stem) is not None
    hurt_all()                                                # in a build: the report stage still succeeds
    r = run_build(built / "v", out, CFG, start="report")
    assert r["state"] == "complete" and "status" not in r["dataset_stages"]["report"]
    assert r["cache_repaired"] >= 0 and page_images(out) == before
