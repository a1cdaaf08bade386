"""Image loaders per backend, and torchvision's ``default_loader`` made to follow the chosen backend.

``torchvision.datasets.folder.default_loader`` is replaced (while the adapter is enabled) by
:func:`default_loader`, which asks :func:`torchvision.get_image_backend` at every call. Classes that
bound torchvision's function as a default argument when they were defined (``ImageFolder(loader=
default_loader)``, ``Places365``) get ours as that default too, and modules that imported the name
(``torchvision.datasets.places365``) see ours; ``torchvision_adapter.disable()`` puts every one of
them back.
"""
import inspect
import sys
from typing import Any

import numpy as np
import torch
import torchvision
import torchvision.datasets  # noqa: F401  (every dataset module must be imported before patching)
import torchvision.datasets.folder as _tv_folder

from .. import _patch
from ..backends import get_image_backend
from ..io import ImageDecodeError, _decode_with_pil, _message, _pil_rescue

__all__ = ["cv2_loader", "default_loader", "native_loader"]

_tv_default_loader = _tv_folder.default_loader
_ops = torch.ops.torchvision_adapter


def native_loader(path: str) -> torch.Tensor:
    """The image as a ``torch.uint8`` tensor [3, H, W] (RGB, channels-last memory), decoded by this
    project: equal to ``np.asarray(pil_loader(path))`` transposed. JPEG and PNG are decoded natively
    from one read of the file; other formats through PIL."""
    try:
        image, data = _ops._load_image(path, 3)
    except RuntimeError as e:
        error = _message(e)
        try:
            data = _ops.read_file(path)
        except RuntimeError:
            raise ImageDecodeError(error) from None
        return _pil_rescue(data, 3, [], -1, error)
    if data.numel() == 0:
        return image
    return _decode_with_pil(data, 3, [], -1, f"cannot decode image file '{path}'")


def cv2_loader(path: str) -> np.ndarray:
    """The image as an RGB ``numpy.ndarray`` [H, W, 3] uint8, decoded by OpenCV (EXIF orientation
    ignored, as PIL ignores it). Formats OpenCV cannot read (GIF, ...) are decoded through PIL."""
    import cv2

    bgr = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        with open(path, "rb") as f:
            data = torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)
        if data.numel() == 0:
            raise ImageDecodeError(f"cannot decode image file '{path}': the file is empty")
        chw = _decode_with_pil(data, 3, [], -1, f"cannot decode image file '{path}'")
        return np.ascontiguousarray(chw.permute(1, 2, 0).numpy())
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def default_loader(path: str) -> Any:
    """Loads an image with the backend :func:`torchvision.get_image_backend` names (see
    :mod:`torchvision_adapter.backends`)."""
    backend = get_image_backend()
    if backend == "native":
        return native_loader(path)
    if backend == "cv2":
        return cv2_loader(path)
    if backend == "accimage":
        return _tv_folder.accimage_loader(path)
    return _tv_folder.pil_loader(path)


def _patch_bound_defaults() -> None:
    """Registers, for every torchvision dataset module, the replacement of torchvision's default_loader
    where it was bound early: module attributes and functions' default arguments."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("torchvision.datasets") or module is None:
            continue
        if getattr(module, "default_loader", None) is _tv_default_loader:
            _patch.register(module, "default_loader", default_loader)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name:
                continue
            init = cls.__dict__.get("__init__")
            defaults = getattr(init, "__defaults__", None)
            if defaults and any(d is _tv_default_loader for d in defaults):
                replaced = tuple(default_loader if d is _tv_default_loader else d for d in defaults)
                _patch.register(init, "__defaults__", replaced)
            kwdefaults = getattr(init, "__kwdefaults__", None)
            if kwdefaults and any(d is _tv_default_loader for d in kwdefaults.values()):
                replaced = {k: default_loader if d is _tv_default_loader else d for k, d in kwdefaults.items()}
                _patch.register(init, "__kwdefaults__", replaced)


_patch_bound_defaults()
