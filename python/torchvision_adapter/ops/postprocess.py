"""Detection post-processing: soft_nms, matrix_nms, multiclass_nms and torchvision's box utilities
(box_area, box_iou, generalized_box_iou, masks_to_boxes) on native kernels.

The box utilities replace torchvision.ops' pure-Python ones while the adapter is enabled, for CPU
tensors that need no gradient (anything else goes to torchvision's own code).
"""
from typing import Optional, Tuple

import torch
import torchvision
import torchvision.ops.boxes as _tv_boxes
from torch import Tensor

from .. import _patch

__all__ = ["box_area", "box_iou", "generalized_box_iou", "masks_to_boxes", "matrix_nms",
           "multiclass_nms", "soft_nms"]


def soft_nms(boxes: Tensor, scores: Tensor, iou_threshold: float = 0.3, sigma: float = 0.5,
             score_threshold: float = 1e-3, method: str = "linear", offset: int = 0) -> Tuple[Tensor, Tensor]:
    """Soft-NMS with mmcv's semantics (``mmcv.ops.soft_nms``).

    Args:
        boxes (Tensor[N, 4]): ``(x1, y1, x2, y2)``, floating point.
        scores (Tensor[N]): scores, same dtype as ``boxes``.
        iou_threshold (float): overlap from which 'linear' and 'naive' decay a score.
        sigma (float): width of the 'gaussian' decay ``exp(-iou^2 / sigma)``.
        score_threshold (float): boxes whose decayed score drops below it are discarded (mmcv's
            ``min_score``).
        method (str): 'linear' (score *= 1 - iou when iou >= iou_threshold), 'gaussian', or
            'naive' (hard NMS with ``>=``).
        offset (int): 0 or 1, added to widths and heights (mmcv's legacy pixel convention).

    Returns:
        (Tensor[K] int64, Tensor[K]): kept indices into ``boxes`` and their decayed scores, in the
        order boxes were selected (mmcv's ``inds`` and ``dets[:, 4]``).
    """
    return torch.ops.torchvision_adapter.soft_nms(boxes, scores, float(iou_threshold), float(sigma),
                                                  float(score_threshold), method, int(offset))


def matrix_nms(masks: Tensor, labels: Tensor, scores: Tensor, filter_thr: float = -1, nms_pre: int = -1,
               max_num: int = -1, kernel: str = "gaussian", sigma: float = 2.0,
               mask_area: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Matrix NMS with mmdet's ``mask_matrix_nms`` semantics (SOLOv2), for masks or boxes.

    Args:
        masks (Tensor[N, H, W] or Tensor[N, 4]): instance masks, or boxes ``(x1, y1, x2, y2)`` (IoU as
            ``torchvision.ops.box_iou``).
        labels (Tensor[N]): class of each instance; only same-class pairs decay each other.
        scores (Tensor[N]): scores.
        filter_thr (float): after decay keep scores >= filter_thr (<= 0: keep all).
        nms_pre (int): only the nms_pre best scores take part (<= 0: all).
        max_num (int): at most max_num results (<= 0: all).
        kernel (str): 'gaussian' or 'linear'.
        sigma (float): gaussian kernel parameter.
        mask_area (Tensor[N], optional): areas, default ``masks.sum((1, 2)).float()``.

    Returns:
        (scores, labels, masks, keep_inds): decayed scores in decreasing order, their labels, masks (or
        boxes) and indices into the input, exactly as mmdet orders them.
    """
    return torch.ops.torchvision_adapter.matrix_nms(masks, labels, scores, float(filter_thr), int(nms_pre),
                                                    int(max_num), kernel, float(sigma), mask_area)


def multiclass_nms(boxes: Tensor, scores: Tensor, score_thresh: float, iou_threshold: float,
                   topk_candidates: int = -1, max_det: int = -1) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Class-aware detection post-processing for a batch, as torchvision's RetinaNet does per level.

    Per image: scores above ``score_thresh`` (strict), the ``topk_candidates`` best of them
    (``torch.topk``; <= 0 keeps all), labels ``index % C``, boxes ``index // C``, NMS within each class
    (``batched_nms``), then the first ``max_det`` (<= 0 keeps all).

    Args:
        boxes (Tensor[B, N, 4] or Tensor[B, N, C, 4]): decoded boxes, shared by all classes or per class.
        scores (Tensor[B, N, C]): class scores (after sigmoid / softmax).

    Returns:
        (boxes Tensor[K, 4], scores Tensor[K], labels Tensor[K], batch_idx Tensor[K]): the detections of
        all images, image after image, each image's in the order ``torchvision.ops.batched_nms`` gives.
    """
    return torch.ops.torchvision_adapter.multiclass_nms(boxes, scores, float(score_thresh), float(iou_threshold),
                                                        int(topk_candidates), int(max_det))


# ---- torchvision's box utilities ------------------------------------------------------------------

_tv_box_area = _tv_boxes.box_area
_tv_box_iou = _tv_boxes.box_iou
_tv_generalized_box_iou = _tv_boxes.generalized_box_iou
_tv_masks_to_boxes = _tv_boxes.masks_to_boxes


def _native_ok(a: Tensor, b: Tensor) -> bool:
    return (a.device.type == "cpu" and b.device.type == "cpu" and not a.requires_grad and not b.requires_grad
            and a.dtype == b.dtype and a.dim() == 2 and b.dim() == 2 and a.is_floating_point())


def box_area(boxes: Tensor) -> Tensor:
    """``torchvision.ops.box_area`` natively: areas (Tensor[N]) of boxes (Tensor[N, 4]) ``(x1, y1, x2, y2)``."""
    if boxes.device.type == "cpu" and not boxes.requires_grad and boxes.dim() == 2 and boxes.is_floating_point():
        return torch.ops.torchvision_adapter.box_area(boxes)
    return _tv_box_area(boxes)


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """``torchvision.ops.box_iou`` natively: IoU matrix (Tensor[N, M]) of boxes1 (Tensor[N, 4]) and
    boxes2 (Tensor[M, 4]) in ``(x1, y1, x2, y2)``; same values as torchvision, NaN and dtypes included."""
    if _native_ok(boxes1, boxes2):
        return torch.ops.torchvision_adapter.box_iou(boxes1, boxes2)
    return _tv_box_iou(boxes1, boxes2)


def generalized_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """``torchvision.ops.generalized_box_iou`` natively (Tensor[N, M])."""
    if _native_ok(boxes1, boxes2):
        return torch.ops.torchvision_adapter.generalized_box_iou(boxes1, boxes2)
    return _tv_generalized_box_iou(boxes1, boxes2)


def masks_to_boxes(masks: Tensor) -> Tensor:
    """``torchvision.ops.masks_to_boxes`` natively: float boxes (Tensor[N, 4]) ``(x1, y1, x2, y2)`` around the
    nonzero pixels of masks (Tensor[N, H, W]); a mask without nonzero pixel is an error, as in torchvision."""
    if masks.device.type == "cpu" and masks.dim() == 3:
        return torch.ops.torchvision_adapter.masks_to_boxes(masks)
    return _tv_masks_to_boxes(masks)


for _name, _fn in [("box_area", box_area), ("box_iou", box_iou), ("generalized_box_iou", generalized_box_iou),
                   ("masks_to_boxes", masks_to_boxes)]:
    _patch.register(_tv_boxes, _name, _fn)
    _patch.register(torchvision.ops, _name, _fn)
