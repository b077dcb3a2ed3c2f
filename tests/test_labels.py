"""Label merging, class ids, stratified splits (unit), and the labels stage in a real build."""
import json

import pytest

from pipeline.build import BuildError
from tests.conftest import VIDEOS, run_build
from workers.curation.labels import LabelMapError, check_map, read_map, stratified_split


def test_map_formats_and_validation(tmp_path):
    y = tmp_path / "m.yaml"
    y.write_text("making food: [making cake, making sushi, making pizza]\nrunning: [jogging]\n")
    m = read_map(y)
    assert m == {"making cake": "making food", "making sushi": "making food", "making pizza": "making food",
                 "jogging": "running"}
    c = tmp_path / "m.csv"
    c.write_text("source,target\nmaking cake,making food\njogging,running\n")
    assert read_map(c) == {"making cake": "making food", "jogging": "running"}
    bad = tmp_path / "b.yaml"
    bad.write_text("a: [x]\nb: [x]\n")
    with pytest.raises(LabelMapError, match="two targets"):
        read_map(bad)
    with pytest.raises(LabelMapError) as e:
        check_map(m, {"making cake", "tai chi", "zumba"}, keep_unmapped=False)
    assert "tai chi" in str(e.value) and "zumba" in str(e.value) and "making sushi" in str(e.value)
    check_map({"making cake": "food"}, {"making cake", "tai chi"}, keep_unmapped=True)


def test_stratified_split_is_seeded_per_class_and_stable():
    clips = [f"c{i:03d}" for i in range(100)]
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    s = stratified_split(clips, labels, {"train": 0.8, "val": 0.2}, seed=0)
    for lab, n in (("a", 50), ("b", 30), ("c", 20)):
        assert sum(s[c] == "val" for c, l in zip(clips, labels) if l == lab) == round(0.2 * n)
    assert s == stratified_split(clips, labels, {"train": 0.8, "val": 0.2}, seed=0)
    assert s != stratified_split(clips, labels, {"train": 0.8, "val": 0.2}, seed=1)
    more = stratified_split(clips + ["d1", "d2"], labels + ["d", "d"], {"train": 0.8, "val": 0.2}, seed=0)
    assert all(more[c] == s[c] for c in clips)             # another class's clips change nothing


def test_labels_stage_in_a_build(tmp_path, samples):
    m = tmp_path / "map.yaml"
    m.write_text("martial arts and lifting: [tai_chi, clean_and_jerk]\nboard and arm sports: [skateboarding, "
                 "arm_wrestling]\n")
    cfg = {"frames": {"max_frames": 20}, "layouts": ["coco-17"], "labels": {"map": str(m)},
           "splits": {"method": "stratified", "val_fraction": 0.5, "seed": 3}, "filter": {"min_frames": None,
                                                                                         "min_pose_ratio": None}}
    out = tmp_path / "out"
    run_build(VIDEOS / "kinetics", out, cfg)
    classes = json.loads((out / "classes.json").read_text())
    assert [(c["id"], c["name"]) for c in classes] == [(0, "board and arm sports"), (1, "martial arts and lifting")]
    assert classes[1]["sources"] == ["clean_and_jerk", "tai_chi"]
    from pipeline.manifest import read_manifest
    rows = {r["clip_id"]: r for r in read_manifest(out).to_pylist()}
    assert rows["tai_chi/ta_chi"]["label_name"] == "martial arts and lifting"
    assert rows["tai_chi/ta_chi"]["source_label_name"] == "tai_chi" and rows["tai_chi/ta_chi"]["label"] == 1
    ok = [r for r in rows.values() if r["status"] == "ok"]
    assert {r["split"] for r in ok} <= {"train", "val"}
    shards = sorted(p.name for p in (out / "shards" / "coco-17").glob("*.parquet"))
    assert shards == sorted({f"{r['split']}-00000-of-00001.parquet" for r in ok})
    bad = tmp_path / "bad.yaml"
    bad.write_text("sports: [skateboarding, surfing]\n")
    with pytest.raises(BuildError, match="surfing"):
        run_build(VIDEOS / "kinetics", tmp_path / "o2", {**cfg, "labels": {"map": str(bad)}})
    assert not (tmp_path / "o2" / ".cache" / "frames").exists()
