"""Security and input robustness (issue 11): untrusted names (CSV cells, file names) cannot put an output outside
its destination, crop/export/show/report never write onto the build's inputs, checkpoints are never unpickled,
and the input walk survives dangling symlinks and symlink loops. Real sample clips, real builds, the real CLI
(typer's CliRunner); the report's XSS check is in tests/test_report.py (headless Chromium)."""
import csv
import hashlib
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.adapters import discover
from pipeline.cli import app, set_dag
from schemas.config import BuildConfig
from tests.conftest import VIDEOS, run_build, stage_videos, write_config

set_dag(dagfile.DAG)
runner = CliRunner()
CLIP = VIDEOS / "misc" / "mpeg4_25fps_320x240.avi"
SMALL = {"frames": {"max_frames": 20}, "layouts": ["coco-17"]}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def files_under(root: Path) -> set[Path]:
    return {p for p in Path(root).rglob("*") if p.is_file() or p.is_symlink()}


# ---- 1. untrusted strings that become paths are refused before any compute, naming the row

BAD_CSV = {
    "split climbing out": ([["path", "label", "split"], ["walk.avi", "walk", "train"],
                            ["walk.avi", "walk", "../../../x"]], "'../../../x'"),
    "split with a separator": ([["path", "label", "split"], ["walk.avi", "walk", "train"],
                                ["walk.avi", "walk", "a/b"]], "'a/b'"),
    "label climbing out": ([["path", "label"], ["walk.avi", "walk"], ["walk.avi", "../../etc"]], "'../../etc'"),
    "empty label": ([["path", "label"], ["walk.avi", "walk"], ["walk.avi", " "]], "label"),
    "newline in the clip id": ([["path", "label"], ["walk.avi", "walk"], ["sub\n/x.avi", "walk"]], "U+000A"),
    "empty path": ([["path", "label"], ["walk.avi", "walk"], ["", "walk"]], "empty path"),
    "kinetics youtube id climbing out": (
        [["label", "youtube_id", "time_start", "time_end", "split"], ["walk", "ok", "0", "10", "train"],
         ["walk", "../../../evil", "0", "10", "train"]], "'../../../evil"),
    "kinetics split climbing out": (
        [["label", "youtube_id", "time_start", "time_end", "split"], ["walk", "ok", "0", "10", "train"],
         ["walk", "other", "0", "10", "../x"]], "'../x'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_unsafe_csv_values_are_exit_2_naming_the_row_before_compute(tmp_path, case):
    rows, shown = BAD_CSV[case]
    videos = stage_videos(tmp_path / "v", CLIP, CLIP, names=["walk.avi", "ok_000000_000010.mp4"])
    cfg = write_config(tmp_path / "c.yaml", {"dataset": {"csv": str(write_csv(tmp_path / "m.csv", rows))}})
    out = tmp_path / "out"
    r = runner.invoke(app, ["build", "--videos", str(videos), "--out", str(out), "--config", str(cfg),
                            "--workers", "0"])
    assert r.exit_code == 2, r.output
    assert "line 3" in r.output and shown in r.output, r.output
    assert not (out / "manifest.parquet").exists() and not list(tmp_path.rglob("*.npz"))   # nothing computed


def test_csv_nul_byte_is_exit_2_naming_the_line(tmp_path):
    videos = stage_videos(tmp_path / "v", CLIP, names=["walk.avi"])
    (tmp_path / "m.csv").write_bytes(b"path,label\nwalk.avi,walk\nwa\0lk.avi,walk\n")
    cfg = write_config(tmp_path / "c.yaml", {"dataset": {"csv": str(tmp_path / "m.csv")}})
    r = runner.invoke(app, ["build", "--videos", str(videos), "--out", str(tmp_path / "o"), "--config", str(cfg),
                            "--workers", "0"])
    assert r.exit_code == 2 and "line 3" in r.output, r.output


def test_csv_paths_anywhere_give_ids_that_stay_inside_a_destination(tmp_path):
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    rows = [["path", "label"], [str(root / "sub" / "a.avi"), "x"], [str(tmp_path / "far" / "b.avi"), "x"],
            ["../near/c.avi", "x"], ["sub/./d.avi", "x"], ["sub//e.avi", "x"]]
    cfg = BuildConfig.model_validate({"dataset": {"csv": str(write_csv(tmp_path / "m.csv", rows))}})
    _, items = discover(root, cfg)
    ids = {Path(i.path).name: i.clip_id for i in items}
    outside = str(tmp_path).lstrip("/")
    assert ids == {"a.avi": "sub/a", "b.avi": f"{outside}/far/b", "c.avi": f"{outside}/near/c", "d.avi": "sub/d",
                   "e.avi": "sub/e"}
    for cid in ids.values():
        assert not cid.startswith("/") and ".." not in cid.split("/")
        assert (tmp_path / "dest" / f"{cid}.mp4").resolve().is_relative_to(tmp_path / "dest")


# ---- 2. crop / export / show / report write only inside their destination, never onto an input

@pytest.fixture(scope="module")
def abs_csv_build(tmp_path_factory, samples):
    """A real build from a CSV of absolute paths (the case where crop used to overwrite the sources)."""
    root = tmp_path_factory.mktemp("abs")
    src = stage_videos(root / "src", CLIP, names=["walk.avi"])
    (root / "videos").mkdir()
    rows = [["path", "label"], [str(src / "walk.avi"), "walk"]]
    cfg = {**SMALL, "dataset": {"csv": str(write_csv(root / "m.csv", rows))}}
    rec = run_build(root / "videos", root / "out", cfg)
    assert rec["counts"]["ok"] == 1
    return root


def test_crop_on_a_csv_of_absolute_paths_writes_only_under_dest(abs_csv_build, tmp_path):
    root = abs_csv_build
    src, out = root / "src", root / "out"
    before, digest = files_under(src), sha256(src / "walk.avi")
    (cid,) = pq.read_table(out / "manifest.parquet").column("clip_id").to_pylist()
    assert not cid.startswith("/")
    r = runner.invoke(app, ["crop", str(out), "--dest", str(src), "--layout", "coco-17", "--size", "64"])
    assert r.exit_code == 2 and "source video" in r.output, r.output
    r = runner.invoke(app, ["crop", str(out), "--dest", str(root / "videos" / "crops"), "--layout", "coco-17"])
    assert r.exit_code == 2 and "input folder" in r.output, r.output
    dest = tmp_path / "crops"
    everything = files_under(root) | files_under(tmp_path)
    r = runner.invoke(app, ["crop", str(out), "--dest", str(dest), "--layout", "coco-17", "--size", "64"])
    assert r.exit_code == 0, r.output
    new = (files_under(root) | files_under(tmp_path)) - everything
    assert new and all(p.is_relative_to(dest) for p in new), new
    assert (dest / f"{cid}.mp4").is_file()
    assert sha256(src / "walk.avi") == digest and files_under(src) == before


def test_crop_refuses_a_synthetic_legacy_manifest_with_absolute_clip_ids(abs_csv_build, tmp_path):
    """The manifest is rewritten to hold the absolute clip id the old CSV adapter made (id = source path)."""
    root = abs_csv_build
    out = tmp_path / "old"
    shutil.copytree(root / "out", out, ignore=shutil.ignore_patterns(".cache"))
    t = pq.read_table(out / "manifest.parquet")
    legacy = [str(Path(p).with_suffix("")) for p in t.column("source_path").to_pylist()]
    pq.write_table(t.set_column(t.schema.get_field_index("clip_id"), "clip_id", pa.array(legacy)),
                   out / "manifest.parquet")
    digest, before = sha256(root / "src" / "walk.avi"), files_under(root / "src")
    r = runner.invoke(app, ["crop", str(out), "--dest", str(tmp_path / "crops"), "--layout", "coco-17"])
    assert r.exit_code == 2 and "outside" in r.output and legacy[0] in r.output.replace("\n", ""), r.output
    assert not (tmp_path / "crops").exists()
    assert sha256(root / "src" / "walk.avi") == digest and files_under(root / "src") == before


def test_export_and_show_refuse_a_dest_holding_or_inside_the_inputs(abs_csv_build, tmp_path):
    root = abs_csv_build
    src, out = root / "src", root / "out"
    digest, before = sha256(src / "walk.avi"), files_under(src)
    (cid,) = pq.read_table(out / "manifest.parquet").column("clip_id").to_pylist()
    for dest, says in ((src, "source video"), (root, "holds the build's input folder"),
                       (root / "videos" / "x", "lies inside the build's input folder")):
        r = runner.invoke(app, ["export", str(out), "--format", "pyskl", "--layout", "coco-17",
                                "--dest", str(dest)])
        assert r.exit_code == 2 and says in r.output.replace("\n", " "), r.output
    r = runner.invoke(app, ["export", str(out), "--format", "pyskl", "--layout", "coco-17",
                            "--dest", str(tmp_path / "exp")])
    assert r.exit_code == 0 and (tmp_path / "exp" / "skelforge_coco-17.pkl").is_file(), r.output
    for save, extra in ((src / "walk.avi", []), (root / "videos" / "s.png", []),
                        (tmp_path / "mine.avi", ["--video", str(tmp_path / "mine.avi")])):
        r = runner.invoke(app, ["show", str(out), cid, "--layout", "coco-17", "--save", str(save), *extra])
        assert r.exit_code == 2, (save, r.output)
    r = runner.invoke(app, ["show", str(out), cid, "--layout", "coco-17", "--save", str(tmp_path / "s.png"),
                            "--max-frames", "2"])
    assert r.exit_code == 0 and (tmp_path / "s.png").is_file(), r.output
    assert sha256(src / "walk.avi") == digest and files_under(src) == before
    assert not (root / "videos" / "s.png").exists() and not (root / "videos" / "x").exists()


def test_report_refuses_links_that_lead_onto_the_sources(abs_csv_build, tmp_path):
    root = abs_csv_build
    out = tmp_path / "out"
    shutil.copytree(root / "out", out, symlinks=True)
    src = root / "src"
    digest, before = sha256(src / "walk.avi"), files_under(src)
    shutil.rmtree(out / "report")
    (out / "report").symlink_to(src, target_is_directory=True)       # OUT/report is the sources' folder
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 2 and "source video" in r.output, r.output
    (out / "report").unlink()
    (out / "report").mkdir()
    (out / "report" / "clips").symlink_to(src, target_is_directory=True)   # viewer GIFs would land there
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 2 and "outside" in r.output, r.output
    assert sha256(src / "walk.avi") == digest and files_under(src) == before
    (out / "report" / "clips").unlink()
    r = runner.invoke(app, ["report", str(out)])                          # and a normal folder works
    assert r.exit_code == 0 and (out / "report" / "index.html").is_file(), r.output


# ---- 3. checkpoints are loaded weights-only: nothing in them runs

class _Touch:
    """A pickle that creates a file when unpickled (open(marker, "w")): harmless proof of code execution."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_checkpoints_that_need_unpickling_are_refused_without_running(tmp_path):
    import torch

    from workers.action.experiment import ExperimentError, load_backbone
    from workers.action.trainer import Trainer, TrainOptions, UnsafeCheckpoint
    marker = tmp_path / "code-ran"
    ckpt = tmp_path / "run" / "checkpoint.pt"
    ckpt.parent.mkdir()
    torch.save({"model": {"w": torch.zeros(2)}, "payload": _Touch(marker)}, ckpt)
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ExperimentError, match="train.init_from: .*not loaded"):
        load_backbone(model, ckpt, False)
    with pytest.raises(UnsafeCheckpoint, match="checkpoint.pt"):
        Trainer(model, TrainOptions(device="cpu"), tmp_path / "run").resume()
    assert not marker.exists()
    torch.load(ckpt, weights_only=False)                     # the payload is real: unpickling runs it
    assert marker.exists()


# ---- 4. the input walk: dangling symlinks and loops

def test_dangling_links_and_loops_end_as_failed_rows_and_loops_are_walked_once(tmp_path, samples):
    videos = stage_videos(tmp_path / "v", CLIP, names=["walk/a.avi"])
    (videos / "walk" / "gone.avi").symlink_to(tmp_path / "nowhere.avi")
    (videos / "walk" / "loop1.avi").symlink_to("loop2.avi")
    (videos / "walk" / "loop2.avi").symlink_to("loop1.avi")
    (videos / "walk" / "again").symlink_to("..", target_is_directory=True)     # a folder loop
    (videos / "twin").symlink_to("walk", target_is_directory=True)             # the same folder twice
    elsewhere = stage_videos(tmp_path / "elsewhere", CLIP, names=["b.avi"])
    (videos / "linked").symlink_to(elsewhere, target_is_directory=True)        # a linked folder is walked
    _, items = discover(videos, BuildConfig())
    assert [i.clip_id for i in items] == ["linked/b", "walk/a", "walk/gone", "walk/loop1", "walk/loop2"]
    rec = run_build(videos, tmp_path / "out", SMALL)
    assert sum(rec["counts"].values()) == 5
    rows = {r["clip_id"]: r for r in pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()}
    assert rows["walk/a"]["status"] == rows["linked/b"]["status"] == "ok"
    assert rows["walk/gone"]["status"] == "failed" and rows["walk/gone"]["stage"] == "probe"
    assert "dangling symlink" in rows["walk/gone"]["reason"] and "nowhere.avi" in rows["walk/gone"]["reason"]
    for cid in ("walk/loop1", "walk/loop2"):
        assert rows[cid]["status"] == "failed" and "symlink loop" in rows[cid]["reason"], rows[cid]


def test_unlistable_folder_is_exit_2_naming_it(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from listing a folder")
    videos = stage_videos(tmp_path / "v", CLIP, names=["walk/a.avi"])
    (videos / "locked").mkdir()
    (videos / "locked").chmod(0)
    try:
        r = runner.invoke(app, ["build", "--videos", str(videos), "--out", str(tmp_path / "o"), "--workers", "0"])
        assert r.exit_code == 2 and "locked" in r.output, r.output
    finally:
        (videos / "locked").chmod(0o755)


def test_split_names_are_plain_and_read_back_exactly_from_shard_names():
    """A split names shard files (`<split>-00000-of-00001.parquet`): dataset.default_split must be a plain name,
    and a split holding "-" (val-small) is read back whole, never as another split's prefix."""
    from schemas.config import BuildConfig
    from workers.io.parquet_shards import shard_names, shard_split
    for bad in ("../x", "a/b", "..", " "):
        with pytest.raises(ValueError, match="default_split"):
            BuildConfig.model_validate({"dataset": {"default_split": bad}})
    for split in ("val", "val-small", "train-2026-12"):
        assert {shard_split(n) for n in shard_names(split, 5, 2)} == {split}
    assert shard_split("notes.parquet") is None
