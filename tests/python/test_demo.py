"""The demo's pieces on a tiny configuration: dataset generator, RLE, evaluation, model, report."""
import json
import os

import numpy as np
import pytest
import torch

from torchvision_adapter.demo import _rle, data, evaluate, model, report, throughput
from torchvision_adapter.demo.train import TrainConfig, train

TINY = data.DatasetConfig(image_size=96, train_images=4, val_images=3, min_objects=2, max_objects=4,
                          min_object_size=14, max_object_size=40, seed=7)


@pytest.fixture(scope="module")
def backgrounds():
    return data.load_backgrounds(max_side=128)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory, backgrounds):
    folder = str(tmp_path_factory.mktemp("shapes"))
    data.generate_split(folder, "train", TINY.train_images, TINY, backgrounds, seed=1, progress=False)
    data.generate_split(folder, "val", TINY.val_images, TINY, backgrounds, seed=2, progress=False)
    return folder


def _load(folder, split):
    with open(os.path.join(folder, "annotations", f"instances_{split}.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("split", ["train", "val"])
def test_coco_json_is_well_formed(tiny_dataset, split):
    coco = _load(tiny_dataset, split)
    assert {"images", "annotations", "categories"} <= set(coco)
    cat_ids = {c["id"] for c in coco["categories"]}
    assert cat_ids == set(range(1, len(data.CATEGORIES) + 1))
    assert all({"id", "name", "supercategory"} <= set(c) for c in coco["categories"])
    images = {im["id"]: im for im in coco["images"]}
    assert len(images) == len(coco["images"]) == getattr(TINY, f"{split}_images")
    for im in coco["images"]:
        path = os.path.join(tiny_dataset, split, im["file_name"])
        assert os.path.exists(path)
        from PIL import Image

        with Image.open(path) as pil:
            assert pil.size == (im["width"], im["height"]) == (TINY.image_size, TINY.image_size)
    ann_ids = [a["id"] for a in coco["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids)
    per_image = {i: 0 for i in images}
    for a in coco["annotations"]:
        assert a["image_id"] in images and a["category_id"] in cat_ids and a["iscrowd"] == 0
        per_image[a["image_id"]] += 1
        im = images[a["image_id"]]
        seg = a["segmentation"]
        assert seg["size"] == [im["height"], im["width"]] and isinstance(seg["counts"], str)
        mask = _rle.decode(seg)
        # The mask, the box and the area describe the same visible pixels.
        assert a["area"] == mask.sum() > 0
        x, y, w, h = a["bbox"]
        ys, xs = np.nonzero(mask)
        assert (x, y, x + w, y + h) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert 0 <= x and 0 <= y and x + w <= im["width"] and y + h <= im["height"]
        assert TINY.min_object_size / 2 <= max(w, h) <= TINY.max_object_size + 1
    assert all(TINY.min_objects - 1 <= n <= TINY.max_objects for n in per_image.values())


def test_objects_stay_visible_enough(backgrounds):
    rng = np.random.default_rng(3)
    for _ in range(5):
        img, objects = data.make_image(rng, backgrounds, TINY)
        assert img.shape == (96, 96, 3) and img.dtype == np.uint8
        masks = [m for _, m in objects]
        for i in range(len(masks)):  # visible parts never overlap: later objects cut earlier ones
            for j in range(i + 1, len(masks)):
                assert not (masks[i] & masks[j]).any()


def test_generator_is_deterministic(tmp_path, backgrounds):
    for d in ("a", "b"):
        data.generate_split(str(tmp_path / d), "val", 2, TINY, backgrounds, seed=5, progress=False)
    assert _load(str(tmp_path / "a"), "val")["annotations"] == _load(str(tmp_path / "b"), "val")["annotations"]


def test_rle_known_strings():
    # Derived by hand from COCO's format: column-major runs, background first, 5-bit groups + 48.
    assert _rle.encode(np.ones((2, 2), bool))["counts"] == "04"
    assert _rle.encode(np.array([[0, 1], [0, 1]], bool))["counts"] == "22"
    row = np.array([[0] + [1] * 40 + [0] + [1] * 3], bool)  # runs 1, 40, 1, 3 (3 - 40 = -37 coded)
    assert _rle.encode(row)["counts"] == "1X11kN"
    assert (_rle.decode({"size": [1, 45], "counts": "1X11kN"}) == row).all()


def test_rle_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = rng.random((rng.integers(1, 30), rng.integers(1, 30))) < rng.random()
        assert (_rle.decode(_rle.encode(m)) == m).all()
    assert (_rle.decode({"size": [2, 3], "counts": [1, 2, 3]}) == np.array([[0, 1, 0], [1, 0, 0]])).all()


def test_evaluation_of_ground_truth_and_of_misses(tiny_dataset):
    coco = _load(tiny_dataset, "val")
    exact = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9}
             for a in coco["annotations"]]
    ev = evaluate.coco_evaluate(tiny_dataset, "val", exact)
    assert ev["stats"][0] == pytest.approx(1.0) and ev["stats"][1] == pytest.approx(1.0)
    wrong_class = [dict(r, category_id=r["category_id"] % len(data.CATEGORIES) + 1) for r in exact]
    assert evaluate.coco_evaluate(tiny_dataset, "val", wrong_class)["stats"][0] == pytest.approx(0.0)
    # Boxes shifted by half their width: IoU 1/3, a miss at every threshold from 0.5 on.
    shifted = [dict(r, bbox=[r["bbox"][0] + r["bbox"][2] / 2] + r["bbox"][1:]) for r in exact]
    assert evaluate.coco_evaluate(tiny_dataset, "val", shifted)["stats"][1] == pytest.approx(0.0)
    # Half of the objects found exactly, nothing else: recall 0.5, precision 1 up to it.
    half = exact[::2]
    ev = evaluate.coco_evaluate(tiny_dataset, "val", half)
    n_gt = {c: sum(a["category_id"] == c for a in coco["annotations"]) for c in range(1, 5)}
    n_hit = {c: sum(r["category_id"] == c for r in half) for c in range(1, 5)}
    rec_thrs = np.linspace(0.0, 1.0, 101)  # COCO's 101 recall thresholds
    # A class with no detection has precision 0 at every recall threshold, recall 0 included.
    expected = np.mean([(rec_thrs <= n_hit[c] / n_gt[c]).mean() if n_hit[c] else 0.0 for c in n_gt if n_gt[c]])
    assert ev["stats"][1] == pytest.approx(expected)


def test_tiny_pipeline(tiny_dataset, tmp_path):
    torch.set_num_threads(1)
    net = model.build_detector(len(data.CATEGORIES), image_size=TINY.image_size, seed=0)
    train_ds = data.CocoDetection(tiny_dataset, "train")
    val_ds = data.CocoDetection(tiny_dataset, "val")
    img, target = train_ds[0]
    assert img.shape == (3, 96, 96) and img.dtype == torch.float32 and 0 <= img.min() and img.max() <= 1
    assert target["boxes"].shape[1] == 4 and len(target["boxes"]) == len(target["labels"])
    cfg = TrainConfig(iterations=2, batch_size=2, warmup=1)
    res = train(net, train_ds, cfg, progress=False)
    assert res["iterations_done"] == 2 and not res["stopped_early"]
    assert all(np.isfinite(r["loss"]) for r in res["log"])

    idx = list(range(len(val_ds)))
    outs = evaluate.predict(net, val_ds, idx, batch_size=2, progress=False)
    assert len(outs) == len(idx) and all(o["boxes"].shape[1] == 4 for o in outs)
    results = evaluate.to_coco_results(val_ds, idx, outs)
    ev = evaluate.coco_evaluate(tiny_dataset, "val", results)
    assert len(ev["stats"]) == 12

    inf = throughput.inference(net, val_ds, idx, batch_size=2, rounds=1, progress=False)
    assert inf["same"]["same"], inf["same"]
    steps = throughput.training_steps(net, train_ds, cfg, steps=1, progress=False)
    assert steps["max_loss_diff"] <= 1e-4 * max(1.0, abs(steps["step_s_on"]))

    report.plot_loss(res["log"], str(tmp_path / "loss.png"))
    report.plot_speedups([{"label": "x", "speedup": inf["speedup"]}], str(tmp_path / "speedups.png"))
    report.draw_detections([val_ds.image(i) for i in idx], outs, str(tmp_path / "det.png"), score_thresh=0.0)
    if ev["precision"] is not None:
        report.plot_pr(ev, str(tmp_path / "pr.png"))
    for name in ("loss.png", "speedups.png", "det.png"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
