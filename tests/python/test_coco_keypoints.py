"""Keypoint evaluation (COCOeval(gt, dt, 'keypoints')) against the float64 port of cocoeval's
computeOks, evaluate and accumulate in test_coco_oracle.py."""
import copy
import math
import random

import numpy as np
import pytest
import torch

from test_coco import assert_equal_to_oracle, quiet
from test_coco_oracle import OracleKpParams, compute_oks, load_results, oracle_eval
from torchvision_adapter.coco import COCO, COCOeval

SIGMAS = OracleKpParams().kpt_oks_sigmas


def person(rng, x, y, w, h, k=17, p_visible=0.7):
    kps, nv = [], 0
    for _ in range(k):
        if rng.random() < p_visible:
            v = rng.choice([1, 2])
            kps += [x + rng.uniform(0, w), y + rng.uniform(0, h), v]
            nv += 1
        else:
            kps += [0, 0, 0]
    return kps, nv


def make_kp_dataset(seed, nimg=10, ncat=2, k=17, score_decimals=2):
    """People with k keypoints: some without visible keypoints, crowds, images without detections
    and detections on images without ground truth, sizes across the medium and large ranges."""
    rng = random.Random(seed)
    images = [{"id": 7 * i + 2, "height": 400, "width": 500} for i in range(nimg)]
    cats = [{"id": c + 1, "name": f"p{c}", "supercategory": "person"} for c in range(ncat)]
    anns, dets, aid = [], [], 1
    for im in images:
        r = rng.random()
        n_gt = 0 if r < 0.2 else rng.randint(1, 5)
        for _ in range(n_gt):
            w, h = math.exp(rng.uniform(math.log(15), math.log(200))), math.exp(rng.uniform(math.log(15), math.log(200)))
            x, y = rng.uniform(0, 500 - w), rng.uniform(0, 400 - h)
            c = cats[rng.randint(0, ncat - 1)]["id"]
            kps, nv = person(rng, x, y, w, h, k, p_visible=0.0 if rng.random() < 0.2 else 0.7)
            crowd = 1 if rng.random() < 0.1 else 0
            area = w * h * rng.choice([0.6, 1.0])
            anns.append({"id": aid, "image_id": im["id"], "category_id": c, "bbox": [x, y, w, h], "area": area,
                         "iscrowd": crowd, "num_keypoints": nv, "keypoints": kps})
            aid += 1
            for _ in range(rng.randint(0, 3)):  # noisy detections of this person
                g = np.array(kps, dtype=np.float64).reshape(-1, 3)
                noise = rng.uniform(0.01, 0.3) * math.sqrt(w * h)
                pts = []
                for q in range(k):
                    if g[q, 2] > 0:
                        px, py = g[q, 0] + rng.gauss(0, noise), g[q, 1] + rng.gauss(0, noise)
                    else:
                        px, py = x + rng.uniform(-0.5, 1.5) * w, y + rng.uniform(-0.5, 1.5) * h
                    pts += [px, py, 1]
                cc = c if rng.random() < 0.9 else cats[rng.randint(0, ncat - 1)]["id"]
                dets.append({"image_id": im["id"], "category_id": cc, "keypoints": pts,
                             "score": round(rng.random(), score_decimals)})
        if r < 0.1:
            continue  # an image without detections
        for _ in range(rng.randint(0, 3)):  # false positives
            w, h = rng.uniform(20, 150), rng.uniform(20, 150)
            x, y = rng.uniform(0, 500 - w), rng.uniform(0, 400 - h)
            pts = []
            for q in range(k):
                pts += [x + rng.uniform(0, w), y + rng.uniform(0, h), 1]
            dets.append({"image_id": im["id"], "category_id": cats[rng.randint(0, ncat - 1)]["id"],
                         "keypoints": pts, "score": round(rng.random(), score_decimals)})
    return {"images": images, "categories": cats, "annotations": anns}, dets


def run_ours(gt, dets, configure=None):
    cg = quiet(COCO, copy.deepcopy(gt))
    cd = quiet(cg.loadRes, copy.deepcopy(dets))
    E = COCOeval(cg, cd, "keypoints")
    if configure:
        configure(E.params)
    quiet(E.evaluate)
    quiet(E.accumulate)
    quiet(E.summarize)
    return E


def native_oks(dts, gts, sigmas=SIGMAS):
    k = len(sigmas)
    T = lambda v: torch.tensor(np.asarray(v, dtype=np.float64))  # noqa: E731
    return torch.ops.torchvision_adapter.coco_keypoint_oks(
        T([d["keypoints"] for d in dts]).reshape(-1, 3 * k), T([g["keypoints"] for g in gts]).reshape(-1, 3 * k),
        T([g["bbox"] for g in gts]).reshape(-1, 4), T([g["area"] for g in gts]),
        T((np.asarray(sigmas) * 2) ** 2)).numpy()


@pytest.mark.parametrize("seed", range(3))
def test_oks_matrix_equals_compute_oks_port(seed):
    gt, dets = make_kp_dataset(seed, nimg=6)
    dts = load_results(gt, dets, "keypoints")
    gts = gt["annotations"]
    gts[0]["keypoints"][2::3] = [0] * 17  # a gt without visible keypoints: the box distance counts
    gts[0]["num_keypoints"] = 0
    ours = native_oks(dts, gts)
    ref = compute_oks(dts, gts, SIGMAS)
    # Same formula and summation order; exp may differ from numpy's in the last bit.
    np.testing.assert_allclose(ours, ref, rtol=1e-14, atol=0)
    assert ours.shape == (len(dts), len(gts))


def test_oks_hand_computed():
    sig = np.array([0.1, 0.2])
    gt = {"keypoints": [10, 10, 2, 20, 20, 0], "bbox": [0, 0, 30, 30], "area": 100.0}
    dt = {"keypoints": [13, 14, 1, 50, 50, 1]}
    # Only the visible keypoint counts: d^2 = 25, var = 0.04.
    e = 25 / 0.04 / (100 + np.spacing(1)) / 2
    assert native_oks([dt], [gt], sig)[0, 0] == pytest.approx(math.exp(-e), rel=1e-15)
    # No visible keypoint: the distance to the box [-30, 60] x [-30, 60] counts, every keypoint.
    gt0 = dict(gt, keypoints=[10, 10, 0, 20, 20, 0])
    dt0 = {"keypoints": [0, 0, 1, 70, 65, 1]}
    e2 = (10 ** 2 + 5 ** 2) / 0.16 / (100 + np.spacing(1)) / 2
    assert native_oks([dt0], [gt0], sig)[0, 0] == pytest.approx((1 + math.exp(-e2)) / 2, rel=1e-15)
    np.testing.assert_allclose(native_oks([dt0, dt], [gt0, gt], sig), compute_oks([dt0, dt], [gt0, gt], sig),
                               rtol=1e-14)


@pytest.mark.parametrize("seed", range(5))
def test_keypoints_equal_oracle(seed):
    gt, dets = make_kp_dataset(10 + seed, score_decimals=1 if seed % 2 else 6)
    E = run_ours(gt, dets)
    assert_equal_to_oracle(E, oracle_eval(gt, load_results(gt, dets, "keypoints"), "keypoints"))
    assert len(E.stats) == 10


def test_keypoints_custom_sigmas_and_params_equal_oracle():
    k = 5
    gt, dets = make_kp_dataset(20, nimg=12, k=k)
    sig = np.array([0.3, 0.5, 0.2, 0.9, 0.4])

    def configure(p):
        p.kpt_oks_sigmas = sig
        p.iouThrs = np.array([0.2, 0.5, 0.8])
        p.maxDets = [20]
        p.imgIds = [im["id"] for im in gt["images"][:9]]

    E = run_ours(gt, dets, configure)
    op = OracleKpParams()
    configure(op)
    assert_equal_to_oracle(E, oracle_eval(gt, load_results(gt, dets, "keypoints"), "keypoints", params=op))


def test_keypoints_use_cats_0_matches_nothing_like_cocoeval():
    gt, dets = make_kp_dataset(30)
    E = run_ours(gt, dets, lambda p: setattr(p, "useCats", 0))
    ref = oracle_eval(gt, load_results(gt, dets, "keypoints"), "keypoints", use_cats=False)
    assert_equal_to_oracle(E, ref)
    assert all(e is None or not np.asarray(e["dtMatches"]).any() for e in E.evalImgs)


def test_keypoints_perfect_detection_and_invisible_gt():
    sk = [5, 5, 2] * 17
    gt = {"images": [{"id": 1, "height": 200, "width": 200}, {"id": 2, "height": 200, "width": 200}],
          "categories": [{"id": 1, "name": "person"}],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 50], "area": 5000.0, "iscrowd": 0,
               "num_keypoints": 17, "keypoints": sum([[10 + q, 20 + q, 2] for q in range(17)], [])},
              # no visible keypoint: ignored, a detection on it is neither true nor false positive
              {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 100, 50], "area": 5000.0, "iscrowd": 0,
               "num_keypoints": 0, "keypoints": [0] * 51}]}
    dets = [{"image_id": 1, "category_id": 1, "score": 0.9,
             "keypoints": sum([[10 + q, 20 + q, 1] for q in range(17)], [])},
            {"image_id": 2, "category_id": 1, "score": 0.95, "keypoints": sk}]
    E = run_ours(gt, dets)
    # all / medium (5000 px) / large: the gt is medium, so "large" has no gt (-1).
    assert np.allclose(E.stats, [1, 1, 1, 1, -1, 1, 1, 1, 1, -1])
    assert_equal_to_oracle(E, oracle_eval(gt, load_results(gt, dets, "keypoints"), "keypoints"))
    e2 = [e for e in E.evalImgs if e is not None and e["image_id"] == 2 and e["aRng"] == [0, 1e10]][0]
    assert e2["dtIgnore"].all() and (e2["gtIgnore"] == 1).all()


def test_keypoints_bad_length_is_a_clear_error():
    gt, dets = make_kp_dataset(40, nimg=4)
    cg = quiet(COCO, gt)
    cd = quiet(cg.loadRes, dets)
    E = COCOeval(cg, cd, "keypoints")
    E.params.kpt_oks_sigmas = np.array([0.1, 0.2])
    with pytest.raises(ValueError, match="keypoints"):
        quiet(E.evaluate)


def test_keypoints_missing_num_keypoints_is_a_clear_error():
    gt, dets = make_kp_dataset(41, nimg=4)
    for a in gt["annotations"]:
        a.pop("num_keypoints")
    cg = quiet(COCO, gt)
    cd = quiet(cg.loadRes, dets)
    E = COCOeval(cg, cd, "keypoints")
    with pytest.raises(KeyError, match="num_keypoints"):
        quiet(E.evaluate)
