"""Operators: torchvision's (replaced at the dispatcher) and this project's own, under
``torch.ops.torchvision_adapter``. Python wrappers here document shapes and patch torchvision's
pure-Python entry points."""
from .boxes import batched_nms, nms
from .postprocess import (box_area, box_iou, generalized_box_iou, masks_to_boxes, matrix_nms, multiclass_nms,
                          soft_nms)

__all__ = ["batched_nms", "box_area", "box_iou", "generalized_box_iou", "masks_to_boxes", "matrix_nms",
           "multiclass_nms", "nms", "soft_nms"]
