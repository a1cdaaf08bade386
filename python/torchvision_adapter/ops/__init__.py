"""Operators: torchvision's (replaced at the dispatcher) and this project's own, under
``torch.ops.torchvision_adapter``. Python wrappers here document shapes and patch torchvision's
pure-Python entry points."""
from .boxes import batched_nms, nms
from .deform_conv import deform_conv2d
from .roi import ps_roi_align, ps_roi_pool, roi_align, roi_pool

__all__ = ["batched_nms", "deform_conv2d", "nms", "ps_roi_align", "ps_roi_pool", "roi_align", "roi_pool"]
