"""Operators: torchvision's (replaced at the dispatcher) and this project's own, under
``torch.ops.torchvision_adapter``. Python wrappers here document shapes and patch torchvision's
pure-Python entry points."""
from .boxes import batched_nms, nms
from .deform_conv import deform_conv2d
from .postprocess import (
    box_area,
    box_iou,
    generalized_box_iou,
    masks_to_boxes,
    matrix_nms,
    multiclass_nms,
    soft_nms,
)
from .roi import ps_roi_align, ps_roi_pool, roi_align, roi_pool

__all__ = [
    "batched_nms",
    "box_area",
    "box_iou",
    "deform_conv2d",
    "generalized_box_iou",
    "masks_to_boxes",
    "matrix_nms",
    "multiclass_nms",
    "nms",
    "ps_roi_align",
    "ps_roi_pool",
    "roi_align",
    "roi_pool",
    "soft_nms",
]
