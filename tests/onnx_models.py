"""Tiny ONNX models made in the tests, with the input/output signatures of the real OpenMMLab exports, so the
rtmlib adapters run their real code path without licence-gated or downloaded weights (synthetic, by design).

- `simcc_model`: RTMPose/RTMW signature — input (B, 3, H, W) -> simcc_x (B, K, 2W), simcc_y (B, K, 2H).
  Either random weights over pooled input features, or a constant peak at chosen bins (to check coordinates).
- `yolox_model`: YOLOX export without NMS — input (B, 3, S, S) -> (B, anchors, 5 + classes); a constant output
  with one confident person anchor at a chosen place.

B is a dynamic batch axis named "batch" (as mmdeploy's `*_onnxruntime_dynamic` exports have) unless `batch`
gives a fixed size (as a static export has). Each sample's output depends on that sample alone.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _input_dependent(const_name: str, out_name: str, nodes: list, inits: list):
    """out[b] = const + 0 * mean(input[b]): each sample's output depends on its input (as real models do) but
    equals const."""
    inits.append(numpy_helper.from_array(np.zeros((), np.float32), f"{out_name}_zero"))
    inits.append(numpy_helper.from_array(np.array([-1, 1, 1], np.int64), f"{out_name}_b11"))
    nodes += [helper.make_node("ReduceMean", ["input"], [f"{out_name}_m4"], axes=[1, 2, 3], keepdims=1),
              helper.make_node("Reshape", [f"{out_name}_m4", f"{out_name}_b11"], [f"{out_name}_m"]),
              helper.make_node("Mul", [f"{out_name}_m", f"{out_name}_zero"], [f"{out_name}_m0"]),
              helper.make_node("Add", [const_name, f"{out_name}_m0"], [out_name])]


def simcc_model(path, k: int, w: int, h: int, peak: tuple[int, int] | None = None, seed: int = 0,
                batch: int | None = None):
    nodes, inits = [], []
    b = "batch" if batch is None else batch
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [b, 3, h, w])
    outs = [helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [b, k, 2 * w]),
            helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [b, k, 2 * h])]
    if peak is not None:
        for name, n, bin_ in (("simcc_x", 2 * w, peak[0]), ("simcc_y", 2 * h, peak[1])):
            c = np.zeros((1, k, n), np.float32)
            c[:, :, bin_] = 0.9
            inits.append(numpy_helper.from_array(c, f"{name}_c"))
            _input_dependent(f"{name}_c", name, nodes, inits)
    else:
        rng = np.random.default_rng(seed)
        nodes.append(helper.make_node("GlobalAveragePool", ["input"], ["pooled"]))
        nodes.append(helper.make_node("Flatten", ["pooled"], ["feat"]))               # (B, 3)
        for name, n in (("simcc_x", 2 * w), ("simcc_y", 2 * h)):
            inits.append(numpy_helper.from_array(rng.normal(size=(3, k * n)).astype(np.float32), f"{name}_w"))
            inits.append(numpy_helper.from_array(rng.uniform(0, 1, size=(k * n,)).astype(np.float32), f"{name}_b"))
            inits.append(numpy_helper.from_array(np.array([-1, k, n], np.int64), f"{name}_shape"))
            nodes += [helper.make_node("MatMul", ["feat", f"{name}_w"], [f"{name}_mm"]),
                      helper.make_node("Add", [f"{name}_mm", f"{name}_b"], [f"{name}_flat"]),
                      helper.make_node("Reshape", [f"{name}_flat", f"{name}_shape"], [name])]
    return _save(helper.make_graph(nodes, "simcc", [inp], outs, inits), path)


def yolox_model(path, size: int, centre: tuple[float, float], box: float, classes: int = 1,
                batch: int | None = None):
    """One confident anchor on the stride-32 grid cell holding `centre` (model-input pixels), box side `box`."""
    strides = [8, 16, 32]
    n = sum((size // s) ** 2 for s in strides)
    out = np.zeros((1, n, 5 + classes), np.float32)
    out[0, :, 4] = 0.0                                     # objectness 0 everywhere...
    off = sum((size // s) ** 2 for s in strides[:2])
    g = size // 32
    gx, gy = int(centre[0] // 32), int(centre[1] // 32)
    i = off + gy * g + gx
    out[0, i, 0], out[0, i, 1] = centre[0] / 32 - gx, centre[1] / 32 - gy
    out[0, i, 2] = out[0, i, 3] = np.log(box / 32)
    out[0, i, 4] = 1.0                                     # ...but here
    out[0, i, 5] = 1.0                                     # class 0 = person
    nodes, inits = [], [numpy_helper.from_array(out, "c")]
    _input_dependent("c", "output", nodes, inits)
    b = "batch" if batch is None else batch
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [b, 3, size, size])
    o = helper.make_tensor_value_info("output", TensorProto.FLOAT, [b, *out.shape[1:]])
    return _save(helper.make_graph(nodes, "yolox", [inp], [o], inits), path)
