"""COCO evaluation (torchvision_adapter.coco) on a synthetic COCO-style set.

5,000 images of 640x480, 80 categories, ~7 ground-truth objects (polygons) and 100 detections per
image (half of them jittered copies of ground truth, half random), RLE masks for segm. The set is
generated once and kept in bench/results (pickled; delete the files to regenerate).

Cases:
  * the float64 pure-Python port of cocoeval (tests/python/test_coco_oracle.py, what pycocotools
    does, statement by statement) against the adapter on the same small subset: a like-for-like
    speed ratio;
  * the full set, what a user waits for once ``gt = COCO(...)`` and ``dt = gt.loadRes(...)`` are
    loaded:
      - "cold": ``COCOeval(gt, dt, iouType)``, ``evaluate()``, ``accumulate()``, ``summarize()`` on
        objects in the state COCO() and loadRes() leave them: the ground truth is read into arrays
        (and, for segm, its polygons rasterised) inside evaluate; loadRes has already read the
        results into arrays, as it does for every user;
      - "warm": the same on objects evaluated before (ground-truth arrays and masks cached);
      - the parts, cold: "evaluate", of which "evaluate: Python prep" (reading annotations into
        arrays, rasterising gt polygons) and the rest is the native matching; "accumulate" and
        "summarize" (on an evaluated object);
      - "loadRes" (results list -> COCO object, incl. packing/measuring the masks), separately.
  The speedup column of the full-set case is each part relative to "cold", not a comparison.
"""
import contextlib
import copy
import io
import pickle
import sys
import time
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


RESULTS = Path(__file__).resolve().parents[1] / "results"


def cached_synthetic(num_images, segm):
    """synthetic() kept on disk: generating the segm set takes a while, loading it a second."""
    path = RESULTS / f"coco_synthetic_{'segm' if segm else 'bbox'}_{num_images}.pkl"
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        pass
    data = synthetic(num_images=num_images, segm=segm)
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return data


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
            gt, dets = cached_synthetic(n_full, segm)
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

        loaded = dict(cd._cache)  # what loadRes leaves: the results already in arrays

        def fresh(cg=cg, cd=cd, loaded=loaded):
            cg._cache.clear()
            cd._cache = dict(loaded)

        def full(cold, cg=cg, cd=cd, iou_type=iou_type, fresh=fresh):
            if cold:
                fresh()
            E = COCOeval(cg, cd, iou_type)
            E.evaluate()
            E.accumulate()
            E.summarize()
            return E.stats

        def evaluate_only(cg=cg, cd=cd, iou_type=iou_type, fresh=fresh):
            fresh()
            E = COCOeval(cg, cd, iou_type)
            E.evaluate()
            return E

        def prep_only(cg=cg, cd=cd, iou_type=iou_type, fresh=fresh):
            fresh()
            E = COCOeval(cg, cd, iou_type)
            p = E.params
            import numpy as np_

            keys = np_.unique(p.imgIds), np_.unique(p.catIds)
            E._side(cg, False, p, *keys)
            E._side(cd, True, p, *keys)

        with contextlib.redirect_stdout(io.StringIO()):
            evaluated = evaluate_only()
            evaluated.accumulate()

        def load_res(cg=cg, dets=dets, segm=segm):
            if segm:
                # loadRes adds each mask's box; without this the next call would take the results
                # for boxes. Part of the timed call (a few ms).
                for d in dets:
                    d.pop("bbox", None)
            return cg.loadRes(dets)

        out.append(Case("coco_eval", f"{iou_type} {n_full} img x100 det: full cold/warm/parts",
                        [Variant("cold", _quiet(lambda f=full: f(True))),
                         Variant("warm", _quiet(lambda f=full: f(False))),
                         Variant("evaluate", _quiet(evaluate_only)),
                         Variant("evaluate: Python prep", _quiet(prep_only)),
                         Variant("accumulate", _quiet(evaluated.accumulate)),
                         Variant("summarize", _quiet(evaluated.summarize)),
                         Variant("loadRes", _quiet(load_res))],
                        rounds=3, items=n_full))
    return out
