"""Items (person crops) gathered in arrival order across a clip's frames and handed out in batches of `size`
(`pose.batch_size`), the last one shorter: the pose stage's batching for experts that run a batch of crops as
one model call."""
from __future__ import annotations


class Batches:
    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"batch size must be >= 1 (got {size})")
        self.size = size
        self._pending: list = []

    def add(self, items: list) -> list[list]:
        """The full batches these items complete (none, one or several), in arrival order."""
        self._pending += items
        full = []
        while len(self._pending) >= self.size:
            full.append(self._pending[:self.size])
            self._pending = self._pending[self.size:]
        return full

    def rest(self) -> list[list]:
        """The pending items as a last, shorter batch (none when nothing is pending); the queue is then empty."""
        rest, self._pending = self._pending, []
        return [rest] if rest else []
