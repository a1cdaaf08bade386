"""Adapter off and on, same model, same inputs, one process: inference and training-step times."""
import copy
import time
from typing import Dict, List, Sequence

import torch

import torchvision_adapter

from .data import CocoDetection
from .train import TrainConfig, batch_at, make_optimizer, train_step


# Detections count as the same when the labels are equal and boxes and scores agree within float32
# rounding (roi_align's row sampler is not bit for bit torchvision's): the tolerances of the detection
# model tests.
_TOLERANCE = {"boxes": dict(rtol=1e-5, atol=1e-3), "scores": dict(rtol=1e-5, atol=1e-6)}


def _same_detections(a: List[Dict[str, torch.Tensor]], b: List[Dict[str, torch.Tensor]]) -> Dict:
    identical = same = len(a) == len(b)
    max_diff = 0.0
    for x, y in zip(a, b):
        for k in ("boxes", "scores", "labels"):
            if x[k].shape != y[k].shape:
                identical = same = False
                max_diff = float("inf")
                continue
            if not torch.equal(x[k], y[k]):
                identical = False
                if k not in _TOLERANCE or not torch.allclose(x[k], y[k], **_TOLERANCE[k]):
                    same = False
                if x[k].numel():
                    max_diff = max(max_diff, float((x[k].double() - y[k].double()).abs().max()))
    return {"identical": identical, "same": same, "max_abs_diff": max_diff,
            "detections": sum(len(x["boxes"]) for x in a)}


@torch.no_grad()
def inference(model, ds: CocoDetection, indices: Sequence[int], batch_size: int, rounds: int,
              progress: bool = True) -> Dict:
    """Best-of-``rounds`` seconds to detect on ``indices``, adapter off and on, alternating."""
    from tqdm import tqdm

    model.eval()
    batches = [[ds.image(i) for i in indices[k:k + batch_size]] for k in range(0, len(indices), batch_size)]
    model(batches[0])  # warm-up: allocator and one-time initialisations
    best = {"off": float("inf"), "on": float("inf")}
    outs: Dict[str, List] = {}
    bar = tqdm(total=2 * rounds * len(batches), desc="inference off/on", unit="batch", disable=not progress,
               leave=False)
    for _ in range(rounds):
        for mode in ("off", "on"):
            ctx = torchvision_adapter.disabled() if mode == "off" else torchvision_adapter.enabled()
            with ctx:
                got = []
                t0 = time.perf_counter()
                for b in batches:
                    got.extend(model(b))
                    bar.update()
                best[mode] = min(best[mode], time.perf_counter() - t0)
            outs[mode] = got
    bar.close()
    n = len(indices)
    return {"images": n, "batch_size": batch_size, "seconds_off": best["off"], "seconds_on": best["on"],
            "images_per_s_off": n / best["off"], "images_per_s_on": n / best["on"],
            "speedup": best["off"] / best["on"], "same": _same_detections(outs["off"], outs["on"]),
            "outputs_on": outs["on"]}


def training_steps(model, ds: CocoDetection, cfg: TrainConfig, steps: int, progress: bool = True) -> Dict:
    """Median time of ``steps`` training steps from the same weights and batches, adapter off and on."""
    from tqdm import tqdm

    g = torch.Generator().manual_seed(cfg.seed + 1)
    order = torch.randperm(len(ds), generator=g)
    flips = torch.zeros(len(order), dtype=torch.bool)
    batches = [batch_at(ds, order, it, cfg.batch_size, flips) for it in range(steps + 1)]
    # Two copies of the same weights take the same batches, stepping in turn so that a change in the
    # machine's load affects both alike.
    runs = {}
    for mode in ("off", "on"):
        m = copy.deepcopy(model)
        m.train()
        opt = make_optimizer(m, cfg)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.01
        runs[mode] = (m, opt, [], [])
    bar = tqdm(total=2 * (steps + 1), desc="training steps off/on", unit="step", disable=not progress, leave=False)
    for imgs, targets in batches:
        for mode in ("off", "on"):
            m, opt, times, losses = runs[mode]
            ctx = torchvision_adapter.disabled() if mode == "off" else torchvision_adapter.enabled()
            with ctx:
                torch.manual_seed(cfg.seed)  # the samplers of the RPN and the box head draw the same
                t0 = time.perf_counter()
                rec = train_step(m, opt, imgs, targets, cfg.clip_grad_norm)
                times.append(time.perf_counter() - t0)
            losses.append(rec["loss"])
            bar.update()
    bar.close()
    res = {}
    for mode, (_, _, times, losses) in runs.items():
        times = sorted(times[1:])  # the first step warms up
        res[mode] = {"median_s": times[len(times) // 2], "losses": losses}
    loss_diff = max(abs(a - b) for a, b in zip(res["off"]["losses"], res["on"]["losses"]))
    return {"steps": steps, "batch_size": cfg.batch_size, "step_s_off": res["off"]["median_s"],
            "step_s_on": res["on"]["median_s"], "speedup": res["off"]["median_s"] / res["on"]["median_s"],
            "max_loss_diff": loss_diff}
