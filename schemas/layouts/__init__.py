"""Registry of skeleton layouts by name."""
from __future__ import annotations

from .base import SOURCE_PARTS, SOURCE_SIZE, Joint, Layout, source_offset
from .coco import COCO_17
from .ntu25 import NTU_25
from .ntu_x import NTU_X_67, NTU_X_118
from .posetics import POSETICS_17

LAYOUTS: dict[str, Layout] = {l.name: l for l in (NTU_X_118, NTU_X_67, POSETICS_17, COCO_17, NTU_25)}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}") from None


__all__ = ["LAYOUTS", "get_layout", "Layout", "Joint", "SOURCE_PARTS", "SOURCE_SIZE", "source_offset"]
