"""torchvision on fast native CPU kernels.

``import torchvision_adapter`` loads the native library and enables the adapter: torchvision's CPU
kernels for the operators this project implements are replaced at the PyTorch dispatcher, and the few
torchvision functions that are pure Python (``batched_nms``) are pointed at native code. Nothing in
torchvision's files changes. ``disable()`` restores torchvision exactly; ``enable()`` installs ours again.
"""
import torch
import torchvision  # noqa: F401  (its operator schemas must exist before ours replace its kernels)

from ._library import library_path, load_library

load_library()

from ._switch import disable, disabled, enable, enabled, is_enabled, overridden_ops  # noqa: E402
from . import ops  # noqa: E402,F401
from . import io  # noqa: E402,F401
from .backends import get_image_backend, set_image_backend  # noqa: E402
from . import datasets  # noqa: E402,F401
from . import transforms  # noqa: E402,F401

__version__ = torch.ops.torchvision_adapter._version()

__all__ = [
    "__version__",
    "datasets",
    "disable",
    "disabled",
    "enable",
    "enabled",
    "get_image_backend",
    "io",
    "is_enabled",
    "library_path",
    "ops",
    "overridden_ops",
    "set_image_backend",
    "transforms",
]

enable()
