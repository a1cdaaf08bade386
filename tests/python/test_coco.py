"""torchvision_adapter.coco against the float64 re-statement of pycocotools in test_coco_oracle.py
and against hand-computed cases: COCOeval numbers (precision, recall, scores, the 12 stats and
evalImgs), the COCO index API, the mask module and the command line."""
import contextlib
import copy
import io
import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from test_coco_oracle import (OracleParams, counts_from_mask, load_results, mask_bbox, mask_from_counts,
                              oracle_eval, poly_mask, rle_counts, rle_string, segm_mask)
from torchvision_adapter.coco import COCO, COCOeval, mask


def quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def make_dataset(seed, nimg=12, ncat=3, H=40, W=50, segm=False, crowd_rate=0.15, score_decimals=1):
    """Random COCO-style ground truth and results with crowds, ties, empty images and categories."""
    rng = random.Random(seed)
    images = [{"id": 10 * i + 3, "height": H, "width": W} for i in range(nimg)]
    cats = [{"id": c * 2 + 1, "name": f"c{c}", "supercategory": "s"} for c in range(ncat + 1)]  # last unused
    anns, dets = [], []
    aid = 100
    for im in images:
        if rng.random() < 0.15:
            continue  # an image without ground truth (it may still get detections)
        for _ in range(rng.randint(0, 5)):
            x, y = rng.uniform(0, W - 12), rng.uniform(0, H - 12)
            w, h = rng.uniform(2, 30), rng.uniform(2, 30)
            c = cats[rng.randint(0, ncat - 1)]["id"]
            crowd = 1 if rng.random() < crowd_rate else 0
            poly = [x, y, x + w, y + 0.2 * h, x + 0.7 * w, y + h, x, y + 0.8 * h]
            if segm and crowd:
                seg = {"size": [H, W], "counts": counts_from_mask(poly_mask(poly, H, W))}
            else:
                seg = [poly]
            area = float(np.count_nonzero(segm_mask(seg, H, W))) if segm else w * h * rng.choice([0.5, 1.0, 40.0])
            anns.append({"id": aid, "image_id": im["id"], "category_id": c, "bbox": [x, y, w, h], "area": area,
                         "iscrowd": crowd, "segmentation": seg})
            aid += 1
            for _ in range(rng.randint(0, 3)):
                dx, dy, s = rng.uniform(-4, 4), rng.uniform(-4, 4), rng.uniform(0.7, 1.3)
                cc = c if rng.random() < 0.85 else cats[rng.randint(0, ncat - 1)]["id"]
                d = {"image_id": im["id"], "category_id": cc, "score": round(rng.random(), score_decimals)}
                if segm:
                    p2 = [v + (dx if j % 2 == 0 else dy) for j, v in enumerate(poly)]
                    d["segmentation"] = {"size": [H, W], "counts": rle_string(counts_from_mask(poly_mask(p2, H, W))).decode()}
                else:
                    d["bbox"] = [x + dx, y + dy, w * s, h * s]
                dets.append(d)
    for im in images:  # random false positives, also on images without ground truth
        for _ in range(rng.randint(0, 3)):
            c = cats[rng.randint(0, ncat - 1)]["id"]
            x, y, w, h = rng.uniform(0, W - 5), rng.uniform(0, H - 5), rng.uniform(2, 25), rng.uniform(2, 25)
            d = {"image_id": im["id"], "category_id": c, "score": round(rng.random(), score_decimals)}
            if segm:
                d["segmentation"] = {"size": [H, W], "counts": rle_string(counts_from_mask(
                    poly_mask([x, y, x + w, y, x + w, y + h, x, y + h], H, W))).decode()}
            else:
                d["bbox"] = [x, y, w, h]
            dets.append(d)
    return {"images": images, "categories": cats, "annotations": anns}, dets


def run_ours(gt, dets, iou_type, configure=None):
    cg = quiet(COCO, copy.deepcopy(gt))
    cd = quiet(cg.loadRes, copy.deepcopy(dets))
    E = COCOeval(cg, cd, iou_type)
    if configure:
        configure(E.params)
    quiet(E.evaluate)
    quiet(E.accumulate)
    quiet(E.summarize)
    return E


def assert_equal_to_oracle(E, ref, check_eval_imgs=True):
    for key in ["precision", "recall", "scores"]:
        assert E.eval[key].shape == ref[key].shape, key
        assert np.array_equal(E.eval[key], ref[key]), key
    if ref["stats"] is not None:
        assert np.array_equal(np.asarray(E.stats, dtype=np.float64), ref["stats"])
    if check_eval_imgs:
        assert len(E.evalImgs) == len(ref["evalImgs"])
        for a, b in zip(E.evalImgs, ref["evalImgs"]):
            assert (a is None) == (b is None)
            if a is None:
                continue
            for key in ["dtIds", "gtIds", "dtScores"]:
                assert list(a[key]) == list(b[key]), key
            for key in ["dtMatches", "gtMatches", "gtIgnore", "dtIgnore"]:
                assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), key


@pytest.mark.parametrize("seed", range(6))
def test_bbox_equals_oracle(seed):
    gt, dets = make_dataset(seed, score_decimals=1 if seed % 2 else 6)
    E = run_ours(gt, dets, "bbox")
    assert_equal_to_oracle(E, oracle_eval(gt, load_results(gt, dets, "bbox"), "bbox"))


@pytest.mark.parametrize("seed", range(3))
def test_segm_equals_oracle(seed):
    gt, dets = make_dataset(100 + seed, nimg=8, segm=True)
    E = run_ours(gt, dets, "segm")
    assert_equal_to_oracle(E, oracle_eval(gt, load_results(gt, dets, "segm"), "segm"))


def test_use_cats_0_equals_oracle():
    gt, dets = make_dataset(7)
    E = run_ours(gt, dets, "bbox", lambda p: setattr(p, "useCats", 0))
    assert_equal_to_oracle(E, oracle_eval(gt, load_results(gt, dets, "bbox"), "bbox", use_cats=False))
    assert E.eval["precision"].shape[2] == 1


def test_custom_params_equal_oracle():
    gt, dets = make_dataset(8, nimg=15)

    def configure(p):
        p.maxDets = [2, 1, 5]
        p.areaRng = [[0, 1e10], [0, 100], [100, 400], [400, 1e10], [50, 60]]
        p.areaRngLbl = ["all", "small", "medium", "large", "odd"]
        p.iouThrs = np.array([0.3, 0.5, 0.9])
        p.recThrs = np.linspace(0, 1, 11)
        p.imgIds = [im["id"] for im in gt["images"][:9]] + [999999]  # an id without image
        p.catIds = [1, 3]

    E = run_ours(gt, dets, "bbox", configure)
    op = OracleParams()
    configure(op)
    assert_equal_to_oracle(E, oracle_eval(gt, load_results(gt, dets, "bbox"), "bbox", params=op))


def test_unsorted_recall_thresholds_stop_like_pycocotools():
    gt, dets = make_dataset(9)

    def configure(p):
        p.recThrs = np.array([0.0, 0.9, 0.1, 1.0, 0.2])

    E = run_ours(gt, dets, "bbox", configure)
    op = OracleParams()
    configure(op)
    ref = oracle_eval(gt, load_results(gt, dets, "bbox"), "bbox", params=op)
    assert np.array_equal(E.eval["precision"], ref["precision"])
    assert np.array_equal(E.eval["scores"], ref["scores"])


def test_threads_give_same_numbers():
    gt, dets = make_dataset(10, nimg=30)
    torch.set_num_threads(1)
    a = run_ours(gt, dets, "bbox")
    torch.set_num_threads(2)
    b = run_ours(gt, dets, "bbox")
    for key in ["precision", "recall", "scores"]:
        assert np.array_equal(a.eval[key], b.eval[key])


# ---- hand-computed cases ------------------------------------------------------------------------


def tiny_gt(anns, cats=(1,), images=(1,)):
    return {"images": [{"id": i, "height": 100, "width": 100} for i in images],
            "categories": [{"id": c, "name": str(c)} for c in cats],
            "annotations": [dict(a, id=j + 1, area=a.get("area", a["bbox"][2] * a["bbox"][3]),
                                 iscrowd=a.get("iscrowd", 0)) for j, a in enumerate(anns)]}


def test_perfect_detection_scores_one():
    gt = tiny_gt([{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]}])
    E = run_ours(gt, [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9}], "bbox")
    # One small object (area 400 <= 32^2) found at every threshold. Precision is
    # tp / (tp + fp + eps) as in cocoeval, so slightly below 1.
    one = 1 / (1 + np.spacing(1))
    assert (E.eval["precision"][:, :, 0, :2, :] == one).all()
    assert np.allclose(E.stats, [1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1], rtol=0, atol=1e-12)
    assert E.stats[6:].tolist() == [1, 1, 1, 1, -1, -1]  # recalls are exact
    assert E.eval["precision"].shape == (10, 101, 1, 4, 3)


def test_half_overlap_counts_only_below_threshold():
    # IoU = 200 / 600 = 1/3 ... below 0.5: a false positive and a miss.
    gt = tiny_gt([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 20]}])
    E = run_ours(gt, [{"image_id": 1, "category_id": 1, "bbox": [10, 0, 20, 20], "score": 0.5}], "bbox")
    assert E.stats[0] == 0 and E.stats[8] == 0
    # IoU exactly 0.5 matches at threshold 0.5 (iou >= t): 300 / 600 inside a 20x30 box
    gt = tiny_gt([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 30]}])
    E = run_ours(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 15, 20, 15], "score": 0.5}], "bbox")
    assert E.eval["precision"][0, :, 0, 0, 2].tolist() == [1 / (1 + np.spacing(1))] * 101
    assert (E.eval["precision"][1:, :, 0, 0, 2] == 0).all()


def test_crowd_gt_absorbs_detections_and_is_not_counted():
    # A crowd region matched by two detections: both are ignored, no gt counts -> precision -1.
    gt = tiny_gt([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "iscrowd": 1}])
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 20], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [20, 20, 20, 20], "score": 0.8}]
    E = run_ours(gt, dets, "bbox")
    assert (E.eval["precision"] == -1).all() and E.stats[0] == -1
    ei = [e for e in E.evalImgs if e is not None][0]
    assert ei["dtIgnore"].all() and (ei["dtMatches"] == 1).all()  # both matched to gt id 1


def test_two_detections_one_gt_precision_curve():
    # Highest score is a false positive, the second a true positive: recall 1 at precision 1/2.
    gt = tiny_gt([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40]}])
    dets = [{"image_id": 1, "category_id": 1, "bbox": [60, 60, 30, 30], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.4}]
    E = run_ours(gt, dets, "bbox")
    pr = E.eval["precision"][0, :, 0, 0, 2]
    assert np.allclose(pr, 0.5) and E.eval["recall"][0, 0, 0, 2] == 1.0
    # recall threshold 0 samples the first detection (searchsorted side='left'), later ones the match
    assert E.eval["scores"][0, 0, 0, 0, 2] == 0.9 and E.eval["scores"][0, 1, 0, 0, 2] == 0.4
    # maxDets=1 keeps only the false positive
    assert E.eval["recall"][0, 0, 0, 0] == 0.0


def test_empty_results_and_no_detections():
    gt, _ = make_dataset(11)
    E = run_ours(gt, [], "bbox")
    assert (E.eval["precision"][E.eval["precision"] > -1] == 0).all()
    E2 = run_ours(gt, [{"image_id": gt["images"][0]["id"], "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1.0}], "bbox")
    assert E2.stats.shape == (12,)


def test_results_for_unknown_image_are_rejected():
    gt, dets = make_dataset(12)
    cg = quiet(COCO, gt)
    with pytest.raises(AssertionError, match="do not correspond"):
        quiet(cg.loadRes, [{"image_id": 123456, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1.0}])


def test_summarize_prints_pycocotools_lines():
    gt = tiny_gt([{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]}])
    E = run_ours(gt, [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9}], "bbox")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        E.summarize()
    lines = out.getvalue().splitlines()
    assert lines[0] == " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000"
    assert lines[4] == " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000"
    assert lines[6] == " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 1.000"
    assert len(lines) == 12


def test_accumulate_with_subset_params():
    gt, dets = make_dataset(13)
    E = run_ours(gt, dets, "bbox")
    full = E.eval["precision"].copy()
    p = copy.deepcopy(E.params)
    p.catIds = [E.params.catIds[1]]
    p.maxDets = [100]
    quiet(E.accumulate, p)
    # cocoeval indexes the evaluated categories by position in the new params (k_list holds
    # positions), so the single category reads the first evaluated category's results.
    assert E.eval["precision"].shape == (10, 101, 1, 4, 1)
    assert np.array_equal(E.eval["precision"][..., 0, :, 0], full[..., 0, :, 2])


# ---- COCO index API -----------------------------------------------------------------------------


def test_coco_queries_and_numpy_results():
    gt, dets = make_dataset(15)
    c = quiet(COCO, gt)
    assert sorted(c.getImgIds()) == sorted(im["id"] for im in gt["images"])
    assert c.getCatIds() == [cat["id"] for cat in gt["categories"]]
    assert c.getCatIds(catNms=["c1"]) == [3]
    img = gt["annotations"][0]["image_id"]
    ids = c.getAnnIds(imgIds=[img])
    assert ids == [a["id"] for a in gt["annotations"] if a["image_id"] == img]
    assert c.getAnnIds(imgIds=img, iscrowd=0) == [a["id"] for a in gt["annotations"] if a["image_id"] == img and not a["iscrowd"]]
    assert c.getAnnIds(areaRng=[0, 100]) == [a["id"] for a in gt["annotations"] if 0 < a["area"] < 100]
    assert c.loadAnns(ids[0])[0]["id"] == ids[0]
    assert c.loadImgs(img)[0]["id"] == img
    assert set(c.getImgIds(catIds=[1])) == {a["image_id"] for a in gt["annotations"] if a["category_id"] == 1}
    m = c.annToMask(gt["annotations"][0])
    assert m.shape == (40, 50) and m.dtype == np.uint8
    assert np.array_equal(m, segm_mask(gt["annotations"][0]["segmentation"], 40, 50))
    arr = np.array([[d["image_id"], *d["bbox"], d["score"], d["category_id"]] for d in dets])
    a = run_ours(gt, dets, "bbox")
    cd = quiet(c.loadRes, arr)
    E = COCOeval(c, cd, "bbox")
    quiet(E.evaluate)
    quiet(E.accumulate)
    assert np.array_equal(E.eval["precision"], a.eval["precision"])


def test_coco_from_path(tmp_path):
    gt, dets = make_dataset(16)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    c = quiet(COCO, str(tmp_path / "gt.json"))
    E = COCOeval(c, quiet(c.loadRes, str(tmp_path / "dt.json")), "bbox")
    quiet(E.evaluate)
    quiet(E.accumulate)
    quiet(E.summarize)
    ref = oracle_eval(gt, load_results(gt, dets, "bbox"), "bbox")
    assert np.array_equal(E.stats, ref["stats"])


def test_cli_prints_summary(tmp_path):
    gt, dets = make_dataset(17)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    r = subprocess.run([sys.executable, "-m", "torchvision_adapter.coco", str(tmp_path / "gt.json"),
                        str(tmp_path / "dt.json"), "--iou-type", "bbox", "--no-progress"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.rstrip("\n").splitlines()
    assert len(lines) == 12 and lines[0].startswith(" Average Precision  (AP) @[ IoU=0.50:0.95")
    ref = oracle_eval(gt, load_results(gt, dets, "bbox"), "bbox")
    assert lines[0].endswith("= {:0.3f}".format(ref["stats"][0]))
    bad = subprocess.run([sys.executable, "-m", "torchvision_adapter.coco", str(tmp_path / "missing.json"),
                          str(tmp_path / "dt.json"), "--no-progress"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "missing.json" in bad.stderr


# ---- mask module --------------------------------------------------------------------------------


def test_mask_encode_decode_roundtrip_and_format():
    g = np.random.default_rng(0)
    m = (g.random((23, 17, 4)) > 0.6).astype(np.uint8)
    m[:, :, 1] = 0
    m[:, :, 2] = 1
    rles = mask.encode(np.asfortranarray(m))
    assert len(rles) == 4 and rles[0]["size"] == [23, 17] and isinstance(rles[0]["counts"], bytes)
    for k in range(4):
        assert rles[k]["counts"] == rle_string(counts_from_mask(m[:, :, k]))
    dec = mask.decode(rles)
    assert dec.shape == (23, 17, 4) and dec.flags.f_contiguous and np.array_equal(dec, m)
    single = mask.encode(m[:, :, 0])
    assert isinstance(single, dict) and np.array_equal(mask.decode(single), m[:, :, 0])
    assert mask.area(rles).tolist() == [int(m[:, :, k].sum()) for k in range(4)]
    assert mask.area(rles).dtype == np.uint32
    assert mask.toBbox(rles).tolist() == [mask_bbox(m[:, :, k]) for k in range(4)]
    assert mask.toBbox(single).shape == (4,)


def test_mask_merge_iou_and_frpyobjects():
    g = np.random.default_rng(1)
    ms = [(g.random((30, 20)) > 0.7).astype(np.uint8) for _ in range(3)]
    rles = [mask.encode(m) for m in ms]
    u = mask.decode(mask.merge(rles))
    assert np.array_equal(u, ms[0] | ms[1] | ms[2])
    assert np.array_equal(mask.decode(mask.merge(rles, intersect=True)), ms[0] & ms[1] & ms[2])
    iou = mask.iou(rles, rles[:2], [0, 1])
    for i in range(3):
        for j in range(2):
            inter = np.count_nonzero(ms[i] & ms[j])
            union = np.count_nonzero(ms[i]) if j == 1 else np.count_nonzero(ms[i] | ms[j])
            assert iou[i, j] == (inter / union if inter else 0.0)
    boxes = [[0, 0, 10, 10], [5, 5, 10, 10]]
    b = mask.iou(boxes, np.array(boxes, dtype=np.float64), [0, 0])
    assert b.shape == (2, 2) and b[0, 1] == 25 / 175
    assert mask.iou([], boxes, [0, 0]) == []
    with pytest.raises(Exception, match="same data type"):
        mask.iou(rles, boxes, [0, 0])
    poly = [[1.5, 2, 15, 3, 12.2, 25, 2, 20]]
    r = mask.frPyObjects(poly, 30, 20)
    assert np.array_equal(mask.decode(r[0]), poly_mask(poly[0], 30, 20))
    rb = mask.frPyObjects([[2, 3, 5, 7]], 30, 20)
    assert np.array_equal(mask.decode(rb[0]), poly_mask([2, 3, 2, 10, 7, 10, 7, 3], 30, 20))
    unc = {"size": [30, 20], "counts": counts_from_mask(ms[0])}
    assert mask.frPyObjects(unc, 30, 20)["counts"] == rles[0]["counts"]
    assert mask.frPyObjects([unc], 30, 20)[0]["counts"] == rles[0]["counts"]


def test_polygon_rasterisation_equals_maskapi_port():
    rng = random.Random(5)
    for trial in range(150):
        h, w = rng.randint(1, 35), rng.randint(1, 35)
        k = rng.randint(3, 9)
        poly = [rng.uniform(-6, w + 6) if j % 2 == 0 else rng.uniform(-6, h + 6) for j in range(2 * k)]
        if trial % 4 == 0:
            poly = [float(round(v)) for v in poly]
        if trial % 7 == 0:
            poly[2:4] = poly[0:2]  # a repeated vertex
        r = mask.frPyObjects([poly], h, w)[0]
        assert np.array_equal(mask.decode(r), poly_mask(poly, h, w)), (poly, h, w)


def test_polygon_rasterisation_edge_cases_equal_maskapi_port():
    # Vertices on the 5x upsampled grid and between its points, axis-parallel and steep edges, one or
    # two vertices, polygons far outside the image and larger ones.
    rng = random.Random(6)
    for trial in range(120):
        h, w = rng.randint(1, 60), rng.randint(1, 60)
        k = rng.choice([3, 4, 5, 7])
        span = 3 if trial % 3 == 0 else 1
        poly = [rng.uniform(-span * w, span * w + 6) if j % 2 == 0 else rng.uniform(-span * h, span * h + 6)
                for j in range(2 * k)]
        if trial % 4 == 1:
            poly = [round(v * 5) / 5 for v in poly]
        if trial % 4 == 2:
            poly = [round(v * 10) / 10 + 0.1 for v in poly]
        if trial % 5 == 0 and k >= 2:
            poly[2] = poly[0]  # a vertical edge
        if trial % 5 == 1 and k >= 2:
            poly[3] = poly[1]  # a horizontal edge
        r = mask.frPyObjects([poly], h, w)[0]
        assert np.array_equal(mask.decode(r), poly_mask(poly, h, w)), (poly, h, w)


def test_rle_strings_with_large_counts_and_bad_input():
    counts = [0, 5, 3, 100000, 7, 4000000, 1]
    s = rle_string(counts)
    assert rle_counts(s) == counts
    total = sum(counts)
    r = {"size": [total, 1], "counts": s}
    assert mask.area(r) == 5 + 100000 + 4000000
    assert np.array_equal(mask.decode(r)[:, 0], mask_from_counts(counts, total, 1)[:, 0])
    assert mask.frUncompressedRLE([{"size": [total, 1], "counts": counts}], total, 1)[0]["counts"] == s
    with pytest.raises(RuntimeError, match="more than h\\*w"):
        mask.decode({"size": [2, 2], "counts": rle_string([1, 10])})
    with pytest.raises(ValueError, match="uint8"):
        mask.encode(np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(RuntimeError, match="same size"):
        mask.decode([mask.encode(np.zeros((3, 3), np.uint8)), mask.encode(np.zeros((4, 3), np.uint8))])


def test_load_res_measures_masks_like_area_and_to_bbox():
    gt, dets = make_dataset(21, nimg=6, segm=True)
    cg = quiet(COCO, gt)
    cd = quiet(cg.loadRes, copy.deepcopy(dets))
    rles = [d["segmentation"] for d in dets]
    anns = cd.loadAnns(cd.getAnnIds())
    assert [a["area"] for a in anns] == mask.area(rles).tolist()
    assert np.array_equal(np.array([a["bbox"] for a in anns]), mask.toBbox(rles))
    bad = copy.deepcopy(dets[:2])
    bad[1]["segmentation"]["counts"] = "3o"  # the last number never ends
    with pytest.raises(RuntimeError, match="malformed"):
        quiet(cg.loadRes, bad)
