"""COCO annotations and evaluation on native code, a drop-in for pycocotools.

``from torchvision_adapter.coco import COCO, COCOeval, mask`` offers pycocotools' ``COCO``,
``COCOeval`` and ``mask`` with the same API and the same numbers; the per-image matching and the
accumulation run in C++ (csrc/coco/), threaded over images and categories with
``torch.set_num_threads``. Command line: ``python -m torchvision_adapter.coco GT.json DT.json
--iou-type bbox``.
"""
import torchvision_adapter  # noqa: F401  (loads the native library)

from . import mask
from .coco import COCO
from .cocoeval import COCOeval, Params

__all__ = ["COCO", "COCOeval", "Params", "mask"]
