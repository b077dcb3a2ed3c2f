"""One training run of a skeleton action model: seeded, deterministic where the backend allows, AMP on GPU,
DDP when launched by `torchrun`, a checkpoint after every epoch (atomic) and resume from it.

inputs:  a model (`forward(x)` -> logits, or a named tuple whose `main` is the logits), train / eval
         datasets of (tensor (C, T, V, M), label) or ({name: tensor}, label) (DeepActsNet's stamps),
         a `TrainOptions`, the run directory
outputs: RUN/checkpoint.pt (model, optimizer, scaler, scheduler, epoch, history, RNG states),
         the history (per epoch: loss, train accuracy, eval top-1, seconds)
params:  TrainOptions (epochs, batch size, SGD + Nesterov with cosine decay, weight decay, seed, device, AMP)
resources: the device given; under torchrun, one process per GPU (NCCL) or per CPU process (gloo)

Determinism: seeds for Python, NumPy and torch; a seeded sampler; `torch.use_deterministic_algorithms(True,
warn_only=True)` (CUDA kernels without a deterministic version warn instead of failing); cuDNN benchmark off.
Two CPU runs with the same seed give identical weights (tested).

Checkpoints hold tensors and plain data only (the NumPy RNG state is stored as a list of ints), and every
checkpoint is read with `load_checkpoint` (`torch.load(weights_only=True)`): a file that needs more than that
(e.g. a pickled object from elsewhere, which could run code when loaded) is refused with `UnsafeCheckpoint`.
"""
from __future__ import annotations

import os
import pickle
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from ..io.atomic import atomic_target


class UnsafeCheckpoint(ValueError):
    """A checkpoint that holds more than tensors and plain data: loading it could run code from the file."""


def load_checkpoint(path: Path, map_location) -> dict:
    """torch.load with weights_only=True; UnsafeCheckpoint (naming the file and the object) when it needs more."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()
        detail = next((l.strip() for l in first if "GLOBAL" in l or "Unsupported" in l), first[0] if first else "")
        raise UnsafeCheckpoint(f"{path} holds objects other than tensors and plain data, which could run code "
                               f"when loaded, so it is not loaded ({detail}); use a skelforge checkpoint or "
                               f"re-save the weights as a state dict") from None


def _numpy_state() -> list:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)]


def _set_numpy_state(state: list) -> None:
    name, keys, pos, has_gauss, gauss = state
    np.random.set_state((name, np.asarray(keys, np.uint32), pos, has_gauss, gauss))


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 30
    batch_size: int = 16
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 0
    seed: int = 0
    device: str = "cpu"
    amp: bool = True                  # used only on CUDA
    num_workers: int = 0
    grad_clip: Optional[float] = None


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> Distributed:
    """Under torchrun (WORLD_SIZE > 1): join the process group (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
    return Distributed(dist.get_rank(), world, local)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def to_device(x, device: torch.device):
    """A batch's input on the device: a tensor, or a dict of tensors (DeepActsNet's stamps)."""
    if isinstance(x, dict):
        return {k: v.to(device, non_blocking=True) for k, v in x.items()}
    return x.to(device, non_blocking=True)


def logits_of(out) -> torch.Tensor:
    """The class logits of a model's output: a tensor, or a named tuple with `main` (auxiliary heads)."""
    return getattr(out, "main", out)


def cross_entropy(out, labels: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits_of(out), labels)


@dataclass
class Trainer:
    model: nn.Module
    opts: TrainOptions
    run_dir: Path
    loss_fn: Callable = cross_entropy
    transform: Callable = lambda x: x                      # batch -> model input, on the device (streams)
    on_epoch: Optional[Callable[[dict], None]] = None      # progress callback, main process only
    dist: Distributed = field(default_factory=Distributed)

    def __post_init__(self):
        self.device = torch.device(self.opts.device if not self.opts.device.startswith("cuda") or self.dist.world == 1
                                   else f"cuda:{self.dist.local_rank}")
        self.model.to(self.device)
        self.net = self.model
        if self.dist.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.dist.local_rank] if self.device.type == "cuda" else None)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optim = torch.optim.SGD(params, lr=self.opts.lr, momentum=self.opts.momentum, nesterov=True,
                                     weight_decay=self.opts.weight_decay)
        self.use_amp = self.opts.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.history: list[dict] = []
        self.start_epoch = 0

    # ---- schedule: linear warm-up, then cosine to 0
    def lr_at(self, epoch: int) -> float:
        o = self.opts
        if epoch < o.warmup_epochs:
            return o.lr * (epoch + 1) / o.warmup_epochs
        span = max(1, o.epochs - o.warmup_epochs)
        return float(0.5 * o.lr * (1 + np.cos(np.pi * (epoch - o.warmup_epochs) / span)))   # plain float: the
        # optimizer's state and the history go into weights-only checkpoints

    # ---- checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return Path(self.run_dir) / "checkpoint.pt"

    def save(self, epoch: int) -> None:
        if not self.dist.main:
            return
        state = {"model": self.model.state_dict(), "optim": self.optim.state_dict(),
                 "scaler": self.scaler.state_dict(), "epoch": epoch, "history": self.history,
                 "options": asdict(self.opts), "rng": {"torch": torch.get_rng_state(),
                                                       "numpy": _numpy_state(), "python": random.getstate()}}
        with atomic_target(self.checkpoint_path) as tmp:
            torch.save(state, tmp)

    def resume(self) -> bool:
        """Continue from RUN/checkpoint.pt when it exists; True if it did."""
        if not self.checkpoint_path.exists():
            return False
        state = load_checkpoint(self.checkpoint_path, self.device)
        self.model.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optim"])
        self.scaler.load_state_dict(state["scaler"])
        self.history = state["history"]
        self.start_epoch = state["epoch"] + 1
        torch.set_rng_state(state["rng"]["torch"])
        _set_numpy_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        return True

    # ---- loops
    def _loader(self, dataset, train: bool, epoch: int = 0) -> DataLoader:
        g = torch.Generator().manual_seed(self.opts.seed * 1000 + epoch)
        sampler = None
        if self.dist.world > 1:
            sampler = DistributedSampler(dataset, self.dist.world, self.dist.rank, shuffle=train, seed=self.opts.seed)
            sampler.set_epoch(epoch)
        return DataLoader(dataset, batch_size=self.opts.batch_size, shuffle=train and sampler is None,
                          sampler=sampler, generator=g, num_workers=self.opts.num_workers,
                          drop_last=False, pin_memory=self.device.type == "cuda")

    def fit(self, train_set, eval_set=None) -> list[dict]:
        for epoch in range(self.start_epoch, self.opts.epochs):
            t0 = time.time()
            for group in self.optim.param_groups:
                group["lr"] = self.lr_at(epoch)
            self.net.train()
            total, correct, loss_sum = 0, 0, 0.0
            for x, y in self._loader(train_set, True, epoch):
                x, y = self.transform(to_device(x, self.device)), y.to(self.device)
                with torch.autocast(self.device.type, enabled=self.use_amp):
                    out = self.net(x)
                    loss = self.loss_fn(out, y)
                self.optim.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                if self.opts.grad_clip:
                    self.scaler.unscale_(self.optim)
                    nn.utils.clip_grad_norm_(self.model.parameters(), self.opts.grad_clip)
                self.scaler.step(self.optim)
                self.scaler.update()
                n = len(y)
                total += n
                loss_sum += float(loss.detach()) * n
                correct += int((logits_of(out).argmax(1) == y).sum())
            if self.dist.world > 1:                              # totals over every process's shard
                import torch.distributed as dist
                t = torch.tensor([loss_sum, correct, total], dtype=torch.float64, device=self.device)
                dist.all_reduce(t)
                loss_sum, correct, total = float(t[0]), int(t[1]), int(t[2])
            rec = {"epoch": epoch, "lr": round(self.lr_at(epoch), 6), "loss": loss_sum / max(total, 1),
                   "train_top1": correct / max(total, 1), "train_samples": total}
            if eval_set is not None and len(eval_set):
                scores, labels = self.predict(eval_set)
                rec["eval_top1"] = float((scores.argmax(1) == labels).mean())
            rec["seconds"] = round(time.time() - t0, 3)
            self.history.append(rec)
            self.save(epoch)
            if self.on_epoch and self.dist.main:
                self.on_epoch(rec)
        return self.history

    @torch.no_grad()
    def predict(self, dataset) -> tuple[np.ndarray, np.ndarray]:
        """Softmax scores (N, classes) and labels over the whole dataset (every process sees all of it)."""
        self.model.eval()
        scores, labels = [], []
        loader = DataLoader(dataset, batch_size=self.opts.batch_size, shuffle=False, num_workers=self.opts.num_workers)
        for x, y in loader:
            with torch.autocast(self.device.type, enabled=self.use_amp):
                out = self.model(self.transform(to_device(x, self.device)))
            scores.append(torch.softmax(logits_of(out).float(), 1).cpu().numpy())
            labels.append(y.numpy())
        if not scores:
            return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
        return np.concatenate(scores), np.concatenate(labels)
