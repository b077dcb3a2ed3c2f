"""Appearance: a colour signature of each person's torso, and identity repair where two tracks met.

Motion cannot tell who is who once two people overlap: the association (`tracker.association_cost`) predicts
constant velocity, so two people who meet and turn back, or who pass while one hides the other, may leave with
each other's track. What they wear can tell, but only where each is seen clear of the other: while they overlap,
one's torso region holds the other's colours. So appearance is compared *across* an encounter, not inside it:

  signature   an HSV colour histogram (HUE x SAT x VAL bins, normalised) of the torso region of a detection
              row: the box around the segment from the neck (NECK of the way from face centre to hip) to the
              hip, widened by TORSO_HALF_WIDTH face sizes on each side; recorded only at *clear* frames, where
              no other track's body centre lies within the person's body radius (`follow.crowded`)
  distance    the Hellinger distance between two histograms: 0 identical, 1 disjoint
  encounter   for a pair of tracks, a maximal run of frames where both are alive but not both clear of each
              other (close, or one of them not seen), bounded by frames where both are seen apart
  repair      before the encounter each track has its median signature over its last WINDOW clear frames,
              after it over its first WINDOW clear frames (at least MIN_SIGNATURES each). If the crossed
              pairing explains the appearance much better than the kept one —
                  d(i before, j after) + d(j before, i after) < SWAP_RATIO x (d(i before, i after) + d(j before, j after))
              and the gain (kept - crossed) exceeds both the signatures' own scatter (the sum over the four
              sides of the median distance of a side's signatures to its median: what noise alone moves) and
              MIN_GAIN — the two tracks exchange everything from the encounter's closest frame on (where a hop
              happens).

A ratio, not a colour threshold: two people dressed alike give similar distances either way and nothing is
swapped; lighting that changes both tracks' colours alike changes both sides of the test alike. SWAP_RATIO =
0.5 asks the crossed pairing to halve the unexplained appearance change; the same person's torso seen a few
seconds apart (turning, arms in front, lighting) stays well within that on its own, so no single noisy
signature can force a swap. The gain conditions keep near-identical signatures (two people dressed the same,
a static scene) from swapping on rounding: MIN_GAIN = 0.05 is two histograms sharing 99.75% of their
Bhattacharyya mass. Nothing here runs unless two tracks came close.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .follow import crowded

HUE, SAT, VAL = 8, 4, 4
NECK = 0.3                  # of the face-centre -> hip segment: below the chin
TORSO_HALF_WIDTH = 0.6      # face sizes each side of the spine: inside the shoulders
MIN_SIDE = 8                # pixels: smaller torso regions give no signature
WINDOW = 15                 # clear frames per side of an encounter (half a second at 30 fps)
MIN_SIGNATURES = 3
SWAP_RATIO = 0.5
MIN_GAIN = 0.05


def torso_box(row: np.ndarray, width: int, height: int) -> Optional[tuple[int, int, int, int]]:
    """Integer pixel box (x0, y0, x1, y1) of a detection row's torso, clipped to the frame; None if too small."""
    face = (row[1:3] + row[3:5]) / 2
    hip = row[5:7]
    if not (np.isfinite(face).all() and np.isfinite(hip).all()):
        return None
    neck = face + NECK * (hip - face)
    half = TORSO_HALF_WIDTH * float(max(row[3] - row[1], row[4] - row[2]))
    x0, y0 = np.minimum(neck, hip) - half
    x1, y1 = np.maximum(neck, hip) + half
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    x1, y1 = min(int(np.ceil(x1)), width), min(int(np.ceil(y1)), height)
    if x1 - x0 < MIN_SIDE or y1 - y0 < MIN_SIDE:
        return None
    return x0, y0, x1, y1


def signature(frame: np.ndarray, row: np.ndarray) -> Optional[np.ndarray]:
    """The torso's normalised HSV histogram (HUE*SAT*VAL,) float32 from an RGB frame, or None."""
    box = torso_box(row, frame.shape[1], frame.shape[0])
    if box is None:
        return None
    x0, y0, x1, y1 = box
    hsv = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [HUE, SAT, VAL], [0, 180, 0, 256, 0, 256]).ravel()
    return (hist / max(float(hist.sum()), 1.0)).astype(np.float32)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Hellinger distance between two normalised histograms, in [0, 1]."""
    return float(np.sqrt(max(0.0, 1.0 - float(np.sqrt(a * b).sum()))))


def clear(rows: list[dict[int, np.ndarray]], k: int, t: int) -> bool:
    """Whether track k at frame t is seen with no other track's body within its radius."""
    others = [r[t] for j, r in enumerate(rows) if j != k and t in r]
    return not crowded(rows[k][t], np.array(others).reshape(-1, rows[k][t].shape[0]))


def _apart(a: np.ndarray, b: np.ndarray) -> bool:
    return not crowded(a, b[None]) and not crowded(b, a[None])


def encounters(ri: dict[int, np.ndarray], rj: dict[int, np.ndarray]) -> list[tuple[int, int]]:
    """(first, last) frames of each encounter of two tracks (frame -> row): runs of frames, within both tracks'
    spans, where they are not both seen apart, bounded on both sides by frames where they are."""
    lo, hi = max(min(ri), min(rj)), min(max(ri), max(rj))
    out, start, prev_apart = [], None, None
    for t in range(lo, hi + 1):
        apart = t in ri and t in rj and _apart(ri[t], rj[t])
        if not apart and start is None and prev_apart is not None:
            start = t
        if apart:
            if start is not None:
                out.append((start, t - 1))
                start = None
            prev_apart = t
    return out


def _side(looks: dict[int, np.ndarray], frames: list[int]) -> Optional[tuple[np.ndarray, float]]:
    """(median signature, median distance of the signatures to it) of a window, or None if too few."""
    if len(frames) < MIN_SIGNATURES:
        return None
    sigs = np.stack([looks[f] for f in frames]).astype(np.float32)
    med = np.median(sigs, axis=0)
    med /= max(float(med.sum()), 1e-9)
    return med, float(np.median([distance(s, med) for s in sigs]))


def should_swap(li: dict[int, np.ndarray], lj: dict[int, np.ndarray], first: int, last: int) -> Optional[dict]:
    """The appearance test over one encounter (looks: frame -> signature at clear frames); the distances when
    the crossed pairing wins, else None (also when either side has too few clear signatures)."""
    def side(looks, before):
        frames = sorted(f for f in looks if (f < first if before else f > last))
        return _side(looks, frames[-WINDOW:] if before else frames[:WINDOW])
    sides = [side(li, True), side(li, False), side(lj, True), side(lj, False)]
    if any(s is None for s in sides):
        return None
    (ib, nib), (ia, nia), (jb, njb), (ja, nja) = sides
    kept = distance(ib, ia) + distance(jb, ja)
    crossed = distance(ib, ja) + distance(jb, ia)
    gain = kept - crossed
    if crossed < SWAP_RATIO * kept and gain > max(nib + nia + njb + nja, MIN_GAIN):
        return {"kept": round(kept, 3), "crossed": round(crossed, 3)}
    return None


def closest_frame(ri: dict[int, np.ndarray], rj: dict[int, np.ndarray], first: int, last: int) -> int:
    """The encounter frame where both are seen with their body centres nearest (in body radii); `first` when
    they are never both seen inside it."""
    best, where = np.inf, first
    for t in range(first, last + 1):
        if t in ri and t in rj:
            r = max(float(np.linalg.norm(ri[t][7:9] - ri[t][5:7])), 1e-6)
            d = float(np.linalg.norm(ri[t][5:7] - rj[t][5:7])) / r
            if d < best:
                best, where = d, t
    return where
