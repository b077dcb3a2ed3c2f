"""Label merging (many-to-one map) and seeded stratified splits. Pure functions over label names.

A YAML label map is read strictly (schemas/yamlfile.py): a duplicated key or any YAML tag is a `LabelMapError`
naming the file, the key and the line."""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Optional

import yaml

from schemas.yamlfile import load_yaml


class LabelMapError(ValueError):
    """The label map does not fit the data; the message lists what to fix."""


def read_map(path: Path) -> dict[str, str]:
    """source label -> target label, from YAML ({target: [source, ...]}) or CSV (columns source,target)."""
    path = Path(path)
    if not path.is_file():
        raise LabelMapError(f"labels.map: {path} does not exist")
    if path.suffix.lower() == ".csv":
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        if rows and not {"source", "target"} <= set(rows[0]):
            raise LabelMapError(f"labels.map: {path} needs columns source,target")
        pairs = [(r["source"].strip(), r["target"].strip()) for r in rows]
    else:
        try:
            data = load_yaml(path.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise LabelMapError(f"labels.map: {path}: {e}") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise LabelMapError(f"labels.map: {path} must map each target label to a list of source labels")
        pairs = [(str(src), str(t)) for t, srcs in data.items() for src in srcs]
    out: dict[str, str] = {}
    conflicts = set()
    for src, target in pairs:
        if out.setdefault(src, target) != target:
            conflicts.add(src)
    if conflicts:
        raise LabelMapError(f"labels.map: source label(s) mapped to two targets: {sorted(conflicts)}")
    return out


def check_map(mapping: dict[str, str], sources: set[str], keep_unmapped: bool) -> None:
    unmapped = sorted(sources - set(mapping))
    unused = sorted(set(mapping) - sources)
    problems = []
    if unmapped and not keep_unmapped:
        problems.append(f"{len(unmapped)} source label(s) missing from the map (or set labels.keep_unmapped: true): "
                        f"{unmapped[:20]}")
    if unused:
        problems.append(f"{len(unused)} map entr(ies) match no label in the data: {unused[:20]}")
    if problems:
        raise LabelMapError("labels.map: " + "; ".join(problems))


def merged(name: str, mapping: Optional[dict[str, str]]) -> str:
    return mapping.get(name, name) if mapping else name


def stratified_split(clip_ids: list[str], labels: list[str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Seeded stratified assignment: within each class, clips are ordered by a hash of (seed, clip id) and cut
    by the fractions (largest-remainder rounding), so a clip's split depends only on its class members, the
    seed and the fractions — adding clips of another class changes nothing."""
    names = list(fractions)
    out = {}
    for label in sorted(set(labels)):
        members = sorted((c for c, l in zip(clip_ids, labels) if l == label),
                         key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest())
        n = len(members)
        raw = [fractions[s] * n for s in names]
        counts = [int(r) for r in raw]
        for i in sorted(range(len(names)), key=lambda i: raw[i] - counts[i], reverse=True)[: n - sum(counts)]:
            counts[i] += 1
        start = 0
        for s, k in zip(names, counts):
            for c in members[start:start + k]:
                out[c] = s
            start += k
    return out
