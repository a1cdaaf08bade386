"""Inputs torchvision's functional API does not take, accepted while the adapter is enabled.

* ``to_tensor`` / ``ToTensor`` and ``pil_to_tensor`` / ``PILToTensor`` accept a uint8 ``[C, H, W]``
  tensor, as a native image decoder produces: ``to_tensor`` returns it as floats in [0, 1] (the value
  torchvision computes for the same pixels given as a PIL image), ``pil_to_tensor`` returns it as is.
  A stock training pipeline (RandomResizedCrop, RandomHorizontalFlip, ToTensor, Normalize) then runs
  unchanged on decoded tensors.
* Every image function of ``torchvision.transforms.functional`` accepts a ``numpy.ndarray`` in
  OpenCV's layout (``[H, W]``, ``[H, W, C]`` or ``[N, H, W, C]``) and returns ndarrays in the same
  layout: the array is viewed as a ``[C, H, W]`` tensor without copying, the tensor path runs, and the
  result is returned as a C-contiguous array, so values equal the tensor path's.
"""
import numpy as np
import torch
import torchvision.transforms.functional as F
from torch import Tensor

from .. import _patch
from ._script import transparent

_op = torch.ops.torchvision_adapter
_orig = {}


def to_tensor(pic) -> Tensor:
    if isinstance(pic, Tensor) and pic.dtype == torch.uint8 and pic.ndim in (2, 3) and pic.device.type == "cpu":
        img = pic.unsqueeze(0) if pic.ndim == 2 else pic
        # torchvision: img.to(dtype=default_float_dtype).div(255)
        dtype = torch.get_default_dtype()
        if dtype in (torch.float32, torch.float64) and img.numel() > 0:
            return _op.convert_image_dtype(img, dtype)
        return img.to(dtype=dtype).div(255)
    return _orig["to_tensor"](pic)


def pil_to_tensor(pic) -> Tensor:
    if isinstance(pic, Tensor) and pic.dtype == torch.uint8 and pic.ndim in (2, 3):
        return pic.unsqueeze(0) if pic.ndim == 2 else pic
    return _orig["pil_to_tensor"](pic)


def _to_tensor_view(a: np.ndarray) -> Tensor:
    if any(s < 0 for s in a.strides) or not a.flags.aligned:
        a = np.ascontiguousarray(a)
    t = torch.from_numpy(a)
    if a.ndim == 3:
        return t.permute(2, 0, 1)
    if a.ndim == 4:
        return t.permute(0, 3, 1, 2)
    return t


def _to_ndarray(out, ndim: int):
    if isinstance(out, Tensor):
        if ndim == 3 and out.ndim == 3:
            out = out.permute(1, 2, 0)
        elif ndim == 4 and out.ndim == 4:
            out = out.permute(0, 2, 3, 1)
        return np.ascontiguousarray(out.numpy())
    if isinstance(out, tuple):
        return tuple(_to_ndarray(o, ndim) for o in out)
    if isinstance(out, list) and out and isinstance(out[0], Tensor):
        return [_to_ndarray(o, ndim) for o in out]
    return out  # sizes, channel counts


def _accept_ndarray(name: str):
    original = getattr(F, name)

    def wrapper(img, *args, **kwargs):
        if isinstance(img, np.ndarray) and 2 <= img.ndim <= 4:
            out = original(_to_tensor_view(img), *args, **kwargs)
            return _to_ndarray(out, img.ndim)
        return original(img, *args, **kwargs)

    return transparent(wrapper, original)


# Functions whose first argument is an image.
NDARRAY_FUNCTIONS = [
    "get_dimensions",
    "get_image_size",
    "get_image_num_channels",
    "normalize",
    "convert_image_dtype",
    "resize",
    "pad",
    "crop",
    "center_crop",
    "resized_crop",
    "hflip",
    "vflip",
    "five_crop",
    "ten_crop",
    "perspective",
    "rotate",
    "affine",
    "rgb_to_grayscale",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "adjust_gamma",
    "adjust_sharpness",
    "erase",
    "gaussian_blur",
    "invert",
    "posterize",
    "solarize",
    "autocontrast",
    "equalize",
    "elastic_transform",
]

for _name in NDARRAY_FUNCTIONS:
    _patch.register(F, _name, _accept_ndarray(_name))
for _fn in (to_tensor, pil_to_tensor):
    _orig[_fn.__name__] = getattr(F, _fn.__name__)
    _patch.register(F, _fn.__name__, transparent(_fn, _orig[_fn.__name__]))
