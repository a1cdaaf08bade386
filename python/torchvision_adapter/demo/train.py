"""Training from scratch for a fixed number of iterations, seeded, with the adapter on."""
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional

import torch

from .data import CocoDetection


@dataclass(frozen=True)
class TrainConfig:
    iterations: int = 800
    batch_size: int = 4
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup: int = 100
    clip_grad_norm: float = 10.0
    seed: int = 0

    def key(self) -> str:
        import hashlib
        import json

        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def _lr_at(it: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if it < cfg.warmup:
        return cfg.lr * (0.1 + 0.9 * it / cfg.warmup)
    t = (it - cfg.warmup) / max(1, cfg.iterations - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def batch_at(ds: CocoDetection, order: torch.Tensor, it: int, batch_size: int, flips: torch.Tensor):
    """The ``it``-th batch of a fixed shuffled order, with seeded horizontal flips."""
    imgs, targets = [], []
    for k in range(batch_size):
        j = it * batch_size + k
        i = int(order[j % len(order)])
        img, t = ds[i]
        boxes = t["boxes"]
        if flips[j % len(flips)]:
            w = img.shape[-1]
            img = img.flip(-1)
            boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
        imgs.append(img)
        targets.append({"boxes": boxes, "labels": t["labels"]})
    return imgs, targets


def train_step(model, optimizer, imgs, targets, clip: float) -> Dict[str, float]:
    losses = model(imgs, targets)
    loss = sum(losses.values())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    out = {k: float(v) for k, v in losses.items()}
    out["loss"] = float(loss)
    return out


def train(
    model: torch.nn.Module,
    ds: CocoDetection,
    cfg: TrainConfig,
    progress: bool = True,
    max_seconds: Optional[float] = None,
    on_checkpoint: Optional[Callable[[int], None]] = None,
    checkpoint_every: int = 0,
) -> Dict:
    """Trains in place; returns the per-iteration log and what was done."""
    from tqdm import tqdm

    g = torch.Generator().manual_seed(cfg.seed)
    n_samples = cfg.iterations * cfg.batch_size
    order = torch.cat([torch.randperm(len(ds), generator=g) for _ in range(n_samples // len(ds) + 1)])
    flips = torch.rand(len(order), generator=g) < 0.5
    torch.manual_seed(cfg.seed)
    optimizer = make_optimizer(model, cfg)
    model.train()
    log: List[Dict[str, float]] = []
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.iterations), desc="training", unit="it", disable=not progress)
    stopped_early = False
    for it in bar:
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(it, cfg)
        imgs, targets = batch_at(ds, order, it, cfg.batch_size, flips)
        rec = train_step(model, optimizer, imgs, targets, cfg.clip_grad_norm)
        rec["lr"] = optimizer.param_groups[0]["lr"]
        log.append(rec)
        if it % 10 == 0:
            bar.set_postfix(loss=f"{rec['loss']:.3f}")
        if checkpoint_every and on_checkpoint and (it + 1) % checkpoint_every == 0:
            on_checkpoint(it + 1)
            model.train()
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds and it + 1 < cfg.iterations:
            stopped_early = True
            break
    bar.close()
    model.eval()
    return {"log": log, "iterations_done": len(log), "seconds": time.perf_counter() - t0,
            "stopped_early": stopped_early}
