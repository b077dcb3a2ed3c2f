"""A SYNTHETIC SMPL-X model file for tests: `write_synthetic_smplx(dir) -> dir/smplx/SMPLX_NEUTRAL.npz`.

Not the licence-gated MPI model: random but well-formed geometry that `smplx.create(..., model_type="smplx")`
loads. Same array names and shapes as the released npz (v1.0 layout: shapedirs with 10 shape + 10 expression
components): v_template (10475, 3), f (F, 3), shapedirs (10475, 3, 20), posedirs (10475, 3, 486),
J_regressor (55, 10475), weights (10475, 55), kintree_table (2, 55) with the real SMPL-X parents,
hands_components{l,r} (45, 45) orthonormal, hands_mean{l,r} (45,), lmk_faces_idx (51,) / lmk_bary_coords (51, 3),
dynamic_lmk_faces_idx (79, 17) / dynamic_lmk_bary_coords (79, 17, 3).
Geometry: the 55 rest joints sit on a plausible T-posed adult skeleton (metres, y up, facing +z); every vertex is
scattered around a bone and skinned to it (and a little to the bone's child joint); the J_regressor averages a
few vertices placed symmetrically around each joint, so it reproduces the rest joints exactly; the vertices the
smplx package picks as extra joints (nose, eyes, ears, toes, heels, fingertips) are placed where those points are
on a body; the 51 face landmarks are small triangles on a face in front of the head (mouth/chin on the jaw).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

NUM_VERTS = 10475
NUM_JOINTS = 55

# Real SMPL-X kinematic tree (parent of each of the 55 joints; joint 0 = pelvis is the root).
PARENTS = np.array([
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19,   # body (SMPL 22)
    15, 15, 15,                                                                 # jaw, left eye, right eye
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,                 # left index/middle/pinky/ring/thumb
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,                 # right hand, same order
])

# Vertex ids the smplx package reads as extra joints (smplx.vertex_ids VERTEX_IDS['smplx']).
_EXTRA = {"nose": 9120, "reye": 9929, "leye": 9448, "rear": 616, "lear": 6,
          "rthumb": 8079, "rindex": 7669, "rmiddle": 7794, "rring": 7905, "rpinky": 8022,
          "lthumb": 5361, "lindex": 4933, "lmiddle": 5058, "lring": 5169, "lpinky": 5286,
          "LBigToe": 5770, "LSmallToe": 5780, "LHeel": 8846, "RBigToe": 8463, "RSmallToe": 8474, "RHeel": 8635}


def rest_joints() -> np.ndarray:
    """(55, 3) rest joint positions of the synthetic adult (T-pose, y up, +x = the body's left, +z = front)."""
    J = np.zeros((NUM_JOINTS, 3))
    body = {0: (0, 0, 0), 3: (0, .11, -.01), 6: (0, .24, 0), 9: (0, .30, .01), 12: (0, .52, -.01),
            15: (0, .61, .02), 22: (0, .58, .05), 23: (.032, .66, .08), 24: (-.032, .66, .08)}
    for side, s in (("l", 1), ("r", -1)):
        o = 0 if side == "l" else 1
        body.update({1 + o: (s * .09, -.08, 0), 4 + o: (s * .10, -.47, .01), 7 + o: (s * .10, -.87, -.03),
                     10 + o: (s * .11, -.93, .10), 13 + o: (s * .07, .43, 0), 16 + o: (s * .18, .44, -.01),
                     18 + o: (s * .44, .44, -.02), 20 + o: (s * .69, .44, -.01)})
    for j, p in body.items():
        J[j] = p
    # fingers: index, middle, pinky, ring, thumb (three joints each), spreading along +-x from the wrist
    fingers = [((.09, 0, .025), (.035, .025, .02)), ((.095, 0, .005), (.04, .03, .022)),
               ((.08, 0, -.035), (.025, .02, .016)), ((.088, 0, -.015), (.035, .025, .02)),
               ((.025, -.015, .035), (.03, .03, .025))]
    for hand, wrist, s in ((25, 20, 1), (40, 21, -1)):
        for f, (base, (l1, l2, _l3)) in enumerate(fingers):
            j0 = hand + 3 * f
            d = np.array([s, 0, 0]) if f < 4 else np.array([s * .6, -.2, .75]) / np.linalg.norm([.6, .2, .75])
            J[j0] = J[wrist] + np.array([s * base[0], base[1], base[2]])
            J[j0 + 1] = J[j0] + l1 * d
            J[j0 + 2] = J[j0 + 1] + l2 * d
    return J


def _children(j: int) -> list[int]:
    return [int(c) for c in np.nonzero(PARENTS == j)[0]]


def _face_landmarks(J: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """51 landmark positions (iBUG 17..67: brows, nose, eyes, mouth) on a face plane, and which ones follow the jaw."""
    c = J[15] + np.array([0, .03, .085])                       # face centre (between eyes and mouth)
    pts = []
    pts += [(-.055 + .0125 * i, .045 + .006 * np.sin(np.pi * i / 4), 0) for i in range(5)]   # right brow 17-21
    pts += [(.005 + .0125 * i, .045 + .006 * np.sin(np.pi * i / 4), 0) for i in range(5)]    # left brow 22-26
    pts += [(0, .03 - .012 * i, .005 + .004 * i) for i in range(4)]                            # nose bridge 27-30
    pts += [(-.016 + .008 * i, -.02, .012 - .002 * abs(i - 2)) for i in range(5)]             # nose base 31-35
    for cx in (-.032, .032):                                                                   # eyes 36-41, 42-47
        pts += [(cx + .013 * np.cos(a), .02 + .006 * np.sin(a), 0) for a in np.linspace(np.pi, -np.pi, 6, endpoint=False)]
    pts += [(.025 * np.cos(a), -.05 + .012 * np.sin(a), 0) for a in np.linspace(np.pi, -np.pi, 12, endpoint=False)]
    pts += [(.016 * np.cos(a), -.05 + .005 * np.sin(a), 0) for a in np.linspace(np.pi, -np.pi, 8, endpoint=False)]
    pts = c + np.array(pts)
    on_jaw = np.zeros(51, bool)
    on_jaw[31:51] = pts[31:51, 1] < c[1] - .05                 # lower lip follows the jaw
    return pts, on_jaw


def make_synthetic_smplx(seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays of a synthetic SMPL-X npz (see the module docstring)."""
    rng = np.random.default_rng(seed)
    J = rest_joints()
    V = np.zeros((NUM_VERTS, 3))
    W = np.zeros((NUM_VERTS, NUM_JOINTS))
    owner = np.full(NUM_VERTS, -1)                  # the joint whose bone a vertex sits on
    used = np.zeros(NUM_VERTS, bool)

    def put(v: int, pos, j: int, child: int | None = None, t: float = 0.0) -> None:
        V[v] = pos
        w_c = 0.5 * t ** 2 if child is not None else 0.0
        W[v, j] = 1 - w_c
        if child is not None:
            W[v, child] += w_c
        owner[v] = j
        used[v] = True

    # 1. the extra-joint vertices of the smplx package
    e = _EXTRA
    head_front = J[15] + np.array([0, .03, .085])
    put(e["nose"], head_front + [0, -.005, .03], 15)
    put(e["reye"], J[24] + [0, 0, .012], 15)
    put(e["leye"], J[23] + [0, 0, .012], 15)
    put(e["rear"], J[15] + [-.075, .04, -.01], 15)
    put(e["lear"], J[15] + [.075, .04, -.01], 15)
    for s, side, ankle, foot in ((1, "L", 7, 10), (-1, "R", 8, 11)):
        put(e[f"{side}BigToe"], J[foot] + [-s * .015, -.04, .08], foot)
        put(e[f"{side}SmallToe"], J[foot] + [s * .045, -.04, .06], foot)
        put(e[f"{side}Heel"], J[ankle] + [0, -.07, -.06], ankle)
    for hand, side, s in ((25, "l", 1), (40, "r", -1)):
        for f, name in enumerate(("index", "middle", "pinky", "ring", "thumb")):
            j3 = hand + 3 * f + 2
            d = J[j3] - J[j3 - 1]
            put(e[side + name], J[j3] + d / np.linalg.norm(d) * .022, j3)
    # 2. face landmarks: one small triangle of 3 fresh vertices each
    free = iter([v for v in rng.permutation(NUM_VERTS) if not used[v]])
    lmk_pts, on_jaw = _face_landmarks(J)
    lmk_faces = []
    for p, jaw in zip(lmk_pts, on_jaw):
        tri = [next(free) for _ in range(3)]
        for k, v in enumerate(tri):
            a = 2 * np.pi * k / 3
            put(v, p + .003 * np.array([np.cos(a), np.sin(a), 0]), 22 if jaw else 15)
        lmk_faces.append(tri)
    bary = rng.uniform(.2, 1, (51, 3))
    bary /= bary.sum(1, keepdims=True)
    # 3. regressor vertices: 4 symmetric pairs around each joint -> J_regressor reproduces J exactly
    JR = np.zeros((NUM_JOINTS, NUM_VERTS))
    for j in range(NUM_JOINTS):
        scale = .012 if j >= 25 else .03
        for _ in range(4):
            d = rng.normal(size=3)
            d *= scale / np.linalg.norm(d)
            a, b = next(free), next(free)
            put(a, J[j] + d, j)
            put(b, J[j] - d, j)
            JR[j, [a, b]] = 1 / 8
    # 4. the rest: scattered around the bones (joint -> child), skinned to the joint and a little to the child
    bones = []
    for j in range(NUM_JOINTS):
        kids = _children(j)
        if kids:
            bones += [(j, c, J[c]) for c in kids]
        else:  # leaf: extend along the parent -> joint direction
            d = J[j] - J[PARENTS[j]]
            n = np.linalg.norm(d)
            bones.append((j, None, J[j] + d / n * (.02 if j >= 22 else .08)))
    lengths = np.array([max(np.linalg.norm(end - J[j]), .01) for j, _, end in bones])
    rest = [v for v in free]
    which = rng.choice(len(bones), size=len(rest), p=lengths / lengths.sum())
    for v, b in zip(rest, which):
        j, c, end = bones[b]
        t = rng.uniform()
        radius = .012 if j >= 25 else (.09 if j in (0, 3, 6, 9) else .05)
        r = rng.normal(size=3)
        put(v, J[j] + t * (end - J[j]) + radius * r / np.linalg.norm(r), j, c, t)
    assert used.all()
    # faces: the landmark triangles, then triangles of consecutive vertices on the same bone
    order = np.lexsort((V[:, 1], owner))
    tris = [order[i:i + 3] for i in range(0, NUM_VERTS - 2)]
    f = np.concatenate([np.array(lmk_faces), np.array(tris)]).astype(np.int64)
    # shape: beta0 height, beta1 girth, the rest smooth per-bone offsets; expression: face vertices only
    shapedirs = np.zeros((NUM_VERTS, 3, 20))
    shapedirs[:, 1, 0] = .05 * V[:, 1]
    shapedirs[:, 0, 1] = .04 * (V[:, 0] - J[owner, 0])
    shapedirs[:, 2, 1] = .04 * (V[:, 2] - J[owner, 2])
    bone_dirs = rng.normal(scale=.01, size=(NUM_JOINTS, 3, 8))
    shapedirs[:, :, 2:10] = bone_dirs[owner] * (1 + V[:, 1:2, None])
    face = np.isin(owner, (15, 22))
    shapedirs[face, :, 10:20] = rng.normal(scale=.002, size=(face.sum(), 3, 10))
    posedirs = np.zeros((NUM_VERTS, 3, (NUM_JOINTS - 1) * 9))
    for v in range(NUM_VERTS):
        if owner[v] > 0:
            k = owner[v] - 1
            posedirs[v, :, 9 * k:9 * k + 9] = rng.normal(scale=.003, size=(3, 9))
    kintree = np.stack([PARENTS, np.arange(NUM_JOINTS)]).astype(np.int64)
    kintree[0, 0] = 4294967295
    comps = []
    for _ in range(2):
        q, _r = np.linalg.qr(rng.normal(size=(45, 45)))
        comps.append(q.T)
    hands_mean = np.tile([0, 0, .15], 15)                        # a slight curl
    dyn_faces = rng.integers(0, len(lmk_faces), size=(79, 17))
    dyn_bary = rng.uniform(.2, 1, (79, 17, 3))
    dyn_bary /= dyn_bary.sum(-1, keepdims=True)
    f32 = np.float32
    return {
        "v_template": V.astype(f32), "f": f, "shapedirs": shapedirs.astype(f32), "posedirs": posedirs.astype(f32),
        "J_regressor": JR.astype(f32), "weights": W.astype(f32), "kintree_table": kintree,
        "hands_componentsl": comps[0].astype(f32), "hands_componentsr": comps[1].astype(f32),
        "hands_meanl": hands_mean.astype(f32), "hands_meanr": (hands_mean * np.tile([1, -1, -1], 15)).astype(f32),
        "lmk_faces_idx": np.arange(51, dtype=np.int64), "lmk_bary_coords": bary.astype(f32),
        "dynamic_lmk_faces_idx": dyn_faces.astype(np.int64), "dynamic_lmk_bary_coords": dyn_bary.astype(f32),
    }


def write_synthetic_smplx(root: Path, seed: int = 0) -> Path:
    """Write `root/smplx/SMPLX_NEUTRAL.npz` (synthetic) and return `root` (the model_dir to load)."""
    out = Path(root) / "smplx"
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "SMPLX_NEUTRAL.npz", **make_synthetic_smplx(seed))
    return Path(root)
