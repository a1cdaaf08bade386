"""`make bench`: every benchmark case, torchvision vs adapter, at 1 and 2 threads.

Prints a table (case, baseline ms, each variant's ms and speedup), and writes
bench/results/bench.json and bench/results/bench.png. Cases live in bench/cases/*.py, each module
exposing `cases(quick: bool) -> list[Case]`.
"""
import argparse
import importlib
import json
import pkgutil
import platform
import sys
from pathlib import Path

import torch
import torchvision

import torchvision_adapter

from . import cases as cases_pkg

RESULTS = Path(__file__).resolve().parent / "results"


def collect(quick: bool, only):
    found = []
    for mod in sorted(m.name for m in pkgutil.iter_modules(cases_pkg.__path__)):
        if only and not any(o in mod for o in only):
            continue
        module = importlib.import_module(f"{cases_pkg.__name__}.{mod}")
        found.extend(module.cases(quick))
    return found


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['name']} ({r['threads']}t) [{r['variant']}]" for r in rows]
    speedups = [r["speedup"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.5))
    ax.barh(range(len(rows)), speedups, color=["#4C72B0" if r["threads"] == 1 else "#DD8452" for r in rows])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("speedup over baseline (log scale; blue 1 thread, orange 2 threads)")
    ax.set_title("torchvision_adapter vs baseline, same process")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller inputs and fewer rounds")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--only", nargs="*", help="run only case modules whose name contains one of these")
    ap.add_argument("--out", default=str(RESULTS), help="folder for bench.json and bench.png")
    args = ap.parse_args(argv)

    from .harness import run_case

    cases = collect(args.quick, args.only)
    rows = []
    header = f"{'case':58s} {'thr':>3s} {'baseline':>14s} {'variant':>14s} {'speedup':>8s}"
    print(header)
    print("-" * len(header))
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for case in cases:
            res = run_case(case)
            base = case.variants[0].label
            for v in case.variants[1:]:
                row = {
                    "group": case.group,
                    "name": case.name,
                    "threads": threads,
                    "baseline": base,
                    "baseline_ms": res[base],
                    "variant": v.label,
                    "variant_ms": res[v.label],
                    "speedup": res[base] / res[v.label] if res[v.label] > 0 else float("inf"),
                }
                if case.items:
                    row["baseline_per_s"] = case.items / res[base] * 1e3
                    row["variant_per_s"] = case.items / res[v.label] * 1e3
                rows.append(row)
                print(
                    f"{case.name[:58]:58s} {threads:3d} {base[:5]:>5s} {res[base]:8.3f} "
                    f"{v.label[:5]:>5s} {res[v.label]:8.3f} {row['speedup']:7.1f}x",
                    flush=True,
                )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torchvision_adapter": torchvision_adapter.__version__,
        "machine": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "quick": args.quick,
    }
    (out / "bench.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    if rows:
        plot(rows, out / "bench.png")
    print(f"\nwrote {out / 'bench.json'} and {out / 'bench.png'}")


if __name__ == "__main__":
    main()
