"""The contract every pose expert implements.

An expert has a `name`, the `parts` it produces (body / left_hand / right_hand / face), its `native` layout
(schemas/natives.py, which maps it into the canonical whole-body space), settings (a small dict from the
config's `expert_settings.<name>`, validated by the expert's typed settings model in schemas/experts.py
`EXPERT_SETTINGS`, which also gives the `defaults`; a `device: cuda` setting makes the pose stage ask Dask for a
GPU worker), `setup()` run once per worker process,
a `process(crops)` returning one result per crop — native keypoints (N, 3) = x, y, score in *original-frame
pixels* and, for experts with metric 3D, `world` (33, 4) — and `version()`: package version and model-file
hashes, which enter the expert's cache key. Each crop's result depends on that crop alone, never on the others
in the call. An expert with `batched = True` runs the crops of one `process` call as one model batch (the pose
stage hands it `pose.batch_size` crops gathered across frames); the others run `process_one` crop by crop and
the pose stage calls them frame by frame.

A crop carries the square person image (other people's faces blanked), where it sits in the frame, the
person detector's face box (frame pixels) as a hint for face experts, the tracked body centres of this
person and of the others in the frame (a body expert can tell it posed someone else: `roi_fallback.belongs`),
and this person's body-circle point (with the centre, the body ROI an expert can pose without a detector).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np
from pydantic import ValidationError

from schemas.experts import EXPERT_SETTINGS

from ..io.filehash import feed
from ..mediapipe_files import modules_dir


@dataclass
class Crop:
    image: np.ndarray                 # RGB uint8, square
    x0: float                         # frame x of crop pixel (0, 0)
    y0: float
    scale: float = 1.0                # frame pixels per crop pixel
    face_box: Optional[np.ndarray] = None   # frame-pixel xyxy from the person detector
    frame: Optional[np.ndarray] = None      # the whole frame (face experts crop their own ROI from it)
    centre: Optional[np.ndarray] = None     # the tracked person's body centre (hip), frame pixels
    others: Optional[np.ndarray] = None     # other tracked people's body centres (N, 2), frame pixels
    tracked: Optional[tuple[np.ndarray, np.ndarray]] = None   # the tracker's landmarks of this person here:
                                                              # (33, 3) frame pixels + visibility, world (33, 4)
    circle: Optional[np.ndarray] = None     # the tracked person's body-circle point, frame pixels: with `centre`,
                                            # the BlazePose ROI (workers.pose.body_landmarks.roi_from_points)

    def to_frame(self, uv: np.ndarray) -> np.ndarray:
        return uv * self.scale + np.array([self.x0, self.y0], dtype=np.float32)

    def from_frame(self, xy: np.ndarray) -> np.ndarray:
        """Frame pixels -> this crop's pixels (float64)."""
        return (np.asarray(xy, dtype=np.float64) - np.array([self.x0, self.y0])) / self.scale


@dataclass
class ExpertResult:
    points: np.ndarray                      # (N_native, 3): x, y, score in frame pixels; missing = NaN, 0
    world: Optional[np.ndarray] = None      # (33, 4): metric 3D (MediaPipe world frame) + score


def _problem(err: dict, known: dict) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown setting (known: {', '.join(known)})"
    return f"{key}: {err['msg']} (got {err['input']!r})"


def empty_points(n: int) -> np.ndarray:
    out = np.full((n, 3), np.nan, dtype=np.float32)
    out[:, 2] = 0.0
    return out


def sha256_files(paths: list[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        if not os.path.exists(p):
            raise FileNotFoundError(f"model file {p} is not installed")
        feed(h, p)
    return h.hexdigest()


class Expert:
    name: ClassVar[str]
    parts: ClassVar[tuple[str, ...]]
    native: ClassVar[str]
    defaults: ClassVar[dict]                   # from schemas.experts.EXPERT_SETTINGS[name] (set per subclass)
    needs_weights: ClassVar[bool] = False      # cluster experts: the user supplies the model file
    batched: ClassVar[bool] = False            # process() runs its crops as one model batch
    # part -> model family: experts running the same network (Holistic's face and `facemesh` both run
    # face_landmark.tflite) are one voter, so fusion does not count their agreement as independent evidence.
    # Parts not listed: the expert's own name.
    families: ClassVar[dict] = {}

    @classmethod
    def family(cls, part: str) -> str:
        return cls.families.get(part, cls.name)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            cls.defaults = EXPERT_SETTINGS[cls.name]().model_dump(mode="json")

    def __init__(self, **settings):
        try:
            valid = EXPERT_SETTINGS[self.name].model_validate(settings)
        except ValidationError as e:
            problems = "; ".join(_problem(err, self.defaults) for err in e.errors())
            raise ValueError(f"expert {self.name}: {problems}") from None
        self.settings = valid.model_dump(mode="json")
        self._ready = False

    # --- to implement
    def model_files(self) -> list[str]:
        return []

    def package_version(self) -> str:
        return ""

    def load(self) -> None:
        raise NotImplementedError

    def process_one(self, crop: Crop) -> ExpertResult:
        raise NotImplementedError

    # --- shared
    def check(self) -> None:
        """Fail before compute when a model file is missing (raises FileNotFoundError naming it)."""
        for p in self.model_files():
            if not os.path.exists(p):
                raise FileNotFoundError(f"expert {self.name}: model file {p} not found")

    def version(self) -> dict:
        self.check()
        return {"expert": self.name, "package": self.package_version(),
                "model_sha256": sha256_files(self.model_files()) if self.model_files() else ""}

    def setup(self) -> None:
        if not self._ready:
            from ..quiet import native_stderr_silenced
            with native_stderr_silenced():
                self.load()
            self._ready = True

    def process(self, crops: list[Crop]) -> list[ExpertResult]:
        self.setup()
        return [self.process_one(c) for c in crops]


def mediapipe_modules() -> str:
    return modules_dir()


def mediapipe_version() -> str:
    from importlib.metadata import version
    return version("mediapipe")


def landmarks_xy(lms, n: int) -> np.ndarray:
    return np.array([[p.x, p.y] for p in lms.landmark[:n]], dtype=np.float32)
