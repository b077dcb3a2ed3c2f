"""Body landmarks on the tracker's ROI when a MediaPipe solution's own person detector finds nobody.

MediaPipe's static-image solutions (Holistic, Pose) first run their face-driven person detector inside the crop;
it misses people hugging, seen from behind or half hidden, although the crop is centred on them (the tracker
found them, often by following their landmarks: `workers.track.follow`). Video mode would skip that detector
and run the landmark model on the ROI from the previous frame. Here the crop *is* that ROI — centred on the
track's body centre, side = the body circle's diameter x `pose.roi_scale`, MediaPipe's 1.25 by default — so
the fallback takes the landmarks the tracker found for this person in this frame while following or refreshing
them (video mode proper: the ROI from the previous frame's landmarks, so the model stays on this person where
two overlap), and otherwise runs the bundled landmark model on the whole crop (`workers.pose.body_landmarks`)
and keeps its
33 points when the model's pose-presence score reaches the expert's `min_score` and the pose `belongs` to the
tracked person. The solution's own pose is replaced the same way when it belongs to someone else. Scores are the model's
visibilities, as for the solution's own output; hands and face stay absent in such frames (the solutions
derive them from their own graph).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..pose.body_landmarks import BodyLandmarker, Roi
from .base import Crop


class RoiFallback:
    def __init__(self, min_presence: float):
        self.min_presence = min_presence
        self._lm = BodyLandmarker()

    def __call__(self, crop: Crop) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """(points (33, 3) x, y in frame pixels + visibility, world (33, 4)) or None when no pose is present
        or the pose is someone else's."""
        if crop.tracked is not None:
            pts, world = crop.tracked
            return (pts.copy(), world.copy()) if belongs(pts, crop) else None
        side = crop.image.shape[0]
        lm = self._lm(crop.image, Roi(side / 2, side / 2, side, 0.0))
        if lm.presence < self.min_presence:
            return None
        pts = lm.points.copy()
        pts[:, :2] = crop.to_frame(pts[:, :2])
        return (pts, lm.world) if belongs(pts, crop) else None


def belongs(points33: np.ndarray, crop: Crop) -> bool:
    """Whether a body pose (33 MediaPipe points, frame pixels) is the tracked person's: its hip centre (mean of
    hips 23/24) is nearer to the person's tracked body centre than to any other tracked person's. Two people
    hugging share most of a crop and the solution's own detector may pose the other one; that pose is then
    the other actor's duplicate, dropped, and the actor lost. True when the crop carries no centres."""
    if crop.centre is None or crop.others is None or len(crop.others) == 0:
        return True
    hip = points33[[23, 24], :2].mean(0)
    if not np.isfinite(hip).all():
        return True
    mine = np.linalg.norm(hip - crop.centre)
    return bool(mine <= np.linalg.norm(crop.others - hip, axis=1).min())
