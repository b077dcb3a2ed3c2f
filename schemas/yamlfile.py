"""Strict YAML for user-written files (build configs, label maps).

`load_yaml(text)` reads like `yaml.safe_load` but refuses two things a safe load lets through silently:
- a key given twice in one mapping (the last would silently win): `YAMLStrictError` naming the key path and both
  lines;
- any explicit tag (`!!python/object:...`, `!!str`, `!foo`, ...): a config or label map is plain data, so a tag
  is a mistake or an attack; the error names the key path and line.
`YAMLStrictError` is a `yaml.YAMLError`, so callers that already turn YAML errors into user errors catch it too.
"""
from __future__ import annotations

import yaml
from yaml.nodes import ScalarNode


class YAMLStrictError(yaml.YAMLError):
    """A duplicate key or a tag; the message names the key path and line."""


class _StrictLoader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self._path: list[str] = []

    def compose_node(self, parent, index):
        if isinstance(index, ScalarNode):          # a mapping value: index is its key node
            self._path.append(str(index.value))
        elif isinstance(index, int):               # a sequence item
            self._path.append(str(index))
        else:                                      # the document root or a mapping key
            self._path.append("")
        try:
            event = self.peek_event()
            tag = getattr(event, "tag", None)
            if tag not in (None, "!"):
                shown = tag.replace("tag:yaml.org,2002:", "!!")
                raise YAMLStrictError(f"{self._where(event)}: YAML tag {shown} is not allowed (plain data only)")
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        first: dict[tuple, ScalarNode] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            seen = first.setdefault((key.tag, key.value), key)
            if seen is not key:
                raise YAMLStrictError(f"duplicate key '{self._key(key.value)}' at line {key.start_mark.line + 1} "
                                      f"(first given at line {seen.start_mark.line + 1})")
        return node

    def _key(self, last: str) -> str:
        return ".".join([p for p in self._path if p] + [last])

    def _where(self, event) -> str:
        key = ".".join(p for p in self._path if p) or "(top level)"
        return f"key '{key}', line {event.start_mark.line + 1}"


def load_yaml(text: str):
    """Parse one YAML document of plain data; duplicate keys and tags raise `YAMLStrictError`."""
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
