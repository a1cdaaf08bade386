"""Command line COCO evaluation, printing pycocotools' summary:

    python -m torchvision_adapter.coco GT.json DT.json --iou-type bbox|segm|keypoints [--threads N]
"""
import argparse
import contextlib
import io
import sys
import time

import torch


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m torchvision_adapter.coco", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gt", help="ground-truth annotations (COCO JSON)")
    ap.add_argument("dt", help="detection results (JSON list of result dicts)")
    ap.add_argument("--iou-type", choices=["bbox", "segm", "keypoints"], default="bbox")
    ap.add_argument("--threads", type=int, default=None, help="threads (default: torch's setting)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            ap.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)

    from . import COCO, COCOeval

    steps = ["load ground truth", "load results", "evaluate", "accumulate"]
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(steps), file=sys.stderr, unit="step", leave=False,
                   bar_format="{desc:<18} {bar} {n_fmt}/{total_fmt} [{elapsed}]")
    quiet = io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(quiet):
            for i, step in enumerate(steps):
                if bar is not None:
                    bar.set_description(step)
                if i == 0:
                    gt = COCO(args.gt)
                elif i == 1:
                    dt = gt.loadRes(args.dt)
                elif i == 2:
                    E = COCOeval(gt, dt, args.iou_type)
                    E.evaluate()
                else:
                    E.accumulate()
                if bar is not None:
                    bar.update(1)
    except (OSError, ValueError, AssertionError, KeyError) as e:
        if bar is not None:
            bar.close()
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if bar is not None:
        bar.close()
    E.summarize()
    print(f"(evaluated {len(E.params.imgIds)} images, {len(E.params.catIds)} categories in "
          f"{time.perf_counter() - t0:.2f}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
