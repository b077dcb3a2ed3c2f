"""Label maps shipped with skelforge. `ntu120.txt`: the 120 NTU RGB+D action names, line i = action A(i+1)
(from pyskl, Apache-2.0)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_HERE = Path(__file__).parent


@lru_cache(maxsize=None)
def ntu120() -> tuple[str, ...]:
    return tuple(line.strip() for line in (_HERE / "ntu120.txt").read_text().splitlines() if line.strip())
