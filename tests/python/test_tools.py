"""The offline-inference tools: preprocess (keep-ratio resize, normalise, pad, meta), post-process (boxes
back to the original image, threshold, NMS, class map, COCO results), drawing, evaluation."""
import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from torchvision_adapter import benchmark
from torchvision_adapter.tools import evaluate, postprocess, preprocess
from torchvision_adapter.tools.preprocess import detection_preprocess, keep_ratio_size


def make_images(folder, sizes):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        y, x = np.mgrid[0:h, 0:w]
        rgb = np.stack([x * 255 // w, y * 255 // h, rng.integers(0, 256, (h, w))], -1).astype(np.uint8)
        Image.fromarray(rgb).save(folder / (f"{i:012d}.jpg" if i % 2 else f"{i:012d}.png"))
    return folder


def test_keep_ratio_size_is_mmdetections():
    assert keep_ratio_size(480, 640, (1333, 800)) == (800, 1067, pytest.approx(800 / 480))
    assert keep_ratio_size(400, 1200, (1333, 800)) == (444, 1333, pytest.approx(1333 / 1200))
    assert keep_ratio_size(100, 100, (50, 40))[:2] == (40, 40)


def test_detection_preprocess_resizes_normalises_and_pads():
    image = torch.randint(0, 256, (3, 30, 50), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x, meta = detection_preprocess(image, scale=(100, 40), mean=(1.0, 2.0, 3.0), std=(2.0, 4.0, 8.0),
                                   size_divisor=32)
    assert meta["orig_size"] == [30, 50] and meta["resized_size"] == [40, 67]
    assert meta["input_size"] == [64, 96] and meta["pad"] == [0, 0, 24, 29]
    assert meta["scale_factor"] == [67 / 50, 40 / 30]
    expected = torch.nn.functional.interpolate(image.float()[None], size=(40, 67), mode="bilinear",
                                               align_corners=False)[0]
    expected = (expected - torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)) / torch.tensor([2.0, 4.0, 8.0]).view(3, 1, 1)
    assert x.shape == (3, 64, 96) and x.dtype == torch.float32
    torch.testing.assert_close(x[:, :40, :67], expected, rtol=0, atol=0)
    assert x[:, 40:].abs().sum() == 0 and x[:, :, 67:].abs().sum() == 0

    x, meta = detection_preprocess(image, scale=(100, 40), pad_to=(48, 80))
    assert x.shape == (3, 48, 80) and meta["pad"] == [0, 0, 8, 13]
    with pytest.raises(Exception, match="pad-to"):
        detection_preprocess(image, scale=(100, 40), pad_to=(32, 32))


def test_pipeline_preprocess_run_postprocess_draw(tmp_path):
    images = make_images(tmp_path / "images", [(120, 160), (150, 100), (90, 90)])
    pre = tmp_path / "pre"
    assert preprocess.main(["--images", str(images), "--output", str(pre), "--scale", "192,128",
                            "--mean", "0,0,0", "--std", "255,255,255", "--workers", "2"]) == 0
    meta = json.loads((pre / "meta.json").read_text())
    assert sorted(meta["images"]) == ["000000000000", "000000000001", "000000000002"]
    m1 = meta["images"]["000000000001"]
    assert m1["orig_size"] == [150, 100] and m1["image_id"] == 1 and m1["file"] == "000000000001.jpg"
    assert np.load(pre / "000000000001.npy").shape == (3, *m1["input_size"])

    run = tmp_path / "run"
    assert benchmark.main(["-m", "torchvision_adapter.tools.models.tiny_retinanet",
                           "--model-kwargs", '{"min_size": 128, "max_size": 192}', "-i", str(pre),
                           "--warmup", "0", "-o", str(run), "--save-outputs"]) == 0

    results = tmp_path / "results.json"
    drawn = tmp_path / "drawn"
    assert postprocess.main(["--outputs", str(run / "outputs"), "--meta", str(pre / "meta.json"),
                             "--results", str(results), "--score-thresh", "0.06", "--max-dets", "20",
                             "--draw", str(drawn), "--images", str(images)]) == 0
    coco = json.loads(results.read_text())
    assert {r["image_id"] for r in coco} <= {0, 1, 2} and len(coco) > 0
    for image_id in {r["image_id"] for r in coco}:
        mine = [r for r in coco if r["image_id"] == image_id]
        assert len(mine) <= 20
        assert [r["score"] for r in mine] == sorted((r["score"] for r in mine), reverse=True)
        h, w = meta["images"][f"{image_id:012d}"]["orig_size"]
        for r in mine:
            x, y, bw, bh = r["bbox"]
            assert r["score"] >= 0.06 and 0 <= x <= x + bw <= w + 1e-3 and 0 <= y <= y + bh <= h + 1e-3

    # The mapping back is exact: output boxes in input coordinates divided by the scale factors.
    top = max(coco, key=lambda r: r["score"])
    stem = f"{top['image_id']:012d}"
    boxes = np.load(run / "outputs" / f"{stem}_boxes.npy")
    scores = np.load(run / "outputs" / f"{stem}_scores.npy")
    best = int(np.argmax(scores))
    sw, sh = meta["images"][stem]["scale_factor"]
    h, w = meta["images"][stem]["orig_size"]
    x1, y1, x2, y2 = boxes[best] / np.array([sw, sh, sw, sh], dtype=np.float32)
    np.testing.assert_allclose(top["bbox"], [min(max(x1, 0), w), min(max(y1, 0), h),
                                             min(max(x2, 0), w) - min(max(x1, 0), w),
                                             min(max(y2, 0), h) - min(max(y1, 0), h)], atol=2e-3)

    for name, (h, w) in zip(["000000000000.png", "000000000001.jpg", "000000000002.png"],
                            [(120, 160), (150, 100), (90, 90)]):
        with Image.open(drawn / name) as out, Image.open(images / name) as src:
            assert out.size == (w, h) and out.format == ("PNG" if name.endswith(".png") else "JPEG")
            if any(r["image_id"] == int(name[:12]) for r in coco):
                assert np.abs(np.asarray(out, np.int16) - np.asarray(src.convert("RGB"), np.int16)).max() > 50


def write_dets(folder, stem, boxes, scores, labels):
    folder.mkdir(exist_ok=True)
    np.save(folder / f"{stem}_1_boxes.npy", np.asarray(boxes, np.float32).reshape(-1, 4))
    np.save(folder / f"{stem}_1_scores.npy", np.asarray(scores, np.float32))
    np.save(folder / f"{stem}_1_labels.npy", np.asarray(labels, np.int64))


def test_threshold_nms_class_map_and_mmdet_format(tmp_path):
    outs = tmp_path / "outs"
    write_dets(outs, "000000000042", [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 40], [0, 0, 10, 10]],
               [0.9, 0.8, 0.7, 0.01], [0, 0, 1, 0])
    res = tmp_path / "r.json"
    coco = postprocess.postprocess(str(outs), str(res), class_map=postprocess.load_class_map("coco80"))
    assert [(r["image_id"], r["category_id"], r["score"]) for r in coco] == [
        (42, 1, 0.9), (42, 1, 0.8), (42, 2, 0.7)]
    assert coco[2]["bbox"] == [20, 20, 10, 20]
    coco = postprocess.postprocess(str(outs), str(res), nms_iou=0.5)
    assert [(r["category_id"], r["score"]) for r in coco] == [(0, 0.9), (1, 0.7)]
    assert json.loads(res.read_text()) == coco

    mm = tmp_path / "mm"
    mm.mkdir()
    np.array([[4, 6, 14, 26, 0.5]], np.float32).tofile(mm / "img_0.bin")
    np.array([3], np.int64).tofile(mm / "img_1.bin")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"images": {"img": {"orig_size": [20, 10], "scale_factor": [2.0, 2.0],
                                                   "pad": [0, 0, 0, 0], "image_id": 7}}}))
    coco = postprocess.postprocess(str(mm), str(res), meta_path=str(meta), fmt="mmdet")
    assert coco == [{"image_id": 7, "category_id": 3, "bbox": [2.0, 3.0, 5.0, 10.0], "score": 0.5}]


def test_errors(tmp_path, capsys):
    assert preprocess.main(["--images", str(tmp_path / "none"), "--output", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"not an image")
    assert preprocess.main(["--images", str(tmp_path / "bad"), "--output", str(tmp_path / "o")]) == 1
    assert "x.jpg" in capsys.readouterr().err
    assert not (tmp_path / "o" / "meta.json").exists()
    assert postprocess.main(["--outputs", str(tmp_path / "none"), "--results", str(tmp_path / "r.json")]) == 1
    outs = tmp_path / "outs"
    write_dets(outs, "a", [[0, 0, 1, 1]], [0.9], [5])
    assert postprocess.main(["--outputs", str(outs), "--results", str(tmp_path / "r.json"),
                             "--class-map", "coco80", "--score-thresh", "0"]) == 0
    (outs / "a_1_labels.npy").unlink()
    assert postprocess.main(["--outputs", str(outs), "--results", str(tmp_path / "r.json")]) == 1
    assert "labels" in capsys.readouterr().err


def test_evaluate_scores_perfect_results_and_reports_missing_files(tmp_path, capsys):
    gt = {
        "images": [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 40], "area": 1200, "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [50, 5, 20, 20], "area": 400, "iscrowd": 0},
        ],
    }
    results = [
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 40], "score": 0.9},
        {"image_id": 2, "category_id": 2, "bbox": [50, 5, 20, 20], "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": [0, 60, 10, 10], "score": 0.1},  # a false positive
    ]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "r.json").write_text(json.dumps(results))
    stats = evaluate.evaluate(str(tmp_path / "gt.json"), str(tmp_path / "r.json"))
    assert len(stats) == 12
    assert stats[0] == pytest.approx(1.0) and stats[1] == pytest.approx(1.0)  # AP, AP50
    assert stats[5] == -1.0  # no large objects
    assert "Average Precision" in capsys.readouterr().out
    assert evaluate.main(["--annotations", str(tmp_path / "missing.json"), "--results", "r.json"]) == 1
