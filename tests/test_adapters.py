"""Input adapters: NTU names, class folders, CSV manifest, Kinetics CSV; automatic choice."""
from pathlib import Path

import pytest

from pipeline.adapters import AdapterError, choose, discover
from pipeline.adapters.ntu import item_for
from schemas.config import BuildConfig
from schemas.labelmaps import ntu120
from tests.conftest import SAMPLES


def touch(root: Path, *names: str) -> Path:
    for n in names:
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    return root


def test_label_map_is_the_ntu120_list(samples):
    shared = [l.strip() for l in (SAMPLES / "label_map_ntu120.txt").read_text().splitlines() if l.strip()]
    assert list(ntu120()) == shared and len(shared) == 120


def test_ntu_names():
    it = item_for(Path("S001C002P003R002A055_rgb.avi"), "xsub")
    assert it.clip_id == "S001C002P003R002A055"
    assert it.label == 54 and it.label_name == ntu120()[54] and it.expected_persons == 2
    assert it.extra == {"split_xsub": "val", "split_xview": "train", "split_xset": "val"}
    it = item_for(Path("S018C001P008R001A120.avi"), "xset")
    assert (it.label, it.expected_persons, it.split) == (119, 2, "train")
    assert it.extra["split_xview"] == "val" and it.extra["split_xsub"] == "train"
    assert item_for(Path("S002C003P007R001A001_rgb.avi"), "xsub").expected_persons == 1
    assert item_for(Path("S002C003P007R001A106_rgb.avi"), "xsub").expected_persons == 2
    with pytest.raises(AdapterError):
        item_for(Path("S001C001P001R001A121_rgb.avi"), "xsub")


def test_auto_choice_and_folders(tmp_path):
    cfg = BuildConfig()
    ntu = touch(tmp_path / "ntu", "S001C001P001R001A001_rgb.avi", "S001C001P001R001A050_rgb.avi")
    assert choose(ntu, cfg) == "ntu"
    name, items = discover(ntu, cfg)
    assert [i.expected_persons for i in items] == [1, 2]
    f = touch(tmp_path / "f", "b_class/x.mp4", "a_class/y.mp4", "a_class/deeper/z.mkv", "readme.txt")
    name, items = discover(f, cfg)
    assert name == "folders"
    assert [(i.clip_id, i.label_name, i.label) for i in items] == [
        ("a_class/deeper/z", "deeper", 2), ("a_class/y", "a_class", 0), ("b_class/x", "b_class", 1)]


def test_csv_manifest(tmp_path):
    root = touch(tmp_path / "v", "one.mp4", "sub/two.avi")
    csv = tmp_path / "m.csv"
    csv.write_text("path,label,split\none.mp4,jump,train\nsub/two.avi,run,val\nmissing.mp4,jump,\n")
    cfg = BuildConfig.model_validate({"dataset": {"csv": str(csv)}})
    name, items = discover(root, cfg)
    assert name == "csv"
    assert [(i.clip_id, i.label, i.label_name, i.split) for i in items] == [
        ("missing", 0, "jump", "train"), ("one", 0, "jump", "train"), ("sub/two", 1, "run", "val")]
    bad = tmp_path / "bad.csv"
    bad.write_text("file,class\n")
    with pytest.raises(AdapterError, match="missing column"):
        discover(root, BuildConfig.model_validate({"dataset": {"csv": str(bad)}}))


def test_kinetics_csv(tmp_path):
    root = touch(tmp_path / "k", "tai chi/abc_000010_000020.mp4", "zumba/xyz_000000_000010.mp4")
    csv = tmp_path / "kinetics.csv"
    csv.write_text("label,youtube_id,time_start,time_end,split\n"
                   "tai chi,abc,10,20,train\nzumba,xyz,0,10,val\nzumba,gone,5,15,val\n")
    cfg = BuildConfig.model_validate({"dataset": {"csv": str(csv)}})
    name, items = discover(root, cfg)
    assert name == "kinetics"
    got = {i.clip_id: (i.label, i.label_name, i.split, Path(i.path).exists()) for i in items}
    assert got == {"abc_000010_000020": (0, "tai chi", "train", True),
                   "xyz_000000_000010": (1, "zumba", "val", True),
                   "gone_000005_000015": (1, "zumba", "val", False)}


def test_duplicate_clip_ids(tmp_path):
    root = touch(tmp_path / "d", "S001C001P001R001A001_rgb.avi", "x/S001C001P001R001A001.avi")
    with pytest.raises(AdapterError, match="duplicate clip ids"):
        discover(root, BuildConfig())


def test_folders_list_still_images_with_their_kind_and_length_rules(tmp_path):
    """Images are inputs of the folders adapter; the kind comes from the content (a real JPEG from the GT
    samples, and an empty file named .png, which is no image and stays a 'video' to fail at probe)."""
    root = tmp_path / "f"
    (root / "people").mkdir(parents=True)
    jpg = root / "people" / "a.jpg"
    jpg.write_bytes((SAMPLES / "gt" / "coco" / "000000000785.jpg").read_bytes())
    touch(root, "people/empty.png", "people/v.mp4")
    name, items = discover(root, BuildConfig())
    kinds = {i.clip_id: (i.extra["input_kind"], i.extra["length_rules"]) for i in items}
    assert name == "folders"
    assert kinds["people/a"] == ("image", "track.min_frames 5 -> 1; filter.min_frames 15 -> 1 (image: one frame)")
    assert kinds["people/empty"] == ("video", None) and kinds["people/v"] == ("video", None)
    # a length rule switched off in the config stays off for a still
    cfg = BuildConfig.model_validate({"filter": {"min_frames": None}, "track": {"min_frames": 3}})
    assert {i.clip_id: i.extra["length_rules"] for i in discover(root, cfg)[1]}["people/a"] == \
        "track.min_frames 3 -> 1 (image: one frame)"
