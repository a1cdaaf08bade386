"""`make demo`: what the adapter does, on this machine, in under two minutes.

Runs torchvision's operators with the adapter disabled and enabled on the same inputs, checks the
results are identical, and prints the times and speedups, then shows how to use it.
"""
import argparse
import time

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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller inputs")
    args = ap.parse_args(argv)
    rounds = 3 if args.quick else 5

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"torchvision_adapter {torchvision_adapter.__version__}")
    print(f"library: {torchvision_adapter.library_path()}")
    print(f"replaced torchvision kernels: {', '.join(torchvision_adapter.overridden_ops())}\n")
    header = f"{'workload':52s} {'thr':>3s} {'torchvision':>12s} {'adapter':>10s} {'speedup':>8s}  same result"
    print(header)
    print("-" * len(header))
    all_equal = True
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, fn in _workloads(args.quick):
            with torchvision_adapter.disabled():
                expected = fn()
                t_tv = _time(fn, rounds)
            got = fn()
            t_ours = _time(fn, rounds)
            same = torch.equal(got, expected)
            all_equal &= same
            print(f"{name:52s} {threads:3d} {t_tv:10.2f}ms {t_ours:8.2f}ms {t_tv / t_ours:7.1f}x  "
                  f"{'yes' if same else 'NO'}", flush=True)
    print()
    print("Use it in your own code:\n"
          "    import torchvision, torchvision_adapter   # enabled on import\n"
          "    keep = torchvision.ops.nms(boxes, scores, 0.5)   # runs the adapter's kernel\n"
          "    with torchvision_adapter.disabled():            # torchvision's own kernels inside\n"
          "        ...\n"
          "Run your scripts with .venv/bin/python (or any python3 with this venv's site-packages).")
    if not all_equal:
        raise SystemExit("results differ between torchvision and the adapter")


if __name__ == "__main__":
    main()
