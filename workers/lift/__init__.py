"""3D candidates per person (direct lifting; SMPL-X fitting lives in workers/fitting) and the choice between
them by back-projection (NTU-X's per-class choice, made automatic and per clip)."""
