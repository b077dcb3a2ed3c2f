"""rtmpose / rtmw — OpenMMLab RTMPose (COCO-17 body) and RTMW (COCO-WholeBody 133: body, feet, face, hands)
through `rtmlib` + onnxruntime, from a user-supplied ONNX file (`expert_settings.<name>.onnx`; nothing is
downloaded here: a missing file is an error before any compute; `skelforge models download` fetches the
registry's models, and a file stored under a registry name must have its published sha256).
Natives: coco-17, coco-wholebody-133.

The model sees the person box inside the crop (the crop's central `box_shrink` part; rtmlib adds its own 1.25
padding) at `input_size` (w, h). Scores are the SimCC maxima rtmlib reports, clipped to [0, 1]; points below
`min_score` are missing. `device: cuda` uses onnxruntime's CUDA provider where onnxruntime-gpu is installed.

Batched: `process(crops)` runs rtmlib's own pre- and post-processing per crop (the same affine crop and SimCC
decoding as `RTMPose.__call__`) around one onnxruntime run on the stacked crops, when the file's input has a
dynamic batch axis (mmdeploy's `*_onnxruntime_dynamic` exports do); a file exported with a fixed batch runs that
many crops per session run. On onnxruntime's CPU provider the outputs are bit-identical for every batch size
(tests/test_batching.py).
"""
from __future__ import annotations

import contextlib
import io

import numpy as np

from ..io.weights_check import check_known
from ..onnx_batch import BatchedSession
from .base import Crop, Expert, ExpertResult, empty_points


class _RTMBase(Expert):
    needs_weights = True
    batched = True
    n_points: int

    def model_files(self):
        return [str(self.settings["onnx"])] if self.settings["onnx"] else []

    def check(self) -> None:
        if not self.settings["onnx"]:
            raise FileNotFoundError(f"expert {self.name} needs expert_settings.{self.name}.onnx: the path of an "
                                    f"{self.name.upper()} ONNX file (user-supplied weights)")
        super().check()
        check_known(self.settings["onnx"])      # a registry model's file (by name) must have its published sha256

    def package_version(self):
        from importlib.metadata import version

        import onnxruntime            # the module's version: the same for the onnxruntime and onnxruntime-gpu wheels
        return f"rtmlib {version('rtmlib')}, onnxruntime {onnxruntime.__version__}"

    def load(self):
        from rtmlib import RTMPose
        self.check()
        with contextlib.redirect_stdout(io.StringIO()):          # rtmlib prints a line per model load
            self._m = RTMPose(onnx_model=str(self.settings["onnx"]), model_input_size=tuple(self.settings["input_size"]),
                              backend="onnxruntime", device=self.settings["device"])
        self._session = BatchedSession(self._m.session)

    def process(self, crops: list[Crop]) -> list[ExpertResult]:
        self.setup()
        prepared = [self._m.preprocess(c.image, self._box(c)) for c in crops]           # (image, centre, scale)
        outputs = self._session.run([img for img, _, _ in prepared])
        out = []
        for crop, (_, centre, scale), simcc in zip(crops, prepared, outputs):
            kpts, scores = self._m.postprocess(simcc, centre, scale)
            out.append(self._result(crop, kpts[0], scores[0]))
        return out

    def _box(self, crop: Crop) -> list[float]:
        """The person box inside the crop: its central `box_shrink` part."""
        side = crop.image.shape[0]
        s, c = side * self.settings["box_shrink"], side / 2
        return [c - s / 2, c - s / 2, c + s / 2, c + s / 2]

    def _result(self, crop: Crop, kpts: np.ndarray, scores: np.ndarray) -> ExpertResult:
        pts = empty_points(self.n_points)
        sc = np.clip(np.asarray(scores, dtype=np.float32), 0, 1)
        ok = sc >= self.settings["min_score"]
        pts[ok, :2] = crop.to_frame(np.asarray(kpts, dtype=np.float32)[ok])
        pts[ok, 2] = sc[ok]
        return ExpertResult(pts)


class RTMPoseExpert(_RTMBase):
    name = "rtmpose"
    parts = ("body",)
    native = "coco-17"
    n_points = 17


class RTMWExpert(_RTMBase):
    name = "rtmw"
    parts = ("body", "left_hand", "right_hand", "face")
    native = "coco-wholebody-133"
    n_points = 133
