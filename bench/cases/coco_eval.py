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
    # Ground truth: log-uniform sizes from 8 to 300 px, a few crowds.
    n_gt = rng.poisson(gt_per_image, num_images)
    G = int(n_gt.sum())
    g_img = np.repeat(np.arange(1, num_images + 1), n_gt)
    g_wh = np.exp(rng.uniform(np.log(8), np.log(300), (G, 2)))
    g_xy = rng.uniform(0, 1, (G, 2)) * (np.array([W, H]) - g_wh)
    g_cat = rng.integers(1, num_cats + 1, G)
    g_crowd = (rng.random(G) < 0.01).astype(int)

    def polys(xy, wh):
        x, y, w, h = xy[:, 0], xy[:, 1], wh[:, 0], wh[:, 1]
        return np.stack([x, y, x + w, y + 0.2 * h, x + 0.8 * w, y + h, x, y + 0.9 * h], 1)

    g_poly = polys(g_xy, g_wh).tolist()
    anns = [{"id": j + 1, "image_id": int(g_img[j]), "category_id": int(g_cat[j]), "iscrowd": int(g_crowd[j]),
             "bbox": [float(g_xy[j, 0]), float(g_xy[j, 1]), float(g_wh[j, 0]), float(g_wh[j, 1])],
             "area": float(0.8 * g_wh[j, 0] * g_wh[j, 1]), "segmentation": [g_poly[j]]} for j in range(G)]
    # Detections: per image up to half are jittered copies of its ground truth, the rest random.
    first = np.concatenate([[0], np.cumsum(n_gt)[:-1]])
    D = num_images * dets_per_image
    d_img = np.repeat(np.arange(num_images), dets_per_image)
    k = np.tile(np.arange(dets_per_image), num_images)
    near = (k < np.minimum(dets_per_image // 2, 5 * n_gt)[d_img]) & (n_gt[d_img] > 0)
    src = first[d_img] + (rng.integers(0, 1 << 30, D) % np.maximum(n_gt[d_img], 1))
    src = np.where(near, src, 0)
    wh = np.where(near[:, None], g_wh[src] * rng.uniform(0.7, 1.3, (D, 2)),
                  np.exp(rng.uniform(np.log(8), np.log(300), (D, 2))))
    xy = np.where(near[:, None], g_xy[src] + rng.normal(0, 0.1, (D, 2)) * g_wh[src],
                  rng.uniform(0, 1, (D, 2)) * (np.array([W, H]) - wh))
    cat = np.where(near & (rng.random(D) < 0.9), g_cat[src], rng.integers(1, num_cats + 1, D))
    score = rng.random(D)
    img_l, cat_l, score_l = (d_img + 1).tolist(), cat.tolist(), score.tolist()
    if segm:
        spec = mask._SegmSpec()
        for p in polys(xy, wh).tolist():
            spec.polygons([p], H, W)
        chars, lens, _, _ = spec.run()
        data = chars.numpy().tobytes().decode("ascii")
        ends = np.cumsum(lens.numpy()).tolist()
        starts = [0] + ends[:-1]
        dets = [{"image_id": img_l[j], "category_id": cat_l[j], "score": score_l[j],
                 "segmentation": {"size": [H, W], "counts": data[starts[j]:ends[j]]}} for j in range(D)]
    else:
        bb = np.concatenate([xy, wh], 1).tolist()
        dets = [{"image_id": img_l[j], "category_id": cat_l[j], "score": score_l[j], "bbox": bb[j]} for j in range(D)]
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
    for iou_type in ["bbox", "segm"]:
        segm = iou_type == "segm"
        # The oracle decodes every mask densely, so its segm subset is kept small.
        n_small = (5 if quick else 10) if segm else (20 if quick else 50)
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
