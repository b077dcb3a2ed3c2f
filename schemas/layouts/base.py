"""The vocabulary layouts are written in.

A layout joint is computed from *source points*: (part, index) pairs of the canonical whole-body space the
experts are fused in, where part is one of SOURCE_PARTS. A joint's rule is a list of candidates tried in order (fallbacks); each candidate is a
weighted sum of source points. A candidate is usable in a frame only when every point it sums has score > 0;
its score is the minimum of those points' scores (conservative: an interpolated joint is no surer than its
least sure input).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# The canonical whole-body space every expert is mapped into and fused in (schemas/natives.py), in this order:
# body = MediaPipe Pose's 33 points + left/right small toe (COCO-WholeBody has them), hands = 21 each (the
# MediaPipe/OpenPose/COCO-WholeBody hand order), face = the 68 iBUG/300W points.
SOURCE_PARTS: dict[str, int] = {"body": 35, "left_hand": 21, "right_hand": 21, "face": 68}


def source_offset(part: str) -> int:
    """Index of `part`'s first point in the concatenated source array (body, left_hand, right_hand, face)."""
    offset = 0
    for name, size in SOURCE_PARTS.items():
        if name == part:
            return offset
        offset += size
    raise KeyError(f"unknown source part {part!r}; known: {sorted(SOURCE_PARTS)}")


SOURCE_SIZE = sum(SOURCE_PARTS.values())

Point = tuple[str, int]                       # (part, index)
Candidate = tuple[tuple[Point, float], ...]   # weighted sum of points


def src(part: str, index: int) -> Candidate:
    if not 0 <= index < SOURCE_PARTS[part]:
        raise ValueError(f"{part} has {SOURCE_PARTS[part]} points; {index} is out of range")
    return (((part, index), 1.0),)


def mean(*candidates: Candidate) -> Candidate:
    """Equal-weight mean of candidates (each may itself be a mean: weights multiply out)."""
    w = 1.0 / len(candidates)
    merged: dict[Point, float] = {}
    for cand in candidates:
        for point, weight in cand:
            merged[point] = merged.get(point, 0.0) + weight * w
    return tuple(merged.items())


def lerp(a: Candidate, b: Candidate, t: float) -> Candidate:
    """a + t * (b - a)."""
    merged: dict[Point, float] = {}
    for cand, w in ((a, 1.0 - t), (b, t)):
        for point, weight in cand:
            merged[point] = merged.get(point, 0.0) + weight * w
    return tuple((p, wt) for p, wt in merged.items() if wt != 0.0)


@dataclass(frozen=True)
class Joint:
    name: str
    candidates: tuple[Candidate, ...]
    kind: str = "direct"   # direct | interpolated | approximated
    note: str = ""

    def __post_init__(self):
        if self.kind not in ("direct", "interpolated", "approximated"):
            raise ValueError(f"{self.name}: kind must be direct, interpolated or approximated")
        if self.kind != "direct" and not self.note:
            raise ValueError(f"{self.name}: an {self.kind} joint must say how in `note`")
        for cand in self.candidates:
            if abs(sum(w for _, w in cand) - 1.0) > 1e-6:
                raise ValueError(f"{self.name}: candidate weights must sum to 1 (an affine combination)")


def direct(name: str, part: str, index: int) -> Joint:
    return Joint(name, (src(part, index),))


@dataclass(frozen=True)
class Layout:
    name: str
    joints: tuple[Joint, ...]
    edges: tuple[tuple[int, int], ...]
    parts: dict[str, tuple[int, ...]]            # fine parts (e.g. PA-ResGCN's 9 for NTU-X)
    regions: dict[str, tuple[int, ...]]          # coarse: body / left_hand / right_hand / face
    center: int                                  # joint the graph is centred on (for bone direction)
    description: str = ""
    edge_notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def joint_names(self) -> list[str]:
        return [j.name for j in self.joints]

    def index(self, name: str) -> int:
        return self.joint_names.index(name)


def edges_by_name(names: list[str], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((names.index(a), names.index(b)) for a, b in pairs)


def chain(indices: list[int], closed: bool = False) -> list[tuple[int, int]]:
    out = list(zip(indices[:-1], indices[1:]))
    if closed:
        out.append((indices[-1], indices[0]))
    return out


def restrict(layout: Layout, regions: tuple[str, ...], name: str | None = None) -> tuple[Layout, tuple[int, ...]]:
    """The sub-layout made of `regions` (e.g. NTU-X 118 -> body 25, body + hands 67) and the kept joint indices
    into `layout`, in its order. Edges, parts and regions are re-indexed; edges to dropped joints go."""
    unknown = [r for r in regions if r not in layout.regions]
    if unknown:
        raise KeyError(f"{layout.name} has no region(s) {unknown}; it has {list(layout.regions)}")
    keep = tuple(sorted({j for r in regions for j in layout.regions[r]}))
    if layout.center not in keep:
        raise ValueError(f"{layout.name}: the regions {list(regions)} drop the centre joint")
    new = {old: i for i, old in enumerate(keep)}

    def remap(groups: dict) -> dict:
        out = {k: tuple(new[j] for j in v if j in new) for k, v in groups.items()}
        return {k: v for k, v in out.items() if v}

    sub = Layout(name or f"{layout.name}[{'+'.join(regions)}]", tuple(layout.joints[j] for j in keep),
                 tuple((new[a], new[b]) for a, b in layout.edges if a in new and b in new),
                 remap(layout.parts), remap(layout.regions), new[layout.center],
                 f"{layout.description} (regions: {', '.join(regions)})", layout.edge_notes, dict(layout.extra))
    return sub, keep
