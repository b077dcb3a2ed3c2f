"""Layouts: edges valid and connected (ntu-x-118: NTU-X's released graph, 6 components), parts/regions valid, every interpolated/approximated joint documented,
interpolation rules computing what they say."""
import numpy as np
import pytest

from schemas.layouts import LAYOUTS, SOURCE_SIZE, get_layout, source_offset
from schemas.layouts.mediapipe import B, MESH_TO_IBUG68
from workers.convert.layout_eval import apply_layout
from workers.experts.canonical import to_canonical


def components(n, edges):
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a
    for a, b in edges:
        parent[find(a)] = find(b)
    return len({find(i) for i in range(n)})


# ntu-x-118 is NTU-X's released graph (tests/test_export_ntux.py compares it edge for edge): the body with the
# eyes and nose bridge, plus 5 detached face chains (2 brows, nose base, outer and inner lip)
COMPONENTS = {"ntu-x-118": 6}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_edges_valid_and_connected(name):
    lay = get_layout(name)
    V = lay.num_joints
    assert all(0 <= a < V and 0 <= b < V and a != b for a, b in lay.edges)
    assert len({tuple(sorted(e)) for e in lay.edges}) == len(lay.edges), "duplicate edge"
    assert components(V, lay.edges) == COMPONENTS.get(name, 1), "graph must be one connected component"
    assert len(set(lay.joint_names)) == V
    for group in (lay.parts, lay.regions):
        for idx in group.values():
            assert all(0 <= i < V for i in idx)
    assert sorted(i for idx in lay.regions.values() for i in idx) == list(range(V)), "regions partition joints"
    for j in lay.joints:
        assert j.kind == "direct" or j.note


def test_sizes_and_ntu_x_order():
    sizes = {n: l.num_joints for n, l in LAYOUTS.items()}
    assert sizes == {"ntu-x-118": 118, "ntu-x-67": 67, "posetics-17": 17, "coco-17": 17, "ntu-25": 25}
    x = get_layout("ntu-x-118")
    assert x.joint_names[:9] == ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
                                 "MidHip"]
    assert x.joint_names[24] == "RHeel" and x.joint_names[25] == "LHand_wrist" and x.joint_names[46] == "RHand_wrist"
    assert (7, 25) in x.edges and (4, 46) in x.edges          # hands hang off the body wrists
    assert {(0, 77), (15, 86), (16, 92)} <= set(x.edges)      # Nose-bridge top, REye/LEye-outer eye corners
    assert x.joint_names[67] == "Face_right_brow_0" and x.joint_names[117] == "Face_inner_lip_7"
    assert get_layout("ntu-x-67").joint_names == x.joint_names[:67]
    assert get_layout("posetics-17").joint_names == [
        "Nose", "Mouth", "Neck", "Chest", "MHip", "LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist",
        "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle"]


def _source(rng):
    s = rng.uniform(0, 100, size=(1, 1, SOURCE_SIZE, 3)).astype(np.float32)
    s[..., 2] = rng.uniform(0.2, 1.0, size=(1, 1, SOURCE_SIZE))
    return s


def test_posetics_interpolation_rules():
    s = _source(np.random.default_rng(0))
    out = apply_layout("posetics-17", s)[0, 0]
    b = s[0, 0, :33]
    neck = (b[B["left_shoulder"], :2] + b[B["right_shoulder"], :2]) / 2
    mhip = (b[B["left_hip"], :2] + b[B["right_hip"], :2]) / 2
    np.testing.assert_allclose(out[2, :2], neck, rtol=1e-5)
    np.testing.assert_allclose(out[4, :2], mhip, rtol=1e-5)
    np.testing.assert_allclose(out[3, :2], (mhip + neck) / 2, rtol=1e-5)
    np.testing.assert_allclose(out[1, :2], (b[B["nose"], :2] + neck) / 2, rtol=1e-5)
    # score of an interpolated joint = least sure input
    assert out[3, 2] == pytest.approx(min(b[i, 2] for i in (11, 12, 23, 24)))


def test_face_points_are_ibug_17_to_67():
    s = _source(np.random.default_rng(1))
    out = apply_layout("ntu-x-118", s)[0, 0]
    face = s[0, 0, source_offset("face"):]
    np.testing.assert_allclose(out[67:, :2], face[17:68, :2])


def test_natives_map_into_the_canonical_space():
    rng = np.random.default_rng(4)
    mesh = rng.uniform(0, 100, size=(468, 3)).astype(np.float32)
    mesh[:, 2] = 0.9
    can = to_canonical("mediapipe-face-468", mesh)
    face = can[source_offset("face"):source_offset("face") + 68]
    for i, verts in enumerate(MESH_TO_IBUG68):
        np.testing.assert_allclose(face[i, :2], mesh[list(verts), :2].mean(0), rtol=1e-5)
    assert (can[:source_offset("face"), 2] == 0).all()              # nothing else filled
    wb = rng.uniform(0, 100, size=(133, 3)).astype(np.float32)
    wb[:, 2] = 0.7
    can = to_canonical("coco-wholebody-133", wb)
    assert (can[:, 2] > 0).sum() == 133
    np.testing.assert_allclose(can[B["left_small_toe"], :2], wb[18, :2])       # WholeBody 18 = left small toe
    np.testing.assert_allclose(can[source_offset("right_hand"), :2], wb[112, :2])
    x = apply_layout("ntu-x-118", can[None, None])[0, 0]
    np.testing.assert_allclose(x[get_layout("ntu-x-118").index("LSmallToe"), :2], wb[18, :2])
    # COCO-17 fills exactly its 17 body points, in the same places as the coco-17 layout reads them
    coco = rng.uniform(0, 100, size=(17, 3)).astype(np.float32)
    coco[:, 2] = 1
    back = apply_layout("coco-17", to_canonical("coco-17", coco)[None, None])[0, 0]
    np.testing.assert_allclose(back, coco, rtol=1e-6)


def test_missing_inputs_and_fallbacks():
    s = _source(np.random.default_rng(2))
    lh = slice(source_offset("left_hand"), source_offset("left_hand") + 21)
    s[0, 0, lh, :2] = np.nan
    s[0, 0, lh, 2] = 0
    x = apply_layout("ntu-x-118", s)[0, 0]
    assert np.isnan(x[25:46, :2]).all() and (x[25:46, 2] == 0).all()      # missing: NaN coords, score 0
    k = apply_layout("ntu-25", s)[0, 0]
    lay = get_layout("ntu-25")
    tip = lay.index("left_hand_tip")
    np.testing.assert_allclose(k[tip, :2], s[0, 0, B["left_index"], :2])   # falls back to the body index point
    # one missing input makes an interpolated joint missing
    s[0, 0, B["left_shoulder"], 2] = 0
    p = apply_layout("posetics-17", s)[0, 0]
    assert p[2, 2] == 0 and np.isnan(p[2, 0])


def test_min_score_drops_weak_joints():
    s = _source(np.random.default_rng(3))
    out = apply_layout("coco-17", s, min_score=0.6)[0, 0]
    assert ((out[:, 2] == 0) | (out[:, 2] >= 0.6)).all()
    assert np.isnan(out[out[:, 2] == 0, 0]).all()


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_chunked_evaluation_matches_one_gather(name, monkeypatch):
    """A long clip is evaluated in bounded chunks of person-frames; every chunking gives the same joints,
    provenance source and shape as evaluating all rows at once (random source with holes and NaNs)."""
    from workers.convert import layout_eval
    rng = np.random.default_rng(7)
    src = rng.normal(size=(2, 37, SOURCE_SIZE, 4)).astype(np.float32)
    src[..., 3] = np.where(rng.random(src.shape[:-1]) < 0.3, 0.0, rng.random(src.shape[:-1]))
    src[rng.random(src.shape[:-1]) < 0.05, 0] = np.nan
    whole = layout_eval.evaluate_layout(name, src, 0.2)
    for chunk in (1, 5 * SOURCE_SIZE, 10**9):     # one row per chunk, a few rows, everything at once
        monkeypatch.setattr(layout_eval, "_CHUNK_ELEMENTS", chunk)
        out, first = layout_eval.evaluate_layout(name, src, 0.2)
        assert out.shape == whole[0].shape and first.shape == whole[1].shape == src.shape[:2] + out.shape[2:3]
        np.testing.assert_array_equal(out, whole[0])
        np.testing.assert_array_equal(first, whole[1])
    one = layout_eval.evaluate_layout(name, src[0, 0], 0.2)       # a single frame keeps its (V, C) shape
    np.testing.assert_array_equal(one[0], whole[0][0, 0])
