"""torchvision's box operators with the adapter disabled and enabled on the same inputs."""
import time
from typing import Dict, List

import torch
import torchvision

import torchvision_adapter


def _random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 800
    wh = 4 + torch.rand(n, 2, generator=g) * 196
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g)


def _time(fn, rounds):
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def _workloads(quick):
    sizes = [1000, 5000] if quick else [1000, 5000, 20000]
    for n in sizes:
        boxes, scores = _random_boxes(n, n)
        yield f"torchvision.ops.nms, {n} boxes", (lambda b=boxes, s=scores: torchvision.ops.nms(b, s, 0.5))
    n = 5000 if quick else 20000
    boxes, scores = _random_boxes(n, 1)
    idxs = torch.randint(0, 80, (n,), generator=torch.Generator().manual_seed(2))
    yield (
        f"torchvision.ops.batched_nms, {n} boxes, 80 classes",
        lambda: torchvision.ops.batched_nms(boxes, scores, idxs, 0.5),
    )


def run(quick: bool, threads=(1, 2), log=print) -> List[Dict]:
    """Times each workload with torchvision's kernels and the adapter's; returns one row per run."""
    rounds = 3 if quick else 5
    previous = torch.get_num_threads()
    header = f"{'workload':52s} {'thr':>3s} {'torchvision':>12s} {'adapter':>10s} {'speedup':>8s}  same result"
    log(header)
    log("-" * len(header))
    rows = []
    try:
        for t in threads:
            torch.set_num_threads(t)
            for name, fn in _workloads(quick):
                with torchvision_adapter.disabled():
                    expected = fn()
                    t_tv = _time(fn, rounds)
                got = fn()
                t_ours = _time(fn, rounds)
                same = torch.equal(got, expected)
                rows.append({"workload": name, "threads": t, "ms_torchvision": t_tv, "ms_adapter": t_ours,
                             "speedup": t_tv / t_ours, "same": same})
                log(f"{name:52s} {t:3d} {t_tv:10.2f}ms {t_ours:8.2f}ms {t_tv / t_ours:7.1f}x  "
                    f"{'yes' if same else 'NO'}")
    finally:
        torch.set_num_threads(previous)
    return rows
