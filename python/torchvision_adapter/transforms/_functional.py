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
from ._script import transparent, transparent_closure

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


def _accept_ndarray(name: str, tensor_path=None):
    """F.<name> taking OpenCV-style arrays too; ``tensor_path(img, *args, **kwargs)``, if given, serves
    tensors (returning NotImplemented to leave a call to torchvision)."""
    original = getattr(F, name)
    ndarray, view, back = np.ndarray, _to_tensor_view, _to_ndarray

    if tensor_path is None:

        def wrapper(img, *args, **kwargs):
            if isinstance(img, ndarray) and 2 <= img.ndim <= 4:
                return back(original(view(img), *args, **kwargs), img.ndim)
            return original(img, *args, **kwargs)

    else:
        fast = tensor_path

        def wrapper(img, *args, **kwargs):
            out = fast(img, *args, **kwargs)
            if out is not NotImplemented:
                return out
            if isinstance(img, ndarray) and 2 <= img.ndim <= 4:
                return back(original(view(img), *args, **kwargs), img.ndim)
            return original(img, *args, **kwargs)

    return transparent_closure(wrapper, original)


# get_dimensions reads a shape, and crop and center_crop of an in-bounds window are views: their time
# goes to torchvision's Python layers (three wrapped functions and usage-log calls for center_crop),
# so tensors take a direct path with the same checks, the same usage-log entries and the same slicing
# expression. Anything else (a window past the border, which torchvision pads; non-int sizes; PIL
# images) goes to torchvision.
# Under torch.jit.trace, shapes are traced values: those calls go to torchvision's code unchanged.
_Tensor = Tensor
_log, _is_tracing = torch._C._log_api_usage_once, torch._C._is_tracing


def _crop_tensor(img, top, left, height, width):
    if (
        isinstance(img, _Tensor)
        and not _is_tracing()
        and type(top) is int
        and type(left) is int
        and type(height) is int
        and type(width) is int
        and img.ndim >= 2
    ):
        h, w = img.shape[-2:]
        right, bottom = left + width, top + height
        if not (left < 0 or top < 0 or right > w or bottom > h):
            _log("torchvision.transforms.functional.crop")
            return img[..., top:bottom, left:right]
    return NotImplemented


def _center_crop_tensor(img, output_size):
    if not isinstance(img, _Tensor) or img.ndim < 2 or _is_tracing():
        return NotImplemented
    if type(output_size) is int:
        ch = cw = output_size
    elif type(output_size) in (list, tuple) and len(output_size) in (1, 2):
        ch, cw = output_size[0], output_size[-1]
        if type(ch) is not int or type(cw) is not int:
            return NotImplemented
    else:
        return NotImplemented
    h, w = img.shape[-2:]
    if cw > w or ch > h:
        return NotImplemented  # torchvision pads
    # With ch <= h and cw <= w, top lies in [0, h - ch] and left in [0, w - cw]: crop does not pad.
    top = int(round((h - ch) / 2.0))
    left = int(round((w - cw) / 2.0))
    _log("torchvision.transforms.functional.center_crop")
    _log("torchvision.transforms.functional.get_dimensions")
    _log("torchvision.transforms.functional.crop")
    return img[..., top : top + ch, left : left + cw]


def _get_dimensions_tensor(img):
    if isinstance(img, _Tensor) and img.ndim >= 2 and not _is_tracing():
        _log("torchvision.transforms.functional.get_dimensions")
        shape = img.shape
        return [1 if len(shape) == 2 else shape[-3], shape[-2], shape[-1]]
    return NotImplemented


_TENSOR_PATHS = {"crop": _crop_tensor, "center_crop": _center_crop_tensor, "get_dimensions": _get_dimensions_tensor}


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
    _patch.register(F, _name, _accept_ndarray(_name, _TENSOR_PATHS.get(_name)))
for _fn in (to_tensor, pil_to_tensor):
    _orig[_fn.__name__] = getattr(F, _fn.__name__)
    _patch.register(F, _fn.__name__, transparent(_fn, _orig[_fn.__name__]))
