"""holistic-roi — MediaPipe Holistic's models (mediapipe 0.10.21, bundled) wired on the tracker's ROI: body 33
(+ metric world 3D), both hands, 468-point face mesh. Native: mediapipe-holistic-543; the same networks as
`holistic`, so one fusion family with it.

Why: `holistic` runs MediaPipe's graph on the person crop, and that graph first runs its own face-anchored person
detector inside the crop, then once more on a blank image so the next crop does not inherit this one's hands
and face (README *Each crop on its own*): about 24 of its 62 ms per person (`benchmarks/expert_floor.py`), for
a region the skelforge tracker already knows. Here Holistic's chain runs from the body landmarks on:

  body   `pose_landmark_full.tflite` on the tracked person's BlazePose ROI (`Crop.centre`, `Crop.circle`: the
         person detector's hip centre and body-circle point, or the landmarks' own while the tracker follows
         them), with MediaPipe's heatmap refinement (`workers.pose.body_landmarks`). Only where that gives no
         pose (presence < `min_score`), or a head away from the detector's face box (`_agrees`: the landmark
         model locked onto someone else), or where the crop has no tracked ROI (ground-truth crops in
         `eval-experts`), does the BlazePose person detector run on the crop, Holistic's own step; where it
         finds nobody either, the whole crop is the ROI (as `holistic`'s `roi_fallback`);
  hands  from the body's wrist, pinky and index points: Holistic's re-crop model, then the hand landmarks
         (`workers.pose.hand_landmarks`);
  face   from the body's 11 face points: Holistic's short-range face detector in that region, then the face
         landmarks (`workers.pose.face_landmarks`).

Every model sees the crop the pose stage cut (other people's faces blanked), as Holistic does. A pose that
`belongs` to another tracked person is no pose. Scores as `holistic`: body points their visibility, a hand's
points its wrist's visibility, the face's points the mean visibility of the body's 11 face points. Stateless:
each crop's result depends on that crop alone (tested). What it costs and how it compares with `holistic` on
ground truth: README *Experts*.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..detect.blazepose import BlazePoseDetector, model_path as detector_file
from ..pose import face_landmarks, hand_landmarks
from ..pose.body_landmarks import BodyLandmarker, Landmarks, Roi, model_path as body_file, roi_from_points
from .base import Crop, Expert, ExpertResult, empty_points, mediapipe_version
from .holistic import HolisticExpert
from .roi_fallback import belongs

HANDS = ((33, 15, 17, 19), (54, 16, 18, 20))   # native start, body wrist, pinky, index: left, then right


def _agrees(lm: Landmarks, crop: Crop) -> bool:
    """Whether the posed head is the tracked person's: the centre of the 11 face points within one face-box side
    of the person detector's face box centre (frame pixels). True without a face box."""
    box = crop.face_box
    if box is None or not np.isfinite(box).all():
        return True
    face = crop.to_frame(lm.points[:11, :2])
    centre = (face.min(0) + face.max(0)) / 2
    return bool(np.hypot(*(centre - (box[:2] + box[2:]) / 2)) <= max(box[2] - box[0], box[3] - box[1]))


class HolisticRoiExpert(Expert):
    name = "holistic-roi"
    parts, native, families = HolisticExpert.parts, HolisticExpert.native, HolisticExpert.families  # same networks

    def model_files(self):
        return [body_file(), detector_file()] + hand_landmarks.model_files() + face_landmarks.model_files()

    def package_version(self):
        return f"mediapipe {mediapipe_version()}"

    def load(self):
        self._body = BodyLandmarker(refine=True)
        self._detector = BlazePoseDetector(self.settings["min_score"], tiles="off", zoom_out=0.0)
        self._hands = hand_landmarks.HandLandmarker()
        self._face = face_landmarks.FaceLandmarker(min_face_score=self.settings["min_face_score"])

    def _posed(self, img: np.ndarray, roi: Optional[Roi]) -> Optional[Landmarks]:
        if roi is None:
            return None
        lm = self._body(img, roi)
        return lm if lm.presence >= self.settings["min_score"] else None

    def _tracked_roi(self, crop: Crop) -> Optional[Roi]:
        if crop.centre is None or crop.circle is None:
            return None
        return roi_from_points(crop.from_frame(crop.centre), crop.from_frame(crop.circle))

    def _detected_roi(self, crop: Crop) -> Optional[Roi]:
        """Holistic's own step, only where the tracked ROI failed or there is none: the person detector on the
        crop (other people's faces blanked), the detection nearest the tracked body centre (or the crop's)."""
        dets = self._detector(crop.image)
        if len(dets) == 0:
            return None
        side = crop.image.shape[0]
        target = crop.from_frame(crop.centre) if crop.centre is not None else np.array([side / 2, side / 2])
        d = dets[np.argmin(np.linalg.norm(dets[:, 5:7] - target, axis=1))]
        return roi_from_points(d[5:7], d[7:9])

    def _body_pose(self, crop: Crop) -> Optional[Landmarks]:
        img = crop.image
        lm = self._posed(img, self._tracked_roi(crop))
        if lm is None or not _agrees(lm, crop):
            lm = self._posed(img, self._detected_roi(crop))
        if lm is None:                  # nobody detected either: the whole crop as the ROI (`holistic`'s fallback)
            side = crop.image.shape[0]
            lm = self._posed(img, Roi(side / 2, side / 2, side, 0.0))
        return lm

    def process_one(self, crop: Crop) -> ExpertResult:
        pts = empty_points(543)
        world = np.full((33, 4), np.nan, dtype=np.float32)
        world[:, 3] = 0.0
        lm = self._body_pose(crop)
        if lm is None:
            return ExpertResult(pts, world)
        body = lm.points.copy()
        body[:, :2] = crop.to_frame(body[:, :2])
        if not belongs(body, crop):
            return ExpertResult(pts, world)
        pts[:33], world[:] = body, lm.world
        vis, uv = lm.points[:, 2], lm.points[:, :2].astype(np.float64)
        for start, wrist, pinky, index in HANDS:
            hand = self._hands(crop.image, uv[wrist], uv[pinky], uv[index], float(vis[wrist]))
            if hand is not None:
                pts[start:start + 21, :2], pts[start:start + 21, 2] = crop.to_frame(hand[0]), vis[wrist]
        face = self._face(crop.image, uv[:11])
        if face is not None:
            pts[75:543, :2], pts[75:543, 2] = crop.to_frame(face[0]), vis[:11].mean()
        return ExpertResult(pts, world)
