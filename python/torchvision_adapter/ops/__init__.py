"""Operators: torchvision's (replaced at the dispatcher) and this project's own, under
``torch.ops.torchvision_adapter``. Python wrappers here document shapes and patch torchvision's
pure-Python entry points."""
from .boxes import batched_nms, nms
from .deform_conv import deform_conv2d

__all__ = ["batched_nms", "deform_conv2d", "nms"]
