"""COCO bbox evaluation of a results file, with torchvision_adapter.coco.

    python -m torchvision_adapter.tools.evaluate --annotations instances_val2017.json \\
        --results detections.json
"""
import argparse
import json
import sys


def evaluate(annotations: str, results: str, iou_type: str = "bbox"):
    """Returns the 12 COCO AP/AR numbers of a results file, printing pycocotools' summary."""
    from .. import coco

    gt = coco.COCO(annotations)
    dt = gt.loadRes(results)
    ev = coco.COCOeval(gt, dt, iou_type)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return [float(v) for v in ev.stats]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m torchvision_adapter.tools.evaluate",
                                description="COCO bbox evaluation of a results file.")
    p.add_argument("--annotations", required=True, help="COCO ground truth (instances_*.json)")
    p.add_argument("--results", required=True, help="COCO results JSON (tools.postprocess)")
    p.add_argument("--iou-type", default="bbox", choices=("bbox", "segm"))
    args = p.parse_args(argv)
    try:
        stats = evaluate(args.annotations, args.results, args.iou_type)
    except (OSError, ValueError) as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(stats, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
