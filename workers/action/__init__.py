"""Skeleton action-recognition models and their training helpers (PyTorch; no Dask imports).

One module per job: graph construction from `schemas.layouts`, input streams, the models (ST-GCN, UNIK,
Pose-SlowOnly on pseudo heatmaps), hierarchical classification and pruning.
"""
