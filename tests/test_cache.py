"""The content-addressed store: keys react to every input, files are atomic and never pickled."""
import numpy as np
import pytest

from pipeline.cache import Artifact, Store, make_key
from pipeline.dag import Dag, Stage


def test_key_depends_on_everything():
    base = dict(stage="pose", version="1", params={"pose.roi_scale": 1.25}, inputs={"detect": "a"},
                weights={"m": "h"})
    k = make_key(**base)
    for field, value in [("version", "2"), ("params", {"pose.roi_scale": 1.3}), ("inputs", {"detect": "b"}),
                         ("weights", {"m": "h2"}), ("stage", "detect")]:
        assert make_key(**{**base, field: value}) != k
    assert make_key(**base) == k
    # dict order does not matter
    assert make_key("s", "1", {"a": 1, "b": 2}, {}, {}) == make_key("s", "1", {"b": 2, "a": 1}, {}, {})


def test_roundtrip_without_pickle(tmp_path):
    store = Store(tmp_path)
    art = Artifact({"x": np.arange(6, dtype=np.float32).reshape(2, 3), "m": np.array([True, False])},
                   {"status": "ok", "n": 3, "nested": {"a": [1, 2]}})
    store.save("s", "ab" * 32, art)
    back = store.load("s", "ab" * 32)
    np.testing.assert_array_equal(back.arrays["x"], art.arrays["x"])
    assert back.meta == art.meta
    assert store.load("s", "cd" * 32) is None
    assert not list(tmp_path.rglob("*.tmp"))          # temp files renamed away
    with pytest.raises(ValueError, match="pickle"):   # object arrays would need pickle: refused on save
        store.save("s", "ef" * 32, Artifact({"o": np.array([{"a": 1}], dtype=object)}))
    assert not store.path("s", "ef" * 32).exists()
    p = store.path("s", "ef" * 32)                   # an entry holding a pickled object array (not ours) ...
    p.parent.mkdir(parents=True, exist_ok=True)
    np.savez(p, o=np.array([{"a": 1}], dtype=object))
    assert store.load("s", "ef" * 32) is None and not p.exists()      # ... is never unpickled: corrupt, removed
    assert store.repaired == 1


def test_plan_modes():
    noop = lambda ctx, inputs: None  # noqa: E731
    a, b, c, d, e = (Stage(n, noop) for n in "abcde")
    ds = Stage("ds", noop, scope="dataset")
    dag = Dag([(a, []), (b, ["a"]), (c, ["b"]), (d, ["c"]), (e, ["a"]), (ds, ["d"])])
    assert dag.plan() == dict.fromkeys(["a", "b", "c", "d", "e", "ds"], "use")
    assert dag.plan(force=True) == dict.fromkeys(["a", "b", "c", "d", "e", "ds"], "fresh")
    assert dag.plan(start="c") == {"a": "use", "b": "use", "c": "fresh", "d": "fresh", "e": "use", "ds": "fresh"}
    # --only: the stage afresh, what depends on it from cache-or-compute (never left contradicting it), the
    # per-clip inputs from cache only, unrelated stages skipped
    assert dag.plan(only="b") == {"a": "load", "b": "fresh", "c": "use", "d": "use", "e": "skip", "ds": "use"}
    assert dag.plan(only="ds") == {"a": "load", "b": "load", "c": "load", "d": "load", "e": "skip", "ds": "fresh"}
    with pytest.raises(ValueError):
        Dag([(b, ["a"])])
    with pytest.raises(ValueError):
        dag.plan(only="zz")
