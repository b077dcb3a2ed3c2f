"""Build configuration (YAML, validated by pydantic). Unknown keys and bad values are errors naming the key.

Every stage declares the dotted config paths it reads (its `params`); only those enter its cache key, so
changing e.g. `convert.min_score` re-runs convert and what follows, nothing before.
"""
from __future__ import annotations

import copy
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .experts import EXECUTION_SETTINGS, EXPERT_PARTS, check_expert_settings, known_experts
from .fit3d import Fit3dConfig
from .flow import FlowConfig
from .marks import EXECUTION
from .strict_numbers import NoBoolNumbers
from .train import TrainConfig
from .yamlfile import YAMLStrictError, load_yaml


Share = Annotated[float, Field(ge=0, le=1)]




def _key_view(model: BaseModel) -> dict:
    """model_dump(mode="json") without execution settings, recursively."""
    out = {}
    for name, info in type(model).model_fields.items():
        if (info.json_schema_extra or {}).get("execution"):
            continue
        value = getattr(model, name)
        out[name] = _key_view(value) if isinstance(value, BaseModel) else \
            type(model).__pydantic_serializer__.to_python(model, mode="json", include={name})[name]
    return out


class _Section(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(_Section):
    adapter: Literal["auto", "ntu", "folders", "csv", "kinetics"] = "auto"
    csv: Optional[Path] = Field(None, description="csv/kinetics adapters: the annotation file")
    split_protocol: Literal["xsub", "xview", "xset"] = Field("xsub", description="NTU split in `split`")
    extensions: tuple[str, ...] = Field(
        (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".h264", ".264"),
        description="raw .h264/.264 streams are timed by the rate their bitstream declares")
    default_split: str = Field("train", description="split for clips the adapter gives none")

    @field_validator("default_split")
    @classmethod
    def _plain_split(cls, v):     # it names shard files: <split>-00000-of-00001.parquet
        if not v.strip() or v in (".", "..") or any(c in v for c in "/\\") or any(ord(c) < 32 for c in v):
            raise ValueError("must be a plain name (no '/', '\\', control characters, '.' or '..')")
        return v


class FramesConfig(_Section):
    fps: int = Field(30, ge=1, le=240, description="output frame rate; 30 is the NTU-X/Posetics convention")
    max_frames: Optional[int] = Field(None, ge=1, description="keep at most this many output frames per clip")
    min_decoded_ratio: float = Field(0.9, gt=0, le=1, description="decoded/declared frames below this = truncated")
    max_source_fps: int = Field(
        480, ge=1, description="a source whose timestamps give more frames per second than this is a failed row "
        "(broken timing, e.g. a container claiming 1000 fps); raise it for genuine high-speed footage")


class DetectConfig(_Section):
    detector: Literal["blazepose", "yolox", "yolo-pose"] = Field(
        "blazepose", description="blazepose is bundled; yolox (ONNX via rtmlib) and yolo-pose (Ultralytics .pt) "
                                 "need `weights`")
    weights: Optional[Path] = Field(None, description="model file for yolox / yolo-pose (user-supplied)",
                                    json_schema_extra=EXECUTION)
    input_size: int = Field(640, ge=32, description="yolox / yolo-pose input size")
    device: str = Field("cpu", description="yolox / yolo-pose device: cpu or cuda", json_schema_extra=EXECUTION)
    score_threshold: float = Field(0.5, ge=0, le=1)
    nms_iou: float = Field(0.3, ge=0, le=1, description="IoU of face boxes above which detections merge")
    tiles: Literal["auto", "none"] = Field(
        "auto", description="auto: also run on square tiles of the frame when it is wider/taller than 4:3")
    zoom_out: float = Field(0.5, ge=0, le=2, description="also detect on the frame padded by this x its long "
                            "side, for close-ups whose bodies leave the frame (0 = off)")
    num_threads: int = Field(1, ge=1, json_schema_extra=EXECUTION)
    batch_size: int = Field(4, ge=1, le=256, description="frames per detector call: yolox / yolo-pose run them as "
                            "one model batch (blazepose frame by frame); results do not depend on it",
                            json_schema_extra=EXECUTION)
    keyframe_stride: int = Field(
        10, ge=1, description="1: the detector on every frame; N: on every N-th frame and where tracking needs it "
                              "between (workers/track/keyframes.py), the other frames interpolated")

    @model_validator(mode="after")
    def _weights_given(self):
        if self.detector != "blazepose" and self.weights is None:
            raise ValueError(f"detect.weights: the {self.detector} detector needs a weights file (user-supplied; "
                             "nothing is downloaded)")
        return self


class TrackConfig(_Section):
    min_iou: float = Field(0.2, ge=0, le=1, description="below this a detection never joins a track")
    max_gap: int = Field(15, ge=0, description="frames a track may miss and still be bridged (interpolated)")
    min_frames: int = Field(5, ge=1, description="tracks shorter than this are dropped")
    max_persons: int = Field(2, ge=1, description="actors kept per clip when the adapter gives no count")
    follow: bool = Field(True, description="follow a person the detector lost by their own body landmarks "
                                           "(MediaPipe video-mode ROI from the previous frame)")
    follow_presence: float = Field(0.5, ge=0, le=1, description="landmark pose-presence needed to keep following")
    appearance: bool = Field(True, description="repair identities across encounters of two tracks by their torso "
                                               "colours before and after (workers/track/appearance.py)")


class PoseConfig(_Section):
    """How each actor's crop is made (shared by every expert), and how many crops a batching expert takes at once."""
    roi_scale: float = Field(1.25, ge=1.0, le=3.0, description="crop side = roi_scale x detector body box")
    mask_other_faces: float = Field(
        1.3, ge=0, le=3, description="blank other people's face boxes x this factor in a crop (0 = off)")
    duplicate_ratio: float = Field(
        0.15, ge=0, le=1, description="two actors' poses closer than this x body size in a frame are one person")
    batch_size: int = Field(
        4, ge=1, le=1024, description="person crops per call of a batching expert (rtmpose, rtmw, yolo-pose), "
        "gathered across the clip's frames; the others run frame by frame. Results do not depend on it",
        json_schema_extra=EXECUTION)


class ExpertsConfig(_Section):
    """Which experts estimate each part; several per part are fused by `refine`."""
    body: tuple[str, ...] = ("holistic-roi",)
    hands: tuple[str, ...] = ("holistic-roi",)
    face: tuple[str, ...] = ("holistic-roi",)

    @model_validator(mode="after")
    def _known(self):
        problems = []
        for part in ("body", "hands", "face"):
            for name in getattr(self, part):
                if name not in EXPERT_PARTS:
                    problems.append(f"experts.{part}: unknown expert {name!r}; known: {sorted(EXPERT_PARTS)}")
                elif part not in EXPERT_PARTS[name]:
                    problems.append(f"experts.{part}: {name} does not estimate {part} "
                                    f"(it gives {', '.join(EXPERT_PARTS[name])})")
        if problems:
            raise ValueError("; ".join(problems))
        if not (self.body or self.hands or self.face):
            raise ValueError("experts: at least one part needs an expert")
        return self


class RefineConfig(_Section):
    """Multi-expert fusion and temporal clean-up (workers/fusion). Distances are fractions of body size."""
    agreement_sigma: float = Field(0.05, gt=0, description="kernel width of expert agreement")
    temporal_sigma: float = Field(0.05, gt=0, description="typical per-frame motion for the continuity term")
    temporal_weight: float = Field(1.0, ge=0, description="weight of continuity against agreement")
    max_jump: float = Field(0.5, gt=0, description="jumps larger than this cost no more")
    consensus_radius: float = Field(0.08, ge=0, description="candidates this close to the chosen one are averaged")
    bone_tolerance: float = Field(0.5, gt=0, description="bones longer than (1+tol) x full length are outliers")
    swap_repair: bool = Field(True, description="repair left/right swaps of arms and legs")
    swap_ratio: float = Field(0.5, gt=0, le=1)
    max_gap: int = Field(10, ge=0, description="interpolate missing runs of at most this many frames")
    smoothing: Literal["one_euro", "savgol", "none"] = Field(
        "one_euro", description="zero-phase (no lag), per valid run, never across gaps longer than max_gap: "
        "one_euro = One-Euro run forward and backward (workers/fusion/temporal.py); savgol = centred "
        "Savitzky-Golay")
    one_euro_min_cutoff: float = Field(0.7, gt=0, description="Hz: -3 dB point of the two passes at rest")
    one_euro_beta: float = Field(0.2, ge=0, description="cutoff rise per body size per second of speed")
    savgol_window: int = Field(7, ge=3, description="frames (shorter runs use the largest odd window that fits)")
    savgol_order: int = Field(2, ge=1)
    min_frame_confidence: float = Field(0.06, ge=0, le=1)
    hand_limit: float = Field(0.5, gt=0, description="a hand's root lies within this many forearm lengths of its "
                              "body wrist, else that candidate is dropped (workers/fusion/parts.py)")
    face_limit: float = Field(0.5, gt=0, description="a face's centre lies within this many head sizes of its "
                              "body's head, else that candidate is dropped (workers/fusion/parts.py)")
    expert_weights: dict[str, dict[Literal["body", "hands", "face"], float]] = Field(
        default_factory=dict, description="reliability per expert and part multiplying its scores in fusion "
        "(1 when absent); fit them on held-out ground truth with `skelforge eval-experts --calibrate-on`")

    @field_validator("expert_weights")
    @classmethod
    def _weights_known(cls, v):
        known_experts(v)
        bad = [f"{k}.{p}={w}" for k, parts in v.items() for p, w in parts.items() if not 0 < w <= 1]
        if bad:
            raise ValueError(f"weights must be in (0, 1]: {bad}")
        return v


class FilterConfig(_Section):
    """Named rules (workers/curation/rules.py); null switches a rule off."""
    min_frames: Optional[int] = Field(15, ge=1, description="clips shorter than this (at 30 FPS) are filtered")
    min_pose_ratio: Optional[float] = Field(0.5, ge=0, le=1, description="Posetics: a pose in >= 50% of frames")
    min_confidence: Optional[float] = Field(0.3, ge=0, le=1, description="mean body confidence of the actors")
    min_part_present: dict[Literal["body", "left_hand", "right_hand", "face"], Share] = Field(
        default_factory=dict, description="per part, minimum share of its joints present (e.g. {face: 0.5})")
    max_identity_switches: Optional[int] = Field(
        None, ge=0, description="more suspected identity switches of the actors than this = filtered (off: null)")
    max_part_violations: Optional[float] = Field(
        None, ge=0, le=1, description="a hand or the face dropped for lying off its body in more than this share "
        "of the actors' person-frames = filtered (off: null)")


class LabelsConfig(_Section):
    map: Optional[Path] = Field(None, description="many-to-one label map: YAML {target: [sources]} or CSV "
                                                  "source,target")
    keep_unmapped: bool = Field(False, description="labels missing from the map keep their name (else an error)")
    keep_adapter_ids: bool = Field(True, description="without a map, keep the adapter's ids (NTU: A-1); "
                                                     "false = dense ids over sorted names")


class SplitsConfig(_Section):
    method: Literal["adapter", "stratified"] = Field(
        "adapter", description="adapter: NTU xsub/xview/xset, Kinetics CSV, CSV column; stratified: seeded, per class")
    val_fraction: float = Field(0.2, ge=0, lt=1)
    test_fraction: float = Field(0.0, ge=0, lt=1)
    seed: int = 0

    @model_validator(mode="after")
    def _fractions(self):
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("splits: val_fraction + test_fraction must leave some clips for train")
        return self


class ConvertConfig(_Section):
    min_score: float = Field(0.0, ge=0, le=1, description="joints scored below this become missing (NaN, 0)")


class ShardsConfig(_Section):
    clips_per_shard: int = Field(1000, ge=1)
    row_group_clips: int = Field(64, ge=1)
    compression_level: int = Field(3, ge=1, le=22, description="zstd level")


class CacheConfig(_Section):
    dir: Optional[Path] = Field(None, description="content-addressed cache; default OUT/.cache")
    scratch: Optional[Path] = Field(None, description="decoded-frame spools; default the system temp dir")


class RunConfig(_Section):
    """How the build runs its clip tasks (execution only: never part of a cache key)."""
    retries: int = Field(2, ge=0, description="a clip whose worker died, or that timed out, is retried on a fresh "
                                              "worker this many times before it gets a failed row")
    clip_timeout: Optional[float] = Field(None, gt=0, description="seconds one clip task may run before its worker "
                                                                  "is restarted and the clip retried (null = none)")
    dashboard_address: str = Field("127.0.0.1:0", description="where the local Dask cluster's dashboard listens "
                                                              "(host:port; the default is this machine only)")
    systemic_after: int = Field(8, ge=2, description="stop the build (exit 3) when the first this-many finished "
                                                     "clips all failed with the same internal fault")


_WALLTIME = re.compile(r"^(\d+-\d{1,2}(:\d{2}){0,2}|\d+(:\d{2}){0,2})$")
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*([kKMGT]i?B)$")
_TOKEN = re.compile(r"^[^\s#]+$")


class ClusterConfig(_Section):
    """Where `skelforge build --cluster slurm` runs its workers: dask-jobqueue's SLURMCluster submits jobs that
    each start `processes` single-threaded Dask worker processes (execution only: never part of a cache key).
    Every node must see the cache (`cache.dir`, required for SLURM) and the input videos at the same paths."""
    partition: Optional[str] = Field(None, description="SLURM partition (sbatch -p); null = the default one")
    account: Optional[str] = Field(None, description="account charged for the jobs (sbatch -A)")
    walltime: str = Field("01:00:00", description="job time limit in a SLURM format: MM, MM:SS, HH:MM:SS, D-HH, "
                                                  "D-HH:MM or D-HH:MM:SS")
    cores: int = Field(1, ge=1, description="CPU cores per job (sbatch --cpus-per-task)")
    processes: Optional[int] = Field(None, ge=1, description="Dask worker processes per job, sharing its cores; "
                                     "null = one single-threaded worker per core, as on a local cluster")
    memory: str = Field("4GiB", description="memory per job (sbatch --mem), e.g. 16GB or 8GiB")
    gpus: int = Field(0, ge=0, description="GPUs per job: sbatch --gres=gpu:N (0 = none); the job's first N worker "
                      "processes are GPU workers (Dask resource GPU=1, one device each), the others see no GPU")
    job_extra_directives: tuple[str, ...] = Field(
        (), description="more sbatch options, one per entry, without '#SBATCH' (e.g. --constraint=a100)")
    job_script_prologue: tuple[str, ...] = Field(
        (), description="shell lines each job runs before its workers start: module load, a venv's activate, "
                        "cd to a shared checkout")
    python: Optional[str] = Field(None, description="the command that runs Python in a job (e.g. a container: "
                                  "'apptainer exec --nv img.sif python'); null = this Python")
    min_jobs: int = Field(1, ge=0, description="jobs kept running; fewer than max_jobs = adaptive scaling")
    max_jobs: int = Field(1, ge=1, description="most jobs at once (adaptive scaling between min_jobs and this)")
    interface: Optional[str] = Field(None, description="network interface the scheduler and workers talk over "
                                     "(e.g. ib0, eth0; lo on a single node); null = Dask's choice")
    log_directory: Optional[Path] = Field(None, description="where the jobs' stdout/stderr go (shared folder); "
                                          "null = the directory the build runs in")
    start_timeout: Optional[float] = Field(None, gt=0, description="seconds to wait for the first worker before "
                                           "the build stops (exit 3); null = as long as the queue takes")

    @field_validator("walltime")
    @classmethod
    def _walltime(cls, v):
        if not _WALLTIME.match(v):
            raise ValueError("must be a SLURM time limit: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS")
        return v

    @field_validator("memory")
    @classmethod
    def _memory(cls, v):
        if not _MEMORY.match(v.strip()):
            raise ValueError("must be a size with a unit, e.g. 16GB, 8GiB, 500MB")
        return v.strip()

    @field_validator("partition", "account", "interface")
    @classmethod
    def _token(cls, v):
        if v is not None and not _TOKEN.match(v):
            raise ValueError("must be one name (no spaces or '#')")
        return v

    @field_validator("job_extra_directives")
    @classmethod
    def _directives(cls, v):
        for d in v:
            if d.lstrip().startswith("#"):
                raise ValueError(f"{d!r}: give the option without '#SBATCH' (it is added)")
            if not d.startswith("-") or "\n" in d or "\r" in d:
                raise ValueError(f"{d!r}: each entry is one sbatch option on one line, e.g. --constraint=a100")
        return v

    @field_validator("job_script_prologue")
    @classmethod
    def _lines(cls, v):
        bad = [line for line in v if "\n" in line or "\r" in line]
        if bad:
            raise ValueError(f"one shell line per entry: {bad}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if self.processes is not None and self.cores % self.processes:
            raise ValueError(f"cluster.processes ({self.processes}) must divide cluster.cores ({self.cores})")
        if self.min_jobs > self.max_jobs:
            raise ValueError(f"cluster.min_jobs ({self.min_jobs}) is more than cluster.max_jobs ({self.max_jobs})")
        if self.gpus > (self.processes or self.cores):
            raise ValueError(f"cluster.gpus ({self.gpus}) is more than the worker processes per job "
                             f"({self.processes or self.cores}): each GPU gets a worker process of its own")
        if self.gpus and any(d.split("=")[0].split()[0] in ("--gres", "--gpus") for d in self.job_extra_directives):
            raise ValueError("cluster.job_extra_directives: --gres/--gpus is set by cluster.gpus")
        return self


LAYOUT_NAMES = ("ntu-x-118", "ntu-x-67", "posetics-17", "coco-17", "ntu-25")


class BuildConfig(_Section):
    dataset: DatasetConfig = DatasetConfig()
    frames: FramesConfig = FramesConfig()
    detect: DetectConfig = DetectConfig()
    track: TrackConfig = TrackConfig()
    pose: PoseConfig = PoseConfig()
    experts: ExpertsConfig = ExpertsConfig()
    expert_settings: dict[str, dict] = Field(default_factory=dict, description="per-expert settings by name")
    refine: RefineConfig = RefineConfig()
    fit3d: Fit3dConfig = Fit3dConfig()
    flow: FlowConfig = FlowConfig()
    filter: FilterConfig = FilterConfig()
    labels: LabelsConfig = LabelsConfig()
    splits: SplitsConfig = SplitsConfig()
    convert: ConvertConfig = ConvertConfig()
    layouts: tuple[str, ...] = LAYOUT_NAMES
    shards: ShardsConfig = ShardsConfig()
    cache: CacheConfig = CacheConfig()
    run: RunConfig = RunConfig()
    cluster: ClusterConfig = Field(ClusterConfig(), json_schema_extra=EXECUTION)
    train: TrainConfig = TrainConfig()

    @field_validator("layouts")
    @classmethod
    def _known_layouts(cls, v):
        unknown = [x for x in v if x not in LAYOUT_NAMES]
        if unknown:
            raise ValueError(f"unknown layout(s) {unknown}; choose from {list(LAYOUT_NAMES)}")
        if not v:
            raise ValueError("at least one layout is needed")
        return tuple(dict.fromkeys(v))

    @model_validator(mode="after")
    def _keyframes_bridged(self):
        if self.detect.keyframe_stride > self.track.max_gap + 1:
            raise ValueError(f"detect.keyframe_stride ({self.detect.keyframe_stride}) leaves more frames undetected "
                             f"than track.max_gap ({self.track.max_gap}) lets a track bridge; at most "
                             f"{self.track.max_gap + 1}")
        return self

    @field_validator("expert_settings")
    @classmethod
    def _expert_settings(cls, v):
        check_expert_settings(v)
        return v

    def get(self, dotted: str):
        """Value at a dotted path, JSON-ready."""
        node = self.model_dump(mode="json")
        for part in dotted.split("."):
            node = node[part]
        return node

    def key_value(self, dotted: str):
        """Value at a dotted path as it enters cache keys: execution settings (fields marked EXECUTION, and each
        expert's EXECUTION_SETTINGS) left out."""
        node = self._key_tree
        for part in dotted.split("."):
            node = node[part]
        return copy.deepcopy(node)

    @cached_property
    def _key_tree(self) -> dict:
        node = _key_view(self)
        node["expert_settings"] = {name: {k: v for k, v in s.items() if k not in EXECUTION_SETTINGS.get(name, ())}
                                   for name, s in node["expert_settings"].items()}
        return node


class ConfigError(ValueError):
    """A config problem, phrased so the user knows which key to fix."""


def load_config(path: Optional[Path]) -> BuildConfig:
    if path is None:
        return BuildConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = load_yaml(path.read_text()) or {}
    except YAMLStrictError as e:
        raise ConfigError(f"{path}: {e}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (dataset:, frames:, ...)")
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"  {key}: {msg}" + (f" (got {err['input']!r})" if err["type"] != "extra_forbidden" else ""))
        raise ConfigError(f"{path} has {len(lines)} problem(s):\n" + "\n".join(lines)) from None
