"""End-to-end builds on the real sample clips (../shared/samples/videos)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.cache import Store
from pipeline.cli import app, set_dag
from pipeline.manifest import read_manifest
from schemas.labelmaps import ntu120
from schemas.layouts import LAYOUTS
from schemas.config import ExpertsConfig
from schemas.parquet import read_metadata
from tests.conftest import NTU_CLIP, VIDEOS, run_build, stage_videos
from workers.io.shard_codec import read_rows

DEFAULT = ExpertsConfig().body[0]        # the default whole-body expert (body, hands and face)

set_dag(dagfile.DAG)
# The sample's real NTU name is unknown; the test names it as a two-person NTU action (A055 "hugging other
# person", which is what it shows) so the NTU adapter's actor count and splits are exercised.
NTU_NAME = "S001C002P003R001A055_rgb.avi"


def computed(record) -> dict:
    """The stages that computed anything in this build (all others were cache hits or skipped)."""
    return {k: v for k, v in record["computed"].items() if v}


def manifest(out):
    return {r["clip_id"]: r for r in read_manifest(out).to_pylist()}


def shard_rows(out, layout):
    files = sorted((Path(out) / "shards" / layout).glob("*.parquet"))
    rows = [r for f in files for r in read_rows(f)]
    return rows, read_metadata(pq.read_schema(files[0])), files


def reshape(row, key="keypoints"):
    return np.asarray(row[key], dtype=np.float32).reshape(row[f"{key}_shape"])


def shard_bytes(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((Path(out) / "shards").rglob("*.parquet"))}


@pytest.fixture(scope="module")
def ntu(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("ntu")
    videos = stage_videos(root / "videos", NTU_CLIP, names=[NTU_NAME])
    out = root / "out"
    record = run_build(videos, out)
    return videos, out, record


@pytest.fixture
def ntu_private(ntu, tmp_path):
    """The module's build copied (cache included) for a test that rebuilds, changes params or adds cache entries:
    what one test does never reaches another, in any order."""
    videos, out, record = ntu
    mine = tmp_path / "own"
    shutil.copytree(out.parent, mine, symlinks=True)
    return mine / videos.relative_to(out.parent), mine / out.name, record


def test_ntu_two_person_clip(ntu):
    videos, out, record = ntu
    assert record["adapter"] == "ntu" and record["counts"] == {"ok": 1, "filtered": 0, "failed": 0}
    row = manifest(out)["S001C002P003R001A055"]
    assert row["status"] == "ok" and row["n_frames"] == 72 and row["n_persons"] == 2
    assert row["label"] == 54 and row["label_name"] == ntu120()[54]
    assert (row["split"], row["split_xsub"], row["split_xview"], row["split_xset"]) == ("val", "val", "train", "val")
    for s in ("probe", "frames", "detect", "pose", "convert"):
        assert len(row[f"{s}_key"]) == 64 and row[f"{s}_seconds"] >= 0 and row[f"{s}_cached"] is False

    det = Store(out / ".cache").load("detect", row["detect_key"]).arrays
    present = ~np.isnan(det["tracks"][det["actors"]][..., 0])
    assert present.shape == (2, 72)
    assert present.all(0).sum() >= 0.9 * 72, "both actors tracked through the hug (detector loses one: followed)"
    assert det["followed"][det["actors"]].any(), "the hug is bridged by following, not by interpolation"

    rows, meta, files = shard_rows(out, "ntu-x-118")
    assert [f.name for f in files] == ["val-00000-of-00001.parquet"]
    kp = reshape(rows[0])
    assert kp.shape == (2, 72, 118, 3) and rows[0]["n_frames"] == 72 and rows[0]["n_persons"] == 2
    body = kp[..., :25, 2].max(-1) > 0
    assert body.all(0).sum() >= 0.9 * 72, "both actors posed in at least 90% of frames"
    # two different people: their necks are far apart wherever both are posed in the first second
    both = body.all(0)[:30]
    neck_gap = np.linalg.norm(kp[0, :30, 1, :2] - kp[1, :30, 1, :2], axis=-1)[both]
    assert (neck_gap > 100).all()
    # missing joint: NaN coordinates with score 0, and only then
    assert np.array_equal(np.isnan(kp[..., 0]), kp[..., 2] == 0)
    # coordinates are original-frame pixels
    ok = kp[..., 2] > 0
    assert (kp[..., 0][ok] > -50).all() and (kp[..., 0][ok] < 1970).all() and (kp[..., 1][ok] < 1130).all()
    # hands and face found for the actors
    assert (kp[..., 25:67, 2] > 0).any() and (kp[..., 67:, 2] > 0).any()
    prov = np.asarray(rows[0]["provenance"], np.int8).reshape(kp.shape[:3])
    assert set(np.unique(prov)) <= {-2, -1, 0} and (prov[kp[..., 2] > 0] != -1).all()
    assert (prov[kp[..., 2] == 0] == -1).all()
    fc = np.asarray(rows[0]["frame_confidence"], np.float32).reshape(2, 72)
    assert ((fc >= 0) & (fc <= 1)).all() and fc.max() > 0.5
    assert json.loads(row["provenance"])["body"][DEFAULT] > 0.8
    kp3 = reshape(rows[0], "keypoints_3d")
    assert kp3.shape == (2, 72, 118, 4) and np.isfinite(kp3[..., :25, :3][kp3[..., :25, 3] > 0]).all()


def test_shard_metadata_is_enough_to_read_a_row(ntu):
    _, out, _ = ntu
    for name, layout in LAYOUTS.items():
        rows, meta, _ = shard_rows(out, name)
        assert meta["layout"] == name and meta["joint_names"] == layout.joint_names
        assert meta["edges"] == [list(e) for e in layout.edges]
        assert meta["channels"] == ["x", "y", "score"] and meta["fps"] == 30 and meta["shape_order"] == "MTVC"
        assert {e["name"] for e in meta["experts"]} == {"blazepose-detector", DEFAULT}
        assert meta["provenance_experts"] == [DEFAULT]
        assert all(len(e["model_sha256"]) == 64 for e in meta["experts"])
        M, T, V, C = rows[0]["keypoints_shape"]
        assert V == len(meta["joint_names"]) and C == len(meta["channels"])
    table = pq.read_table(next((out / "shards" / "coco-17").glob("*.parquet")))
    assert table.schema.field("keypoints").type.value_type == "int32"                # quantised: shard_codec
    assert read_metadata(table.schema)["keypoints_scale"] == [16, 16, 255]


def test_second_build_computes_nothing(ntu_private):
    videos, out, _ = ntu_private
    before = shard_bytes(out)
    record = run_build(videos, out)
    assert set(record["computed"].values()) == {0}, record["computed"]
    assert all(manifest(out)["S001C002P003R001A055"][f"{s}_cached"] for s in ("probe", "frames", "pose"))
    assert shard_bytes(out) == before


def test_convert_param_change_reruns_only_convert_and_shards(ntu_private):
    videos, out, _ = ntu_private
    record = run_build(videos, out, {"convert": {"min_score": 0.5}})
    assert computed(record) == {"convert": 1, "shards": 1}
    kp = reshape(shard_rows(out, "coco-17")[0][0])
    assert ((kp[..., 2] == 0) | (kp[..., 2] >= 0.5)).all()
    record = run_build(videos, out, {"shards": {"clips_per_shard": 5}, "convert": {"min_score": 0.5}})
    assert computed(record) == {"shards": 1}


def test_only_from_force(ntu_private):
    videos, out, _ = ntu_private
    r = run_build(videos, out, only="convert")
    assert computed(r) == {"convert": 1} and r["computed"]["shards"] == 0     # same convert keys: shards kept
    r = run_build(videos, out, start="convert")
    assert computed(r) == {"convert": 1, "shards": 1, "report": 1}
    r = run_build(videos, out, only="shards")
    assert computed(r) == {"shards": 1}
    # --only on a stage whose inputs were never cached: a failed row saying what to do, no crash
    fresh = out.parent / "fresh-out"
    r = run_build(videos, fresh, only="convert")
    row = manifest(fresh)["S001C002P003R001A055"]
    assert row["status"] == "failed" and row["stage"] == "probe" and "run a full build" in row["reason"]


def test_force_and_determinism(ntu_private, tmp_path):
    """--force recomputes every stage into a second output; shards are byte-identical to the first build."""
    videos, out, _ = ntu_private
    out2 = tmp_path / "again"
    r = run_build(videos, out2, {"cache": {"dir": str(out / ".cache")}}, force=True)
    assert computed(r) == dict.fromkeys(["probe", "frames", "detect", "pose", "refine", "fit3d", "quality", "filter",
                                         "flow", "convert", "labels", "shards", "report"], 1)
    assert shard_bytes(out2) == shard_bytes(out)


def test_frame_rates_25_and_60(tmp_path, samples):
    videos = stage_videos(tmp_path / "v", VIDEOS / "misc/lab_walk_60fps_h264.mp4",
                          VIDEOS / "misc/mpeg4_25fps_320x240.avi", names=["walk/a.mp4", "walk/b.avi"])
    run_build(videos, tmp_path / "out")
    m = manifest(tmp_path / "out")
    assert (m["walk/a"]["n_frames"], m["walk/b"]["n_frames"]) == (50, 197)
    rows, _, _ = shard_rows(tmp_path / "out", "posetics-17")
    assert {r["clip_id"]: r["keypoints_shape"][1] for r in rows} == {"walk/a": 50, "walk/b": 197}
    # keyframe detection (default stride 10): one person, no meeting: the detector skips most frames, the
    # skipped ones say -1, and the actor is observed (detected or vouched for) on every frame
    from pipeline.cache import Store
    det = Store(tmp_path / "out" / ".cache").load("detect", m["walk/b"]["detect_key"])
    counts = det.arrays["detections_per_frame"]
    assert det.meta["detector_frames"] == (counts >= 0).sum() < 197 / 2
    assert (counts[counts >= 0] >= 1).all() and set(np.unique(counts[counts < 0])) == {-1}
    assert det.arrays["observed"][det.arrays["actors"][0]].all()


def test_kinetics_class_folder(tmp_path, samples):
    out = tmp_path / "out"
    record = run_build(VIDEOS / "kinetics", out, {"frames": {"max_frames": 12}, "layouts": ["coco-17"],
                                                  "filter": {"min_frames": None}})
    assert record["adapter"] == "folders"
    m = manifest(out)
    assert {r["label_name"]: r["label"] for r in m.values()} == {
        "arm_wrestling": 0, "clean_and_jerk": 1, "skateboarding": 2, "tai_chi": 3}
    assert all(r["n_frames"] == 12 for r in m.values())
    for clip in ("tai_chi/ta_chi", "clean_and_jerk/clean_and_jerk"):   # one athlete, whole body in view
        assert m[clip]["status"] == "ok" and m[clip]["n_persons"] == 1
    for r in m.values():               # close-ups may find nobody or too little in 12 frames: filtered rows
        assert r["status"] == "ok" or (r["status"] == "filtered" and r["filter_rule"])
    rows, meta, files = shard_rows(out, "coco-17")
    assert [r["clip_id"] for r in rows] == sorted(c for c, r in m.items() if r["status"] == "ok")


def _corrupt_folder(root: Path) -> Path:
    bad = root / "bad"
    bad.mkdir(parents=True)
    (bad / "zero.mp4").write_bytes(b"")
    (bad / "text.mp4").write_text("this is a text file, not a video\n")
    data = (VIDEOS / "misc/mpeg4_25fps_320x240.avi").read_bytes()
    (bad / "cut_avi.avi").write_bytes(data[: len(data) // 2])
    data = (VIDEOS / "kinetics/skateboarding/skateboarding.mp4").read_bytes()
    (bad / "cut_mp4.mp4").write_bytes(data[: len(data) // 3])
    import av
    with av.open(str(bad / "audio_only.mp4"), "w") as c:          # a real file with no video stream
        s = c.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for i in range(10):
            frame.pts = i * 1024
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    shutil.copy(VIDEOS / "misc/carphone_face_176x144.mp4", root / "good.mp4")
    return root


def test_corrupt_inputs_are_failed_rows(tmp_path, samples):
    videos = _corrupt_folder(tmp_path / "v")
    out = tmp_path / "out"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("frames: {max_frames: 10}\nlayouts: [coco-17]\nfilter: {min_frames: null}\n")
    r = CliRunner().invoke(app, ["build", "--videos", str(videos), "--out", str(out), "--config", str(cfg),
                                 "--workers", "0"])
    assert r.exit_code == 0, r.output
    m = manifest(out)
    assert len(m) == 6
    assert m["good"]["status"] == "ok"
    expect = {"bad/zero": "empty file", "bad/text": "not a readable media file", "bad/audio_only": "no video stream",
              "bad/cut_avi": "truncated"}
    for clip, reason in expect.items():
        assert m[clip]["status"] == "failed" and reason in m[clip]["reason"], m[clip]
    assert m["bad/cut_mp4"]["status"] == "failed"     # moov atom at the end: unreadable as a container
    assert all(m[c]["stage"] in ("probe", "frames") for c in m if c != "good")
    # failures are results too: a second build recomputes nothing
    r2 = CliRunner().invoke(app, ["build", "--videos", str(videos), "--out", str(out), "--config", str(cfg),
                                  "--workers", "0"])
    assert r2.exit_code == 0
    assert set(json.loads((out / "build.json").read_text())["computed"].values()) == {0}
    s = json.loads(CliRunner().invoke(app, ["inspect", str(out), "--json"]).output)
    assert s["status"] == {"ok": 1, "filtered": 0, "failed": 5}
    assert s["layouts"]["coco-17"]["clips"] == 1
    assert s["report"].endswith("report/index.html") and s["classes_file"].endswith("classes.json")


def test_dask_local_cluster_matches_in_process(tmp_path, samples):
    videos = _corrupt_folder(tmp_path / "v")
    cfg = {"frames": {"max_frames": 8}, "layouts": ["posetics-17"], "filter": {"min_frames": None}}
    run_build(videos, tmp_path / "inproc", cfg, workers=0)
    record = run_build(videos, tmp_path / "dask", cfg, workers=2)
    assert record["workers"] == 2 and record["counts"] == {"ok": 1, "filtered": 0, "failed": 5}
    a, b = manifest(tmp_path / "inproc"), manifest(tmp_path / "dask")
    for clip in a:
        assert (a[clip]["status"], a[clip]["reason"], a[clip]["convert_key"]) == \
               (b[clip]["status"], b[clip]["reason"], b[clip]["convert_key"])
    assert shard_bytes(tmp_path / "inproc") == shard_bytes(tmp_path / "dask")


def test_scheduler_attaches_to_an_existing_cluster(tmp_path, samples):
    from distributed import LocalCluster

    from tests.conftest import run_build as rb
    videos = stage_videos(tmp_path / "v", VIDEOS / "misc/mpeg4_25fps_320x240.avi")
    cfg = {"frames": {"max_frames": 6}, "layouts": ["coco-17"], "filter": {"min_frames": None}}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        record = rb(videos, tmp_path / "out", cfg, workers=1, scheduler=cluster.scheduler_address)
    assert record["scheduler"] == cluster.scheduler_address
    assert record["counts"]["ok"] == 1 and manifest(tmp_path / "out")["mpeg4_25fps_320x240"]["n_frames"] == 6


def test_several_experts_per_part_with_per_expert_cache(ntu_private, tmp_path):
    """Fused shards with provenance from several experts; adding an expert computes only that expert."""
    videos, out, _ = ntu_private
    cache = {"cache": {"dir": str(out / ".cache")}}
    cfg = {**cache, "layouts": ["ntu-x-118"],
           "experts": {"body": [DEFAULT, "pose"], "hands": [DEFAULT, "hands"], "face": [DEFAULT, "facemesh"]}}
    dest = tmp_path / "multi"
    r = run_build(videos, dest, cfg)
    assert r["computed"]["detect"] == 0 and r["computed"]["pose"] == 1   # detect reused from the first build
    row = manifest(dest)["S001C002P003R001A055"]
    pose = Store(out / ".cache").load("pose", row["pose_key"]).meta["experts"]
    assert {n: v["computed"] for n, v in pose.items()} == {DEFAULT: False, "pose": True, "hands": True,
                                                           "facemesh": True}
    shares = json.loads(row["provenance"])
    assert set(shares["face"]) >= {DEFAULT, "facemesh"} and set(shares["left_hand"]) >= {DEFAULT, "hands"}
    rows, meta, _ = shard_rows(dest, "ntu-x-118")
    assert meta["provenance_experts"] == [DEFAULT, "pose", "hands", "facemesh"]
    kp = reshape(rows[0])
    prov = np.asarray(rows[0]["provenance"], np.int8).reshape(kp.shape[:3])
    assert {0, 3} <= set(np.unique(prov[..., 67:])) and set(np.unique(prov[..., 25:67])) >= {0, 2}
    # one more face expert: only it runs
    cfg["experts"] = {**cfg["experts"], "face": [DEFAULT, "facemesh", "dlib68"]}
    r = run_build(videos, dest, cfg)
    pose = Store(out / ".cache").load("pose", manifest(dest)["S001C002P003R001A055"]["pose_key"]).meta["experts"]
    assert [n for n, v in pose.items() if v["computed"]] == ["dlib68"]
    assert r["computed"]["detect"] == 0 and r["computed"]["refine"] == 1


def test_filter_rules_and_threshold_changes(ntu_private, tmp_path):
    """Rules name what filtered a clip and the measured value; changing a threshold re-runs filter onwards only."""
    videos, out, _ = ntu_private
    base = {"cache": {"dir": str(out / ".cache")}, "layouts": ["coco-17"]}
    dest = tmp_path / "f"
    r = run_build(videos, dest, {**base, "filter": {"min_confidence": 0.99}})
    row = manifest(dest)["S001C002P003R001A055"]
    assert (row["status"], row["stage"], row["filter_rule"]) == ("filtered", "filter", "min_confidence")
    assert 0 < row["filter_value"] < 0.99 and row["filter_threshold"] == 0.99 and "confidence" in row["reason"]
    assert 0 < row["pose_ratio"] <= 1 and set(json.loads(row["quality"])) == {"body", "left_hand", "right_hand",
                                                                             "face"}
    assert computed(r) == {"filter": 1, "labels": 1, "shards": 1, "report": 1}   # scores cached; new OUT
    assert not list((dest / "shards" / "coco-17").glob("*.parquet"))
    r = run_build(videos, dest, {**base, "filter": {"min_part_present": {"face": 0.99}}})
    row = manifest(dest)["S001C002P003R001A055"]
    assert row["filter_rule"] == "min_part_present.face" and row["filter_value"] < 0.99
    r = run_build(videos, dest, base)
    assert manifest(dest)["S001C002P003R001A055"]["status"] == "ok"
    # default thresholds: filter's result is a cache hit (the first build had them); flow (disabled: an empty
    # result) and convert run for the first time here, since the clip was filtered in the two builds before;
    # classes.json's kept-clip count changes
    assert computed(r) == {"flow": 1, "convert": 1, "labels": 1, "shards": 1, "report": 1}


def test_max_rules_over_part_violations_and_identity_switches(ntu_private, tmp_path):
    """The new measures are filter rules (upper bounds), re-applied from the cached scores: pose never re-runs."""
    from workers.curation.rules import apply_rules
    scores = {"n_frames": 30, "pose_ratio": 1.0, "confidence": 0.9, "identity_switches": 2,
              "part_violation_share": 0.25}
    assert apply_rules(scores, {"max_identity_switches": 2, "max_part_violations": 0.25}, {}) is None
    fail = apply_rules(scores, {"max_identity_switches": 1}, {})
    assert fail["rule"] == "max_identity_switches" and fail["value"] == 2 and "identity switches" in fail["reason"]
    assert apply_rules(scores, {"max_part_violations": 0.2}, {})["rule"] == "max_part_violations"

    videos, out, _ = ntu_private
    base = {"cache": {"dir": str(out / ".cache")}, "layouts": ["coco-17"]}
    dest = tmp_path / "m"
    r = run_build(videos, dest, {**base, "filter": {"max_part_violations": 0.0, "max_identity_switches": 0}})
    row = manifest(dest)["S001C002P003R001A055"]
    parts = json.loads(row["quality"])
    share = max(parts[p].get("violations", 0) for p in ("left_hand", "right_hand", "face")) / (
        row["n_persons"] * row["n_frames"])
    assert row["identity_switches"] == 0
    assert (row["status"] == "filtered" and row["filter_rule"] == "max_part_violations"
            and row["filter_value"] == round(share, 4)) if share > 0 else row["status"] == "ok"
    assert not any(r["computed"][s] for s in ("probe", "frames", "detect", "pose", "refine", "quality"))
