"""Shard storage (format 2, workers/io/shard_codec.py): quantised keypoints round-trip within the stated precision
(1/32 px, 0.5 mm, 1/510 for scores), NaN (missing) survives as null, the metadata says how to decode, the bytes
are deterministic, and the README's recipes (pyarrow + numpy, pandas, polars, duckdb) give the arrays our readers
give. Arrays here are made up (seeded random, or small by hand), not real clips; benchmarks/storage.py measures
real ones."""
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.parquet import SHARD_SCHEMA, layout_metadata, schema_with_metadata
from workers.io.parquet_shards import write_split
from workers.io.shard_codec import decode, encode, read_rows

CLIPS = [{"clip_id": f"c{i}", "label": i % 2, "label_name": f"l{i % 2}", "split": "train"} for i in range(3)]


def _arrays(seed: int = 0) -> dict:
    """Per clip (kp (M, T, V, 3), kp3d (M, T, V, 4)): wide coordinate ranges, ~30 % missing joints (NaN, score 0),
    and some positive scores below 1/510."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, c in enumerate(CLIPS):
        M, T, V = 1 + i % 2, 20 + 7 * i, 17
        kp = np.empty((M, T, V, 3), np.float32)
        kp[..., :2] = rng.uniform(-200, 4200, size=(M, T, V, 2))
        kp[..., 2] = rng.uniform(0, 1, size=(M, T, V))
        kp[..., 2][rng.random((M, T, V)) < 0.05] = rng.uniform(1e-6, 1 / 510, size=1)[0]
        missing = rng.random((M, T, V)) < 0.3
        kp[missing] = [np.nan, np.nan, 0.0]
        k3 = np.empty((M, T, V, 4), np.float32)
        k3[..., :3] = rng.uniform(-12, 12, size=(M, T, V, 3))
        k3[..., 3] = kp[..., 2]
        k3[missing] = [np.nan, np.nan, np.nan, 0.0]
        out[c["clip_id"]] = (kp, k3)
    return out


def _write(dest, arrays, layout="coco-17"):
    schema = schema_with_metadata(layout_metadata(layout, 30, [], "test", []))
    return write_split(dest, "train", CLIPS, lambda c: (*arrays[c["clip_id"]], None, None), schema, 10, 2, 3)


@pytest.fixture
def shard(tmp_path):
    arrays = _arrays()
    return _write(tmp_path / "a", arrays)[0], arrays


def test_exact_codes_of_a_tiny_hand_made_array():
    kp = np.array([[[[1.0, -2.5, 0.5], [np.nan, np.nan, 0.0], [4000.0, 0.0625, 1e-4]]]], np.float32)  # (1,1,3,3)
    stored = encode(kp, (16, 16, 255))
    # 0.5 * 255 = 127.5 rounds half to even -> 128; a positive score under 1/510 is stored as 1 (stays present)
    assert stored.to_pylist() == [16, -40, 128, None, None, 0, 64000, 1, 1]
    back = decode(stored, kp.shape, (16, 16, 255))
    want = np.array([[[[1.0, -2.5, 128 / 255], [np.nan, np.nan, 0.0], [4000.0, 0.0625, 1 / 255]]]], np.float32)
    np.testing.assert_array_equal(back, want)
    k3 = np.array([[[[0.25, -1.0, 2.0, 1.0], [np.nan, np.nan, np.nan, 0.0]]]], np.float32)
    assert encode(k3, (1000, 1000, 1000, 255)).to_pylist() == [250, -1000, 2000, 255, None, None, None, 0]


def test_values_beyond_int32_are_refused():
    with pytest.raises(ValueError, match="int32"):
        encode(np.array([[3e8, 0.0, 1.0]], np.float32), (16, 16, 255))


def test_round_trip_error_within_the_stated_precision(shard):
    path, arrays = shard
    rows = read_rows(path)
    assert [r["clip_id"] for r in rows] == [c["clip_id"] for c in CLIPS]
    for r in rows:
        kp, k3 = arrays[r["clip_id"]]
        for got, orig, bound in ((r["keypoints"], kp, [1 / 32, 1 / 32]), (r["keypoints_3d"], k3, [5e-4] * 3)):
            assert got.dtype == np.float32 and got.shape == orig.shape
            assert (np.isnan(got) == np.isnan(orig)).all()                    # NaN <-> null, both ways
            ok = ~np.isnan(orig[..., 0])
            err = np.abs(got.astype(np.float64) - orig.astype(np.float64))[ok]
            assert (err[:, :-1] <= np.array(bound) + 1e-6 * (len(bound) == 3)).all(), err[:, :-1].max(0)
            s, sg = orig[..., -1].astype(np.float64), got[..., -1].astype(np.float64)
            tiny = (s > 0) & (s < 1 / 510)
            assert tiny.any() and np.allclose(sg[tiny], 1 / 255)             # stays present: 1/255
            assert (np.abs(sg - s)[~tiny] <= 1 / 510 + 1e-7).all()
            assert ((sg > 0) == (s > 0)).all()
        assert np.abs(r["keypoints"][..., :2] - kp[..., :2])[~np.isnan(kp[..., :2])].max() > 1 / 64   # quantised


def test_metadata_states_the_decode_rule_and_columns_are_int32_byte_stream_split(shard):
    path, _ = shard
    schema = pq.read_schema(path)
    meta = json.loads(schema.metadata[b"skelforge"])
    assert meta["shard_format"] == 2 and meta["layout"] == "coco-17"
    assert meta["keypoints_scale"] == [16, 16, 255] and meta["keypoints_3d_scale"] == [1000, 1000, 1000, 255]
    assert "1/16 px" in meta["decode"] and "null = NaN" in meta["decode"]
    assert schema.field("keypoints").type == pa.list_(pa.int32())
    assert schema.field("keypoints_3d").type == pa.list_(pa.int32())
    md = pq.ParquetFile(path).metadata
    enc = {md.row_group(0).column(i).path_in_schema: md.row_group(0).column(i).encodings
           for i in range(md.num_columns)}
    assert "BYTE_STREAM_SPLIT" in enc["keypoints.list.element"]
    assert "BYTE_STREAM_SPLIT" in enc["keypoints_3d.list.element"]
    assert not any("DICTIONARY" in e for e in enc["keypoints.list.element"])


def test_a_schema_without_metadata_still_gets_the_decode_rule(tmp_path):
    arrays = _arrays(1)
    path = write_split(tmp_path, "train", CLIPS, lambda c: (*arrays[c["clip_id"]], None, None), SHARD_SCHEMA,
                       10, 2, 3)[0]
    assert json.loads(pq.read_schema(path).metadata[b"skelforge"])["keypoints_scale"] == [16, 16, 255]
    kp = arrays["c0"][0]
    np.testing.assert_allclose(read_rows(path)[0]["keypoints"], kp, atol=1 / 32, rtol=0)


def test_same_input_same_bytes(tmp_path):
    a = _write(tmp_path / "a", _arrays(2))[0].read_bytes()
    b = _write(tmp_path / "b", _arrays(2))[0].read_bytes()
    assert a == b


def _readme_recipe(path):
    """The README's pyarrow + numpy recipe (its first python block after **Shards**), run as written apart from
    the file path; returns its `kp`."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text[text.index("**Shards**"):].split("```python\n", 1)[1].split("```", 1)[0]
    code = re.sub(r'pq\.read_table\("[^"]+"\)', "pq.read_table(PATH)", block)
    assert "PATH" in code and "keypoints_scale" in code
    scope = {"PATH": str(path)}
    exec(code.replace('meta["joint_names"].index("LWrist")', "0"), scope)       # coco-17 has no LWrist
    return scope["kp"]


def test_readme_recipes_and_other_readers_decode_to_the_same_arrays(shard):
    import duckdb
    import pandas as pd
    import polars as pl
    path, _ = shard
    ours = read_rows(path)
    scale = np.float32(json.loads(pq.read_schema(path).metadata[b"skelforge"])["keypoints_scale"])
    np.testing.assert_array_equal(_readme_recipe(path), ours[0]["keypoints"])
    df = pd.read_parquet(path)
    pol = pl.read_parquet(path)
    dk = duckdb.sql(f"SELECT keypoints, keypoints_shape FROM '{path}' ORDER BY clip_id").fetchall()
    for i, r in enumerate(ours):
        shape = r["keypoints_shape"]
        via_pandas = np.asarray(df["keypoints"][i], np.float32).reshape(shape) / scale
        via_polars = pol["keypoints"][i].to_numpy().astype(np.float32).reshape(shape) / scale
        via_duckdb = np.asarray(dk[i][0], np.float32).reshape(dk[i][1]) / scale
        for got in (via_pandas, via_polars, via_duckdb):
            np.testing.assert_array_equal(got, r["keypoints"])


def test_format_1_float_shards_still_read(tmp_path):
    """A shard written before format 2 (float32 columns, no scales in the metadata) reads as stored."""
    arrays = _arrays(3)
    old = pa.schema([pa.field(f.name, pa.list_(pa.float32()), f.nullable) if f.name in ("keypoints", "keypoints_3d")
                     else f for f in SHARD_SCHEMA])
    old = old.with_metadata({"skelforge": json.dumps(layout_metadata("coco-17", 30, [], "0.0", []))})
    rows = [{**c, "n_frames": arrays[c["clip_id"]][0].shape[1], "n_persons": arrays[c["clip_id"]][0].shape[0],
             "keypoints": arrays[c["clip_id"]][0].ravel(), "keypoints_shape": list(arrays[c["clip_id"]][0].shape),
             "keypoints_3d": arrays[c["clip_id"]][1].ravel(), "keypoints_3d_shape": list(arrays[c["clip_id"]][1].shape),
             "provenance": None, "frame_confidence": None, "smplx_params": None, "smplx_params_shape": None}
            for c in CLIPS]
    path = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=old), path)
    for r in read_rows(path):
        np.testing.assert_array_equal(r["keypoints"], arrays[r["clip_id"]][0])
        np.testing.assert_array_equal(r["keypoints_3d"], arrays[r["clip_id"]][1])


def test_shard_dataset_and_clip_reader_decode(tmp_path):
    """ShardDataset (normalize="none") and iter_clips see pixels, not the stored integers, for old and new files."""
    from workers.data.dataset import ShardDataset
    from workers.io.shard_reader import iter_clips
    arrays = _arrays(4)
    _write(tmp_path / "shards" / "coco-17", arrays)
    pq.write_table(pa.Table.from_pylist([{"clip_id": c["clip_id"], "width": 4000, "height": 4000} for c in CLIPS]),
                   tmp_path / "manifest.parquet")
    for c in iter_clips(tmp_path, "coco-17"):
        kp, k3 = arrays[c["clip_id"]]
        np.testing.assert_allclose(c["keypoints"][..., :2], kp[..., :2], atol=1 / 32, rtol=0)
        np.testing.assert_allclose(c["keypoints_3d"][..., :3], k3[..., :3], atol=5e-4 + 1e-6, rtol=0)
        np.testing.assert_allclose(c["keypoints"][..., 2], kp[..., 2], atol=1 / 255, rtol=0)
    ds = ShardDataset(tmp_path, "coco-17", length=8, max_persons=2, normalize="none")
    for i, c in enumerate(CLIPS):
        kp = arrays[c["clip_id"]][0]
        T = kp.shape[1]
        idx = np.linspace(0, T - 1, 8).round().astype(int)
        ok = kp[:, idx][..., 2] > 0
        want = np.where(ok[..., None], kp[:, idx], 0).transpose(3, 1, 2, 0)       # (C, T, V, M)
        got = ds.array(i)[..., :kp.shape[0]]
        np.testing.assert_allclose(got[:2], np.nan_to_num(want[:2]), atol=1 / 32, rtol=0)
        np.testing.assert_allclose(got[2], want[2], atol=1 / 255, rtol=0)


def test_shards_are_smaller_than_the_float16_pyskl_pickle(tmp_path):
    """SYNTHETIC content (tests/synthetic_shards.py: every joint present, pixel noise): the shards against the
    pyskl export's float16 annotations of the same clips (the export itself needs a real build's manifest:
    benchmarks/storage.py runs it on real clips)."""
    from tests.synthetic_shards import write_build
    from workers.io.export_pyskl import annotation
    from workers.io.shard_reader import iter_clips
    out = write_build(tmp_path / "out", n_train=16, n_val=8, T=64)
    anns = [annotation(c, np.float16) for c in iter_clips(out, "ntu-x-118")]
    assert anns[0]["keypoint"].dtype == np.float16 and anns[0]["keypoint_score"].dtype == np.float16
    pkl = len(pickle.dumps({"split": {}, "annotations": anns}, protocol=4))
    shards = sum(p.stat().st_size for p in (out / "shards" / "ntu-x-118").glob("*.parquet"))
    assert shards <= pkl, (shards, pkl)
