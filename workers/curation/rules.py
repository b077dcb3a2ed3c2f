"""Named filter rules over a clip's quality scores. Each rule reads one measured value and a threshold (a lower
bound, or for max_* rules an upper one); the first rule a clip fails names why it was filtered (rule, measured
value, threshold)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class Rule:
    name: str
    describe: str
    measure: Callable[[dict, str], float]     # (scores, part or "") -> value
    upper: bool = False                       # a max_* rule: the clip fails above the threshold, else below

    def fails(self, value: float, threshold: float) -> bool:
        return value > threshold if self.upper else value < threshold


def _part(scores: dict, part: str) -> float:
    return scores["parts"][part]["present"]


RULES = {
    "min_frames": Rule("min_frames", "clip shorter than {t:g} frames (at 30 FPS)", lambda s, _: s["n_frames"]),
    "min_pose_ratio": Rule("min_pose_ratio", "a pose in fewer than {t:.0%} of frames",
                           lambda s, _: s["pose_ratio"]),
    "min_confidence": Rule("min_confidence", "mean body confidence of the actors below {t:g}",
                           lambda s, _: s["confidence"]),
    "min_part_present": Rule("min_part_present", "{part}: fewer than {t:.0%} of its joints present",
                             _part),
    "max_identity_switches": Rule("max_identity_switches", "more than {t:g} suspected identity switches",
                                  lambda s, _: s.get("identity_switches", 0), upper=True),
    "max_part_violations": Rule("max_part_violations", "a hand or the face off its body in more than {t:.0%} "
                                "of person-frames", lambda s, _: s.get("part_violation_share", 0.0), upper=True),
}
CLIP_RULES = ("min_frames", "min_pose_ratio", "min_confidence", "max_identity_switches", "max_part_violations")


def apply_rules(scores: dict, thresholds: dict, part_thresholds: dict) -> Optional[dict]:
    """thresholds: {rule: threshold or None}; part_thresholds: {part: min share present}. Returns the first
    failure as {rule, value, threshold, reason} or None when the clip passes."""
    for name in CLIP_RULES:
        t = thresholds.get(name)
        if t is None:
            continue
        v = RULES[name].measure(scores, "")
        if RULES[name].fails(v, t):
            return {"rule": name, "value": round(float(v), 4), "threshold": t,
                    "reason": RULES[name].describe.format(t=t)}
    for part, t in sorted(part_thresholds.items()):
        v = RULES["min_part_present"].measure(scores, part)
        if v < t:
            return {"rule": f"min_part_present.{part}", "value": round(float(v), 4), "threshold": t,
                    "reason": RULES["min_part_present"].describe.format(t=t, part=part)}
    return None
