"""Box operators: nms and batched_nms."""
import torch
import torchvision
import torchvision.ops.boxes as _tv_boxes
from torch import Tensor

from .. import _patch


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Non-maximum suppression on this project's kernel, whatever the adapter switch says.

    Args:
        boxes (Tensor[N, 4]): boxes as ``(x1, y1, x2, y2)``; float16, bfloat16, float32 or float64.
        scores (Tensor[N]): scores of the boxes, same dtype as ``boxes``.
        iou_threshold (float): boxes with IoU > iou_threshold with a kept, higher-scoring box are dropped.

    Returns:
        Tensor[K] (int64): indices of the kept boxes, in decreasing order of score; equal to
        ``torchvision.ops.nms`` (same indices, same order, ties included).
    """
    return torch.ops.torchvision_adapter.nms(boxes, scores, iou_threshold)


_tv_batched_nms = _tv_boxes.batched_nms


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each category, computed per category by a native kernel.

    Args:
        boxes (Tensor[N, 4]): boxes as ``(x1, y1, x2, y2)``.
        scores (Tensor[N]): scores of the boxes.
        idxs (Tensor[N]): category of each box; boxes of different categories never suppress each other.
        iou_threshold (float): IoU above which the lower-scoring box of a pair is dropped.

    Returns:
        Tensor[K] (int64): indices of the kept boxes in decreasing order of score, ordered among equal
        scores exactly as ``torchvision.ops.batched_nms`` orders them.
    """
    if boxes.device.type != "cpu":
        return _tv_batched_nms(boxes, scores, idxs, iou_threshold)
    keep = torch.ops.torchvision_adapter.batched_nms(boxes, scores, idxs, iou_threshold)
    if boxes.numel() > 4000 and not torchvision._is_tracing():
        return keep
    # For small inputs torchvision runs one nms over class-offset boxes, which lists the kept boxes
    # in the order of a stable descending sort of the scores; reproduce that order.
    order = scores.sort(dim=0, descending=True, stable=True)[1]
    kept = torch.zeros(scores.shape, dtype=torch.bool)
    kept[keep] = True
    return order[kept[order]]


_patch.register(_tv_boxes, "batched_nms", batched_nms)
_patch.register(torchvision.ops, "batched_nms", batched_nms)
