"""Image transforms on native kernels.

Importing this package (``import torchvision_adapter`` does) routes ``torchvision.transforms``'
functional API to native kernels for CPU tensors while the adapter is enabled (see ``_tensor``), lets
``to_tensor``/``pil_to_tensor`` take decoded uint8 tensors and every functional op take OpenCV-style
numpy arrays (see ``_functional``), and provides ``detection_preprocess`` and fused ``Pipeline``s.
"""
from . import _functional, _tensor  # noqa: F401
from .detection import detection_preprocess, rescaled_size
from .pipeline import Pipeline

__all__ = ["Pipeline", "detection_preprocess", "rescaled_size"]
