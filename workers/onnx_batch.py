"""An onnxruntime session run on a stack of images: what rtmlib's `BaseTool.inference` does for one image
(HWC -> CHW, float32, a leading batch axis), for many at once. One session run takes them all when the model's
input has a dynamic batch axis; a model exported with a fixed batch size N takes N per run."""
from __future__ import annotations

import numpy as np


class BatchedSession:
    def __init__(self, session):
        self.session = session
        inp = session.get_inputs()[0]
        self._input = inp.name
        self._outputs = [o.name for o in session.get_outputs()]
        batch = inp.shape[0]
        self.max_batch = batch if isinstance(batch, int) and batch > 0 else None     # None: dynamic batch axis

    def run(self, images: list[np.ndarray]) -> list[list[np.ndarray]]:
        """Per image (HWC, preprocessed), the model's outputs for it, each with a batch axis of 1 — as rtmlib's
        post-processing expects them."""
        step = self.max_batch or max(len(images), 1)
        out = []
        for i in range(0, len(images), step):
            x = np.stack([np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32)
                          for img in images[i:i + step]])
            outputs = self.session.run(self._outputs, {self._input: x})
            out += [[o[j:j + 1] for o in outputs] for j in range(len(x))]
        return out
