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
from . import _tensor
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


# crop and center_crop of an in-bounds window are views: their time goes to torchvision's Python
# layers (three wrapped functions and usage-log calls for center_crop), so tensors the direct view
# paths below leave (subclasses, tensors that require grad) take a path with the same checks, the
# same usage-log entries and the same slicing expression. Anything else (a window past the border, which torchvision pads; non-int sizes; PIL
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


_TENSOR_PATHS = {"crop": _crop_tensor, "center_crop": _center_crop_tensor}


# The common calls of crop, center_crop and get_dimensions — a plain tensor (not a subclass, which may
# override indexing) outside autograd and tracing, int arguments, a window inside the image — are
# served before any other check, by functions with torchvision's signatures. The view is made by one
# as_strided call with the sizes, strides and storage offset torchvision's img[..., t:b, l:r] gives:
# ATen's slice computes exactly these and calls as_strided itself, and the Python indexing machinery
# in front of it costs more than the rest of the call. The view is a view of img as the slice is
# (same _base, shared version counter). A tensor that requires grad is sliced as torchvision does,
# so that its graph holds the same slice nodes. Everything else goes to `slow` (the paths above).
def _window_view(img, shape, nd, top, left, height, width, as_strided=Tensor.as_strided):
    """img[..., top:top + height, left:left + width] as one as_strided call; None for layouts
    without strides (sparse, mkldnn) and named tensors."""
    if nd == 3:
        size = (shape[0], height, width)
    elif nd == 4:
        size = (shape[0], shape[1], height, width)
    else:
        size = (*shape[:-2], height, width)
    try:
        st = img.stride()
        return as_strided(img, size, st, img.storage_offset() + top * st[-2] + left * st[-1])
    except RuntimeError:
        return None


def _crop_view(slow):
    tensor, log, tracing, window = _Tensor, _log, _is_tracing, _window_view

    def crop(img, top, left, height, width):
        if (
            type(img) is tensor
            and type(top) is int
            and type(left) is int
            and type(height) is int
            and type(width) is int
            and not img.requires_grad
            and not tracing()
        ):
            shape = img.shape
            nd = len(shape)
            if (
                nd >= 2
                and top >= 0
                and left >= 0
                and height >= 0
                and width >= 0
                and top + height <= shape[-2]
                and left + width <= shape[-1]
            ):
                view = window(img, shape, nd, top, left, height, width)
                if view is not None:
                    log("torchvision.transforms.functional.crop")
                    return view
        return slow(img, top, left, height, width)

    return crop


def _center_crop_view(slow):
    tensor, log, tracing, window = _Tensor, _log, _is_tracing, _window_view

    def center_crop(img, output_size):
        if type(img) is tensor and not img.requires_grad and not tracing():
            kind = type(output_size)
            if kind is int:
                ch = cw = output_size
            elif (kind is list or kind is tuple) and 1 <= len(output_size) <= 2:
                ch, cw = output_size[0], output_size[-1]
            else:
                ch = cw = None
            shape = img.shape
            nd = len(shape)
            if type(ch) is int and type(cw) is int and nd >= 2:
                h, w = shape[-2], shape[-1]
                if 0 <= ch <= h and 0 <= cw <= w:
                    # torchvision's offsets; with the window inside the image crop does not pad.
                    top = int(round((h - ch) / 2.0))
                    left = int(round((w - cw) / 2.0))
                    view = window(img, shape, nd, top, left, ch, cw)
                    if view is not None:
                        log("torchvision.transforms.functional.center_crop")
                        log("torchvision.transforms.functional.get_dimensions")
                        log("torchvision.transforms.functional.crop")
                        return view
        return slow(img, output_size)

    return center_crop


def _get_dimensions_direct(slow):
    tensor, log, tracing = _Tensor, _log, _is_tracing

    def get_dimensions(img):
        if isinstance(img, tensor) and not tracing():
            shape = img.shape
            nd = len(shape)
            if nd >= 2:
                log("torchvision.transforms.functional.get_dimensions")
                return [1 if nd == 2 else shape[-3], shape[-2], shape[-1]]
        return slow(img)

    return get_dimensions


# vflip, hflip, pad, convert_image_dtype and normalize do, in torchvision, for a tensor: the usage log
# (unless tracing) and then F_t.<name> — our replacement (_tensor), which takes the native kernel or
# calls torchvision's own F_t function. For a plain tensor these wrappers do exactly that, without the
# layers in between (the array wrapper, torchvision's function, the forwarding one): on a copy of a
# 640x480 image those layers are a tenth of the call.
def _direct(name, impl):
    key = f"torchvision.transforms.functional.{name}"

    def make(slow):
        plain, log, tracing, fn = _Tensor, _log, _is_tracing, impl

        def vflip(img):
            if type(img) is plain:
                if not tracing():
                    log(key)
                return fn(img)
            return slow(img)

        def hflip(img):
            if type(img) is plain:
                if not tracing():
                    log(key)
                return fn(img)
            return slow(img)

        def pad(img, padding, fill=0, padding_mode="constant"):
            if type(img) is plain:
                if not tracing():
                    log(key)
                return fn(img, padding, fill, padding_mode)
            return slow(img, padding, fill, padding_mode)

        def convert_image_dtype(image, dtype=torch.float):
            if type(image) is plain:
                if not tracing():
                    log(key)
                return fn(image, dtype)
            return slow(image, dtype)

        def normalize(tensor, mean, std, inplace=False):
            if type(tensor) is plain:
                if not tracing():
                    log(key)
                return fn(tensor, mean, std, inplace)
            return slow(tensor, mean, std, inplace)

        return locals()[name]

    return make


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

_VIEW_PATHS = {"crop": _crop_view, "center_crop": _center_crop_view, "get_dimensions": _get_dimensions_direct}
_VIEW_PATHS.update(
    (_name, _direct(_name, getattr(_tensor, _name)))
    for _name in ("vflip", "hflip", "pad", "convert_image_dtype", "normalize")
)

for _name in NDARRAY_FUNCTIONS:
    _wrapper = _accept_ndarray(_name, _TENSOR_PATHS.get(_name))
    if _name in _VIEW_PATHS:
        _wrapper = transparent_closure(_VIEW_PATHS[_name](_wrapper), getattr(F, _name))
    _patch.register(F, _name, _wrapper)
for _fn in (to_tensor, pil_to_tensor):
    _orig[_fn.__name__] = getattr(F, _fn.__name__)
    _patch.register(F, _fn.__name__, transparent(_fn, _orig[_fn.__name__]))
