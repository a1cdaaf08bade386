"""Inference over a split and COCO evaluation of the detections.

The evaluation goes through the pycocotools API (``COCO``, ``loadRes``, ``COCOeval``) as provided by
``torchvision_adapter.coco``.
"""
import contextlib
import io
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from torchvision_adapter.coco import COCO, COCOeval  # the project's pycocotools-compatible evaluator

EVALUATOR = "torchvision_adapter.coco"

from .data import CocoDetection


@torch.no_grad()
def predict(model, ds: CocoDetection, indices: Sequence[int], batch_size: int = 4, progress: bool = True,
            desc: str = "inference") -> List[Dict[str, torch.Tensor]]:
    from tqdm import tqdm

    model.eval()
    outputs: List[Dict[str, torch.Tensor]] = []
    chunks = [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]
    for chunk in tqdm(chunks, desc=desc, unit="batch", disable=not progress, leave=False):
        outputs.extend(model([ds.image(i) for i in chunk]))
    return outputs


def to_coco_results(ds: CocoDetection, indices: Sequence[int], outputs) -> List[Dict]:
    results = []
    for i, out in zip(indices, outputs):
        image_id = ds.images[i]["id"]
        for box, score, label in zip(out["boxes"].tolist(), out["scores"].tolist(), out["labels"].tolist()):
            x0, y0, x1, y1 = box
            results.append({"image_id": image_id, "category_id": int(label),
                            "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(score)})
    return results


def coco_evaluate(folder: str, split: str, results: List[Dict], iou_type: str = "bbox",
                  img_ids: Optional[Sequence[int]] = None) -> Dict:
    """COCO metrics of ``results``: stats (the 12 numbers), the summary text, per-class PR at IoU 0.5."""
    gt = COCO(os.path.join(folder, "annotations", f"instances_{split}.json"))
    if not results:
        return {"stats": [0.0] * 12, "summary": "no detections", "precision": None, "categories": []}
    dt = gt.loadRes(results)
    ev = COCOeval(gt, dt, iou_type)
    if img_ids is not None:
        ev.params.imgIds = sorted(img_ids)
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    cats = [c["name"] for c in gt.loadCats(gt.getCatIds())]
    return {"stats": [float(s) for s in ev.stats], "summary": text.getvalue(),
            "precision": np.asarray(ev.eval["precision"]), "recall_thresholds": np.asarray(ev.params.recThrs),
            "categories": cats}
