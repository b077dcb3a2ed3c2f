"""The skelforge DAG, readable in one screen, and the `skelforge` entry point.

Per clip (two group tasks, `sense` then `fit`, passing cache keys only; stages cached one by one):
    probe -> frames (30 FPS) -> detect (+ tracking, actor selection) -> pose (every configured expert per
    actor, each cached on its own key) | -> refine (multi-expert fusion + temporal clean-up) -> fit3d (3D in the
    camera frame, direct or SMPL-X by back-projection; when fit3d.enabled) -> quality (scores) -> filter (named
    rules) -> flow (optical flow at the body joints; when flow.enabled) -> convert (layouts)
    `sense` decodes the clip once and runs the models: on a GPU worker when a detector/expert device is cuda;
    `fit` needs no GPU, and pixels only for flow (pipeline/dag.py: groups and resources).
Over the dataset, after every clip (their per-file / per-clip work as tasks on the same Dask workers):
    labels (merge map, dense ids, splits) -> shards (Parquet per layout, a task per file) -> report (per-class
    quality; QC records and worst-clip visuals as tasks)
    -> train (when train.enabled: an action model on the shards, on a GPU worker when the cluster has one)
"""
from pipeline.dag import Dag
from pipeline.stages import (convert, detect, filter, fit3d, flow, frames, labels, pose, probe, quality, refine,
                             report, shards, train)

DAG = Dag([
    # stage          needs
    (probe.STAGE,    []),
    (frames.STAGE,   ["probe"]),
    (detect.STAGE,   ["frames"]),
    (pose.STAGE,     ["frames", "detect"]),
    (refine.STAGE,   ["pose"]),
    (fit3d.STAGE,    ["frames", "refine"]),
    (quality.STAGE,  ["detect", "refine"]),
    (filter.STAGE,   ["quality"]),
    (flow.STAGE,     ["frames", "refine"]),
    (convert.STAGE,  ["refine", "filter", "fit3d", "flow"]),
    (labels.STAGE,   ["convert"]),
    (shards.STAGE,   ["labels"]),
    (report.STAGE,   ["shards"]),
    (train.STAGE,    ["shards"]),
], groups=[
    ("sense", ["probe", "frames", "detect", "pose"]),
    ("fit",   ["refine", "fit3d", "quality", "filter", "flow", "convert"]),
])


def main() -> None:
    from pipeline.cli import app, set_dag
    set_dag(DAG)
    app()


if __name__ == "__main__":
    main()
