"""Exports to the formats researchers already train with (../shared/notes/formats.md), by name (`--format`):

pyskl         one pickle in pyskl's / mmaction2's format and an mmaction2 config beside it (export_pyskl.py)
ntu-x-npy     NTU-X's feeders' tree (train/ test/ folders, SsssCcccPpppRrrrAaaa names, [(names, labels)] pickles,
              .npy + .h5): export_ntux.py
posetics-npy  what UNIK's posetics_gendata.py writes, from skelforge's 2D and 3D (export_posetics.py)

Before writing anything each export checks its destination (`dest_guard`): DEST must not be, hold or lie inside
the build's inputs, and every file it will write (named from the shards' clip ids and splits) must land inside
DEST; otherwise UnsafeDestination (a ValueError) is raised.
"""
from __future__ import annotations

from .export_ntux import export_ntu_x
from .export_posetics import export_posetics
from .export_pyskl import export_pyskl

EXPORTS = {"pyskl": export_pyskl, "ntu-x-npy": export_ntu_x, "posetics-npy": export_posetics}
