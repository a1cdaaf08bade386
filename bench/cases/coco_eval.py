"""COCO evaluation (torchvision_adapter.coco) on a synthetic COCO-style set.

5,000 images of 640x480, 80 categories, ~7 ground-truth objects (polygons) and 100 detections per
image (half of them jittered copies of ground truth, half random), RLE masks for segm.

Cases:
  * the float64 pure-Python port of cocoeval (tests/python/test_coco_oracle.py, what pycocotools
    does, statement by statement) against the adapter on the same small subset: a like-for-like
    speed ratio;
  * the full set: evaluate + accumulate + summarize with the annotation columns built from the dicts
    in the timed call ("cold") and with them cached from a previous evaluation ("warm").
"""
import contextlib
import copy
import io
import sys
from pathlib import Path

import numpy as np

from ..harness import Case, Variant

H, W = 480, 640


def synthetic(num_images=5000, num_cats=80, gt_per_image=7, dets_per_image=100, seed=0, segm=False):
    """(gt dataset dict, list of detection dicts) for a COCO-like set."""
    from torchvision_adapter.coco import mask

    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "height": H, "width": W, "file_name": f"{i + 1:012d}.jpg"} for i in range(num_images)]
    categories = [{"id": c + 1, "name": f"class{c + 1}", "supercategory": "thing"} for c in range(num_cats)]
    n_gt = rng.poisson(gt_per_image, num_images)
    anns, dets = [], []
    aid = 1
    det_polys = []
    for i in range(num_images):
        g = int(n_gt[i])
        wh = np.exp(rng.uniform(np.log(8), np.log(300), (g, 2)))
        xy = rng.uniform(0, 1, (g, 2)) * (np.array([W, H]) - wh)
        cats = rng.integers(1, num_cats + 1, g)
        crowd = rng.random(g) < 0.01
        for j in range(g):
            x, y = xy[j]
            w, h = wh[j]
            poly = [x, y, x + w, y + 0.2 * h, x + 0.8 * w, y + h, x, y + 0.9 * h]
            anns.append({
                "id": aid, "image_id": i + 1, "category_id": int(cats[j]), "iscrowd": int(crowd[j]),
                "bbox": [float(x), float(y), float(w), float(h)], "area": float(0.8 * w * h),
                "segmentation": [[float(v) for v in poly]],
            })
            aid += 1
        n_near = min(dets_per_image // 2, 5 * g)
        src = rng.integers(0, max(g, 1), n_near)
        for k in range(dets_per_image):
            if k < n_near and g > 0:
                j = src[k]
                s = rng.uniform(0.7, 1.3, 2)
                w, h = wh[j] * s
                x, y = xy[j] + rng.normal(0, 0.1, 2) * wh[j]
                c = int(cats[j]) if rng.random() < 0.9 else int(rng.integers(1, num_cats + 1))
            else:
                w, h = np.exp(rng.uniform(np.log(8), np.log(300), 2))
                x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
                c = int(rng.integers(1, num_cats + 1))
            d = {"image_id": i + 1, "category_id": c, "score": float(rng.random())}
            if segm:
                det_polys.append([x, y, x + w, y + 0.2 * h, x + 0.8 * w, y + h, x, y + 0.9 * h])
            else:
                d["bbox"] = [float(x), float(y), float(w), float(h)]
            dets.append(d)
    if segm:
        spec = mask._SegmSpec()
        for p in det_polys:
            spec.polygons([p], H, W)
        rles = mask._unpack(spec.run())
        for d, r in zip(dets, rles):
            r["counts"] = r["counts"].decode("ascii")
            d["segmentation"] = r
    return {"images": images, "categories": categories, "annotations": anns}, dets


def subset(gt, dets, n):
    keep = {im["id"] for im in gt["images"][:n]}
    return ({"images": gt["images"][:n], "categories": gt["categories"],
             "annotations": [a for a in gt["annotations"] if a["image_id"] in keep]},
            [d for d in dets if d["image_id"] in keep])


def _quiet(fn):
    def run():
        with contextlib.redirect_stdout(io.StringIO()):
            return fn()
    return run


def _oracle():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "python"))
    import test_coco_oracle

    return test_coco_oracle


def cases(quick: bool):
    from torchvision_adapter.coco import COCO, COCOeval

    oracle = _oracle()
    out = []
    n_full = 1000 if quick else 5000
    n_small = 20 if quick else 50
    for iou_type in ["bbox", "segm"]:
        segm = iou_type == "segm"
        with contextlib.redirect_stdout(io.StringIO()):
            gt, dets = synthetic(num_images=n_full, segm=segm)
            gt_s, dets_s = subset(gt, dets, n_small)
            cg_s = COCO(copy.deepcopy(gt_s))
            cd_s = cg_s.loadRes(copy.deepcopy(dets_s))
            dt_s = oracle.load_results(gt_s, dets_s, iou_type)
            cg = COCO(gt)
            cd = cg.loadRes(dets)

        def adapter_small(cg_s=cg_s, cd_s=cd_s, iou_type=iou_type):
            E = COCOeval(cg_s, cd_s, iou_type)
            E.evaluate()
            E.accumulate()
            E.summarize()
            return E.stats

        def oracle_small(gt_s=gt_s, dt_s=dt_s, iou_type=iou_type):
            return oracle.oracle_eval(gt_s, dt_s, iou_type)["stats"]

        def check(a=adapter_small, o=oracle_small):
            with contextlib.redirect_stdout(io.StringIO()):
                assert np.array_equal(a(), o()), "adapter and oracle disagree"

        out.append(Case("coco_eval", f"{iou_type} {n_small} img x100 det: oracle vs adapter",
                        [Variant("oracle", _quiet(oracle_small)), Variant("adapter", _quiet(adapter_small))],
                        rounds=3, check=check, items=n_small))

        def full(cold, cg=cg, cd=cd, iou_type=iou_type):
            if cold:
                cg._cache.clear()
                cd._cache.clear()
            E = COCOeval(cg, cd, iou_type)
            E.evaluate()
            E.accumulate()
            E.summarize()
            return E.stats

        out.append(Case("coco_eval", f"{iou_type} {n_full} img x100 det: eval+acc+summ cold/warm",
                        [Variant("cold", _quiet(lambda f=full: f(True))),
                         Variant("warm", _quiet(lambda f=full: f(False)))],
                        rounds=3, items=n_full))
    return out
