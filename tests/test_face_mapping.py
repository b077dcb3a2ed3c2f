"""The MediaPipe face-mesh -> iBUG-68 map, checked on real 300W ground truth (../shared/samples/gt/300w):
FaceMesh on each image, mapped with MESH_TO_IBUG68, NME normalised by the outer inter-ocular distance."""
import json

import cv2
import numpy as np
import pytest

from schemas.layouts.mediapipe import MESH_TO_IBUG68
from tests.conftest import SAMPLES
from workers.quiet import native_stderr_silenced


@pytest.fixture(scope="module")
def faces(samples):
    import mediapipe as mp
    with native_stderr_silenced():
        fm = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1)
    d = json.loads((SAMPLES / "gt/300w/test_300w.json").read_text())
    out = []
    for im, ann in zip(d["images"], d["annotations"]):
        img = cv2.cvtColor(cv2.imread(str(SAMPLES / "gt/300w" / im["file_name"])), cv2.COLOR_BGR2RGB)
        with native_stderr_silenced():
            r = fm.process(img)
        assert r.multi_face_landmarks, f"FaceMesh found no face in {im['file_name']}"
        h, w = img.shape[:2]
        mesh = np.array([[p.x * w, p.y * h] for p in r.multi_face_landmarks[0].landmark])
        out.append((mesh, np.array(ann["keypoints"], dtype=float).reshape(68, 3)[:, :2]))
    return out


def nme(mesh, gt, points):
    pred = np.array([mesh[list(v)].mean(0) for v in MESH_TO_IBUG68])
    return float((np.linalg.norm(pred - gt, axis=1)[points] / np.linalg.norm(gt[36] - gt[45])).mean())


def test_ntu_x_51_points_match_300w(faces):
    for mesh, gt in faces:
        assert nme(mesh, gt, list(range(17, 68))) < 0.06


def test_each_group_lands_on_its_feature(faces):
    groups = {"brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48), "mouth": range(48, 68)}
    for mesh, gt in faces:
        for name, idx in groups.items():
            assert nme(mesh, gt, list(idx)) < 0.10, name


def test_left_right_not_swapped(faces):
    """Mirroring the map (subject's right <-> left) must be clearly worse: the convention is iBUG's."""
    mirror = {**{17 + i: 26 - i for i in range(10)}, **{36: 45, 37: 44, 38: 43, 39: 42, 40: 47, 41: 46}}
    mirror.update({v: k for k, v in mirror.items()})
    for mesh, gt in faces:
        pred = np.array([mesh[list(v)].mean(0) for v in MESH_TO_IBUG68])
        idx = sorted(mirror)
        right = np.linalg.norm(pred[idx] - gt[idx], axis=1).mean()
        swapped = np.linalg.norm(pred[[mirror[i] for i in idx]] - gt[idx], axis=1).mean()
        assert swapped > 3 * right
