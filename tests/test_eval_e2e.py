"""`skelforge eval` and the ground-truth readers, on the real GT samples (../shared/samples/gt), and still
images as build inputs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from schemas.layouts.mediapipe import B
from tests.conftest import SAMPLES, run_build
from workers.eval.gt import GtError, load_file, load_sets

GT = SAMPLES / "gt"
# every sample file and the layout its content says (README of ../shared/samples)
LAYOUTS = {"300w/test_300w.json": "face-68", "aic/test_aic.json": "aic-14", "coco/test_coco.json": "coco-17",
           "coco/test_coco_wholebody.json": "coco-wholebody", "crowdpose/test_crowdpose.json": "crowdpose-14",
           "freihand/test_freihand.json": "hand-21", "jhmdb/test_jhmdb_sub1.json": "jhmdb-15",
           "mpii/test_mpii.json": "mpii-16", "ochuman/test_ochuman.json": "coco-17",
           "onehand10k/test_onehand10k.json": "hand-21", "panoptic/test_panoptic.json": "hand-21",
           "wflw/test_wflw.json": "face-98"}


def cli(*args: str):
    from dagfile import DAG
    from pipeline.cli import app, set_dag
    set_dag(DAG)
    return CliRunner().invoke(app, list(args))


def test_every_sample_file_is_read_with_its_layout(samples):
    sets = load_sets(GT)
    got = {str(s.path.relative_to(GT)): s.layout for s in sets}
    assert got == LAYOUTS
    for s in sets:
        assert s.instances and s.images and all(i.image.is_file() for i in s.instances)
        scored = [i for i in s.instances if not i.ignore]
        assert scored and all((i.gt[:, 2] > 0).sum() >= 5 for i in scored)


def test_mpii_list_format(samples):
    s = load_file(GT / "mpii" / "test_mpii.json")
    raw = json.loads((GT / "mpii" / "test_mpii.json").read_text())
    assert s.layout == "mpii-16" and len(s.instances) == len(raw) == 5
    for inst, r in zip(s.instances, raw):
        assert inst.ref["body_size"] == pytest.approx(200 * r["scale"])
        j, v = np.asarray(r["joints"]), np.asarray(r["joints_vis"])
        for mpii, canon in ((0, "right_ankle"), (5, "left_ankle"), (10, "right_wrist"), (15, "left_wrist")):
            if v[mpii]:
                assert inst.gt[B[canon], :2] == pytest.approx(j[mpii], abs=1e-3)
            else:
                assert inst.gt[B[canon], 2] == 0


def _coco_file(tmp_path: Path, n_points: int, names: list | None) -> Path:
    """A SYNTHETIC COCO-style file around one real COCO image (the layouts it tests exist in no sample)."""
    shutil.copy(GT / "coco" / "000000000785.jpg", tmp_path / "img.jpg")
    d = {"images": [{"id": 1, "file_name": "img.jpg"}],
         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 100],
                          "keypoints": [20.0, 30.0, 2] * n_points}],
         "categories": [{"id": 1, "name": "person", "keypoints": names or []}]}
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize("case,message", [
    ("bad_json", "not valid JSON"),
    ("unknown_count", "19 keypoints per annotation match no known layout"),
    ("ambiguous_14", "14 keypoints could be CrowdPose or AI Challenger"),
    ("unknown_names", "match no known 17-point layout"),
    ("missing_images", "image 000000000785.jpg not found"),
    ("missing_path", "no such ground-truth file or folder"),
    ("empty_folder", "no ground-truth .json file"),
])
def test_unreadable_ground_truth_exits_2_naming_the_file(tmp_path, case, message, samples):
    target = tmp_path / "gt.json"
    if case == "bad_json":
        target.write_text('{"images": [')
    elif case == "unknown_count":
        _coco_file(tmp_path, 19, None)
    elif case == "ambiguous_14":
        _coco_file(tmp_path, 14, None)
    elif case == "unknown_names":
        _coco_file(tmp_path, 17, [f"joint{i}" for i in range(17)])
    elif case == "missing_images":          # the real COCO file without its image folder
        shutil.copy(GT / "coco" / "test_coco.json", target)
    elif case == "missing_path":
        target = tmp_path / "nowhere"
    elif case == "empty_folder":
        target = tmp_path
    r = cli("eval", "--gt", str(target))
    assert r.exit_code == 2, r.output
    assert message in r.output and str(target) in r.output.replace("\n", "")
    with pytest.raises(GtError):
        load_sets(target)


def test_image_folder_builds_as_one_frame_clips(tmp_path, samples):
    videos = tmp_path / "in" / "people"
    videos.mkdir(parents=True)
    for name in ("000000000785.jpg", "000000196141.jpg"):
        shutil.copy(GT / "coco" / name, videos / name)
    shutil.copy(GT / "300w" / "indoor_029.png", videos / "face.png")
    record = run_build(tmp_path / "in", tmp_path / "out", {"experts": {"body": ["pose"], "hands": [], "face": []},
                                                           "layouts": ["coco-17"]})
    m = {r["clip_id"]: r for r in pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()}
    assert set(m) == {"people/000000000785", "people/000000196141", "people/face"}
    for r in m.values():
        assert r["input_kind"] == "image" and r["n_frames"] == 1 and r["frame_timing"] == "still image: one frame"
        assert "track.min_frames 5 -> 1" in r["length_rules"]
        assert r["status"] == "ok" or (r["status"] == "filtered" and r["reason"]), r
        assert r.get("filter_rule") != "min_frames"      # the length rule never drops a still
    assert m["people/000000000785"]["status"] == "ok" and m["people/000000000785"]["n_persons"] >= 1
    assert record["counts"]["ok"] >= 1
    t = pq.read_table(next((tmp_path / "out" / "shards" / "coco-17").glob("*.parquet")))
    assert all(shape[1] == 1 for shape in t.column("keypoints_shape").to_pylist())      # T = 1


def test_eval_end_to_end_on_coco_beside_the_oracle(tmp_path, samples):
    out = tmp_path / "e2e.json"
    r = cli("eval", "--gt", str(GT / "coco" / "test_coco.json"), "--json", str(out))
    assert r.exit_code == 0, r.output
    assert "coco" in r.output and "recall" in r.output
    res = json.loads(out.read_text())
    (row,) = res["sets"]
    assert row["layout"] == "coco-17" and row["images"] == 4 and row["gt_persons"] > 0
    assert 0 < row["recall"] <= 1 and row["recalled"] <= row["gt_persons"] and row["false_persons"] >= 0
    for side in ("end_to_end", "oracle"):
        assert 0 <= row[side]["body_pck"] <= 1
        assert row[side]["body_points"]["predicted"] <= row[side]["body_points"]["labelled"]
    assert row["end_to_end"]["body_pck"] > 0 and row["oracle"]["body_pck"] > 0


def test_new_body_layouts_keep_left_and_right(samples):
    """CrowdPose, AIC, JHMDB and MPII mapped into the canonical body: the pipeline's left joints land nearer the
    ground truth's left joint than its right one more often than not (a swapped or shifted map inverts this)."""
    from dagfile import DAG
    from pipeline.eval_e2e import evaluate
    from schemas.config import BuildConfig
    cfg = BuildConfig.model_validate({"experts": {"body": ["pose"], "hands": [], "face": []}})
    for rel in ("crowdpose/test_crowdpose.json", "aic/test_aic.json", "jhmdb/test_jhmdb_sub1.json",
                "mpii/test_mpii.json"):
        (row,) = evaluate(GT / rel, cfg, DAG)["sets"]
        assert row["recall"] > 0, rel
        assert row["end_to_end"]["left_right_agreement"] > 0.5, (rel, row)
