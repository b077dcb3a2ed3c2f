"""Pose-driven track following: a person the detector lost is followed by their own body landmarks.

The person detector (BlazePose's, driven by the face) misses people hugging or half hidden by another person,
while the body landmark model still sees them when told where to look. So, MediaPipe's video-mode idea for
every tracked person that overlaps another: while a detected track has another body within its radius
(`crowded`), its landmarks are run every frame on the ROI from its previous landmarks (aux 33/34: body centre
and enclosing-circle point; the first time, the previous detection's hip and body-circle point, the same pair),
and when the detector loses it, it is followed from those landmarks (`workers.pose.body_landmarks`).

Following starts only from such landmarks, i.e. where bodies overlap, not from any lost detection: a
detection's ROI around two overlapping people makes the model pick the more visible one, and on close-ups the
detector's fallback views (zoom-out) give a body centre far from the landmark model's, so following there cut
tracks in pieces (measured on the arm-wrestling sample: the two actors' tracks present together in 72 of 280
frames without following, in 0 with following from any loss; 72 with this rule, as without). A person lost
with nobody near is bridged by interpolation (`track.max_gap`) as before.

When the model says a pose is present (presence >= `min_presence`, MediaPipe's own tracking threshold is 0.5),
the landmarks become the track's detection at t in the detector's layout:

  score       the presence score
  face box    centred on the 11 face landmarks (nose, eyes, ears, mouth), the size of the track's previous
              face box: the detector's face box is no fixed multiple of those points' spread (2.6x to 9.6x,
              median per sample clip), and the tracker compares a track's face box with its own earlier ones
  hip, circle the auxiliary body centre and circle point (the detector's keypoints 0 and 1)

and the next frame is followed from these landmarks. Following stops when presence drops, or when the followed
body lands on a body another track already holds at that frame (`same_body`: centres closer than
SAME_CENTRE body radii and sizes within SAME_SCALE) — the landmark model then locked onto the other person.

Why refresh while crowded rather than start from the last detection: NTU's hug — the lost actor's last
detection led the model to the other actor; the landmarks refreshed frame to frame stayed on the right one.
Apart, nothing extra runs.

The tracker predicts motion from detections only (the landmark model's body centre sits a little off the
detector's, and mixing the two would read that offset as velocity), and a detection that the association
refuses but that lies on a body followed at that frame (`REJOIN_CENTRE`) continues that track: the detector
found the person again where the landmarks say they are.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from ..detect.blazepose import DET_COLS
from ..pose.body_landmarks import Landmarks, Roi, roi_from_points

FACE_POINTS = slice(0, 11)
SAME_CENTRE = 0.25          # body radii: two people's hips are at least a torso width (~ half a radius) apart
SAME_SCALE = math.log(1.5)  # one body seen twice has about one size
REJOIN_CENTRE = 0.5         # a detection this close (body radii) to a followed body is that body: the detector's
                            # and the landmark model's body centres differ by up to a quarter radius (median per
                            # sample clip 0.03-0.24), two people's by more than half


def det_from_landmarks(lm: Landmarks, face_side: float) -> np.ndarray:
    """The detector-layout row (9,) of a landmark result, its face box `face_side` wide."""
    face = lm.points[FACE_POINTS, :2]
    c = (face.min(0) + face.max(0)) / 2
    half = face_side / 2
    row = np.empty(DET_COLS, np.float32)
    row[0] = lm.presence
    row[1:5] = [c[0] - half, c[1] - half, c[0] + half, c[1] + half]
    row[5:7], row[7:9] = lm.aux[0], lm.aux[1]
    return row


def roi_of(row: np.ndarray) -> Optional[Roi]:
    """The landmark ROI of a detector-layout row (hip and body-circle point)."""
    return roi_from_points(row[5:7], row[7:9])


def crowded(row: np.ndarray, others: np.ndarray) -> bool:
    """Whether another body's centre (rows (N, 9)) lies within this body's radius (hip to body-circle point)."""
    if len(others) == 0:
        return False
    r = float(np.linalg.norm(row[7:9] - row[5:7]))
    return bool((np.linalg.norm(others[:, 5:7] - row[5:7], axis=1) < r).any())


def nearest_body(a: np.ndarray, rows: np.ndarray) -> int:
    """Index of the row (N, 9) whose body centre is nearest to row a's, in a's body radii and size ratio."""
    ra = max(float(np.linalg.norm(a[7:9] - a[5:7])), 1e-6)
    ro = np.maximum(np.linalg.norm(rows[:, 7:9] - rows[:, 5:7], axis=1), 1e-6)
    return int(np.argmin(np.linalg.norm(rows[:, 5:7] - a[5:7], axis=1) / ra + np.abs(np.log(ro / ra))))


def same_body(a: np.ndarray, others: np.ndarray, centre_limit: float = SAME_CENTRE) -> bool:
    """Whether detection row `a` is the same body as any row of `others` (N, 9): centres closer than
    `centre_limit` of a's body radius, sizes within SAME_SCALE."""
    if len(others) == 0:
        return False
    ra = float(np.linalg.norm(a[7:9] - a[5:7]))
    ro = np.linalg.norm(others[:, 7:9] - others[:, 5:7], axis=1)
    if ra <= 0:
        return False
    centre = np.linalg.norm(others[:, 5:7] - a[5:7], axis=1) / ra
    scale = np.abs(np.log(np.maximum(ro, 1e-6) / ra))
    return bool(((centre < centre_limit) & (scale < SAME_SCALE)).any())


class Follower:
    """Follows tracks on a frame with a landmark model `landmarker(frame, roi) -> Landmarks`."""

    def __init__(self, landmarker: Callable[[np.ndarray, Roi], Landmarks], min_presence: float = 0.5):
        self.landmarker, self.min_presence = landmarker, min_presence
        self.calls = 0

    def landmarks(self, frame: np.ndarray, last: np.ndarray) -> Optional[tuple[np.ndarray, Landmarks]]:
        """The body found on the ROI of row `last` (detector layout): (its row, its landmarks); None when no
        pose is present."""
        roi = roi_of(last)
        if roi is None:
            return None
        self.calls += 1
        lm = self.landmarker(frame, roi)
        if lm.presence < self.min_presence or not np.isfinite(lm.aux).all():
            return None
        return det_from_landmarks(lm, float(last[3] - last[1])), lm

    def __call__(self, frame: np.ndarray, last: np.ndarray, taken: np.ndarray
                 ) -> Optional[tuple[np.ndarray, Landmarks]]:
        """A lost track's (row, landmarks) at this frame from its last row, or None (no pose, or a body in
        `taken`)."""
        found = self.landmarks(frame, last)
        return None if found is None or same_body(found[0], taken) else found
