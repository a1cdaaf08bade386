"""Fused preprocessing pipelines: a ``Compose`` applied to an image file in one native pass.

``Pipeline(compose)`` takes a ``torchvision.transforms.Compose`` (or a list of transforms) and applies it
to a file path, encoded bytes or a decoded uint8 tensor. The longest prefix of the Compose made of
supported transforms is fused into one native operator (``torch.ops.torchvision_adapter.pipeline*``):
the JPEG is decoded only in the region the output needs, the resize computes only the output rows and
columns that survive the crops, and crops, flips, the conversion to float and the normalisation are
applied while the output is written. The transforms after that prefix (if any) are then applied to the
fused result by the transforms themselves, so a Compose with unsupported transforms still gives the
unfused answer.

Supported (exact classes, not subclasses): ``Resize`` (int or (h, w) size, nearest/bilinear/bicubic,
``antialias``, ``max_size``), ``CenterCrop`` (also larger than the image: zero padding, as
torchvision), ``RandomResizedCrop``, ``RandomCrop`` (without ``padding``), ``RandomHorizontalFlip``,
``RandomVerticalFlip``, ``PILToTensor``, ``ToTensor``, ``ConvertImageDtype(torch.float32)``,
``Normalize``. The fused prefix holds at most one resize, which must come before any flip and before
the conversion to float (a second resize, or a resize of a flipped or float image, ends the prefix);
crops after the conversion to float are fused when they need no padding.

Semantics are torchvision's **tensor** path on the image decoded by the native decoder (RGB, equal to
PIL's ``convert("RGB")``): the result equals ``compose(torchvision_adapter.io.decode_image(data))`` with
the adapter enabled. In particular ``Resize`` uses ``antialias=False`` unless the transform says
otherwise (torchvision 0.14's default for tensors), unlike the PIL path which always antialiases.
Random transforms draw their parameters with torch's generator in the same order and with the same
calls as the transform classes (``get_params`` on a stand-in of the image's size, read from the file
header), so a seeded run gives the unfused result.

``mode="fast"`` (encoded JPEG input only) decodes at a reduced scale (1/2, 1/4 or 1/8, libjpeg's fast
IDCT without fancy upsampling, as PIL's ``draft``) when the resize shrinks the source region at least 2x
in both directions, and resizes from there: faster on large photos, pixels differ from exact mode.

A ``Pipeline`` is picklable (it holds the transforms and the mode), so it works as an ``ImageFolder``
loader (``ImageFolder(root, loader=Pipeline(compose))``) or transform in DataLoader workers (fork or
spawn). PIL images and tensors other than uint8 ``[C, H, W]`` / ``[H, W]`` go through the transforms
unchanged (unfused).
"""
import math
import os
from typing import Dict, List, Optional, Tuple

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from torch import Tensor
from torchvision.transforms import InterpolationMode

from .. import io as _io

_ops = torch.ops.torchvision_adapter
_MODES = {
    InterpolationMode.NEAREST: "nearest",
    InterpolationMode.BILINEAR: "bilinear",
    InterpolationMode.BICUBIC: "bicubic",
}
FUSABLE = (
    T.Resize,
    T.CenterCrop,
    T.RandomResizedCrop,
    T.RandomCrop,
    T.RandomHorizontalFlip,
    T.RandomVerticalFlip,
    T.PILToTensor,
    T.ToTensor,
    T.ConvertImageDtype,
    T.Normalize,
)


def _stand_in(c: int, h: int, w: int) -> Tensor:
    """A tensor of the image's shape without its memory, for ``get_params``."""
    return torch.empty((), dtype=torch.uint8).expand(c, h, w)


_RRC_GET_PARAMS = T.RandomResizedCrop.get_params
_log_ratios: Dict[tuple, Tuple[float, float]] = {}


def _resized_crop_params(t, channels: int, height: int, width: int) -> Tuple[int, int, int, int]:
    """``RandomResizedCrop.get_params`` for an image of height x width, with the same torch calls in the
    same order (so the same draws from the generator and the same result), without a stand-in image.

    ``log_ratio`` is computed as torchvision computes it (a float32 tensor) and cached: ``uniform_``
    receives its elements as doubles either way. Anything unusual (a patched ``get_params``, a scale or
    ratio that is not two numbers) goes through torchvision's own function.
    """
    scale, ratio = t.scale, t.ratio
    if (
        t.get_params is not _RRC_GET_PARAMS
        or not isinstance(ratio, (list, tuple))
        or not isinstance(scale, (list, tuple))
        or len(ratio) != 2
        or len(scale) < 2
        or not all(type(v) in (int, float) for v in ratio)
    ):
        return t.get_params(_stand_in(channels, height, width), scale, ratio)
    key = tuple(ratio)
    log_ratio = _log_ratios.get(key)
    if log_ratio is None:
        lr = torch.log(torch.tensor(ratio))
        log_ratio = (float(lr[0]), float(lr[1]))
        if len(_log_ratios) < 64:
            _log_ratios[key] = log_ratio
    area = height * width
    s0, s1 = scale[0], scale[1]
    r0, r1 = log_ratio
    empty, exp, randint = torch.empty, torch.exp, torch.randint
    for _ in range(10):
        target_area = area * empty(1).uniform_(s0, s1).item()
        aspect_ratio = exp(empty(1).uniform_(r0, r1)).item()
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = randint(0, height - h + 1, size=(1,)).item()
            j = randint(0, width - w + 1, size=(1,)).item()
            return i, j, h, w
    # Fallback to the central crop, as torchvision.
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


_normalize_values: Dict[tuple, Optional[Tuple[List[float], List[float]]]] = {}


def _normalize_params(t, channels: int) -> Optional[Tuple[List[float], List[float]]]:
    """Normalize's mean and std as float lists, or None when the fused path cannot take them (wrong
    count, not numbers, a std that is zero in float32, where torchvision raises). Cached for plain
    lists and tuples of numbers (keyed by their values)."""
    mean, std = t.mean, t.std
    key = None
    if isinstance(mean, (list, tuple)) and isinstance(std, (list, tuple)):
        key = (channels, tuple(mean), tuple(std))
        if all(type(v) in (int, float) for v in key[1] + key[2]):
            if key in _normalize_values:
                found = _normalize_values[key]
                return None if found is None else (list(found[0]), list(found[1]))
        else:
            key = None
    m, d = _float_values(mean, channels), _float_values(std, channels)
    if m is None or d is None or any(float(torch.tensor(v, dtype=torch.float32)) == 0.0 for v in d):
        result = None
    else:
        result = (m, d)
    if key is not None and len(_normalize_values) < 64:
        _normalize_values[key] = result
    return None if result is None else (list(result[0]), list(result[1]))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _float_values(values, channels: int) -> Optional[List[float]]:
    if isinstance(values, Tensor):
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or len(values) not in (1, channels):
        return None
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return None


class _Plan:
    """The composed geometry and value conversion of a fused prefix (see csrc/image/pipeline)."""

    def __init__(self, c: int, h: int, w: int, ndim: int = 3):
        self.c = c
        self.ndim = ndim  # a [H, W] image stays 2-D until ToTensor / PILToTensor add the channel
        self.src = [0, 0, w, h]  # x, y, width, height in the source image
        self.resize: Optional[Tuple[int, int]] = None
        self.interpolation = "nearest"
        self.antialias = False
        self.geometry = False  # window, valid and flips are in use (after a resize, flip or padding)
        self.window = [0, 0, w, h]  # x, y, width, height in resized pixels
        self.valid = [0, 0, w, h]  # x0, y0, x1, y1 in resized pixels
        self.hflip = False
        self.vflip = False
        self.values = 0  # 0 uint8, 1 float / 255, 2 normalised
        self.mean: List[float] = []
        self.std: List[float] = []
        self.h, self.w = h, w  # current image size

    def _enter_geometry(self):
        if not self.geometry:
            rh, rw = self.resize if self.resize is not None else (self.src[3], self.src[2])
            self.window = [0, 0, rw, rh]
            self.valid = [0, 0, rw, rh]
            self.geometry = True

    def crop(self, top: int, left: int, height: int, width: int) -> None:
        """F.crop of the current image (zero padding where the box leaves it)."""
        inside = top >= 0 and left >= 0 and top + height <= self.h and left + width <= self.w
        if inside and not self.geometry:
            self.src = [self.src[0] + left, self.src[1] + top, width, height]
        else:
            self._enter_geometry()
            wx, wy, ww, wh = self.window
            v = self.valid
            self.valid = [max(v[0], wx), max(v[1], wy), min(v[2], wx + ww), min(v[3], wy + wh)]
            x = wx + (ww - left - width if self.hflip else left)
            y = wy + (wh - top - height if self.vflip else top)
            self.window = [x, y, width, height]
        self.h, self.w = height, width

    def center_crop_box(self, crop_h: int, crop_w: int) -> Tuple[int, int]:
        """(top, left) of F.center_crop's box in the current image, padding included."""
        ih, iw = self.h, self.w
        pad_l = pad_t = 0
        if crop_w > iw or crop_h > ih:
            pad_l = (crop_w - iw) // 2 if crop_w > iw else 0
            pad_t = (crop_h - ih) // 2 if crop_h > ih else 0
            pad_r = (crop_w - iw + 1) // 2 if crop_w > iw else 0
            pad_b = (crop_h - ih + 1) // 2 if crop_h > ih else 0
            iw, ih = iw + pad_l + pad_r, ih + pad_t + pad_b
            if crop_w == iw and crop_h == ih:
                return -pad_t, -pad_l
        top = int(round((ih - crop_h) / 2.0))
        left = int(round((iw - crop_w) / 2.0))
        return top - pad_t, left - pad_l

    def args(self):
        resize = list(self.resize) if self.resize is not None else []
        if self.geometry:
            window, valid = list(self.window), list(self.valid)
        else:
            window, valid = [], []
        return (
            list(self.src), resize, self.interpolation, self.antialias, window, valid, self.hflip,
            self.vflip, self.values > 0, self.mean, self.std,
        )


def _resize_mode(t) -> Optional[str]:
    mode = _MODES.get(t.interpolation) if isinstance(t.interpolation, InterpolationMode) else None
    if mode is None or (t.antialias and mode == "nearest"):
        return None
    return mode


def _step(plan: _Plan, t) -> bool:
    """Adds transform t to the plan (drawing its random parameters) or returns False, untouched."""
    kind = type(t)
    if kind in (T.Resize, T.RandomResizedCrop) and plan.ndim == 2:
        return False  # torchvision's tensor resize needs [..., C, H, W] (it raises for [H, W])
    if kind is T.Resize:
        mode = _resize_mode(t)
        size = [t.size] if _is_int(t.size) else t.size
        if mode is None or not isinstance(size, (list, tuple)) or len(size) not in (1, 2):
            return False
        if not all(_is_int(s) for s in size) or (t.max_size is not None and len(size) != 1):
            return False
        try:
            new_h, new_w = F._compute_resized_output_size((plan.h, plan.w), list(size), t.max_size)
        except (ValueError, TypeError, ZeroDivisionError):
            return False
        if (new_h, new_w) == (plan.h, plan.w):
            return True  # F.resize returns the image itself
        if plan.values or plan.resize is not None or plan.geometry or new_h <= 0 or new_w <= 0:
            return False
        plan.resize, plan.interpolation, plan.antialias = (new_h, new_w), mode, bool(t.antialias)
        plan.h, plan.w = new_h, new_w
        plan._enter_geometry()
        return True
    if kind is T.RandomResizedCrop:
        mode = _resize_mode(t)
        if mode is None or plan.values or plan.resize is not None or plan.geometry:
            return False
        size = list(t.size)
        if len(size) != 2 or not all(_is_int(s) and s > 0 for s in size):
            return False
        top, left, height, width = _resized_crop_params(t, plan.c, plan.h, plan.w)
        plan.crop(top, left, height, width)
        if (height, width) != (size[0], size[1]):
            plan.resize, plan.interpolation, plan.antialias = (size[0], size[1]), mode, bool(t.antialias)
            plan.h, plan.w = size[0], size[1]
            plan._enter_geometry()
        return True
    if kind is T.RandomCrop:
        th, tw = t.size
        if t.padding is not None or plan.h < th or plan.w < tw:
            return False
        top, left, height, width = t.get_params(_stand_in(plan.c, plan.h, plan.w), (th, tw))
        plan.crop(top, left, height, width)
        return True
    if kind is T.CenterCrop:
        ch, cw = t.size
        if ch <= 0 or cw <= 0:
            return False
        top, left = plan.center_crop_box(ch, cw)
        pads = top < 0 or left < 0 or top + ch > plan.h or left + cw > plan.w
        if pads and plan.values:
            return False  # zero padding of a float image differs from padding before the conversion
        plan.crop(top, left, ch, cw)
        return True
    if kind in (T.RandomHorizontalFlip, T.RandomVerticalFlip):
        if torch.rand(1) < t.p:
            plan._enter_geometry()
            if kind is T.RandomHorizontalFlip:
                plan.hflip = not plan.hflip
            else:
                plan.vflip = not plan.vflip
        return True
    if kind is T.PILToTensor:
        if plan.values:
            return False
        plan.ndim = 3
        return True
    if kind is T.ToTensor:
        if plan.values or torch.get_default_dtype() != torch.float32:
            return False
        plan.values, plan.ndim = 1, 3
        return True
    if kind is T.ConvertImageDtype:
        if t.dtype != torch.float32 or plan.values == 2:
            return False
        plan.values = max(plan.values, 1)
        return True
    if kind is T.Normalize:
        if plan.values != 1 or plan.ndim != 3:
            return False
        values = _normalize_params(t, plan.c)
        if values is None:
            return False  # torchvision raises for a zero std
        plan.mean, plan.std = values
        plan.values = 2
        return True
    return False


def _flatten(transforms) -> list:
    """Nested Composes are applied one transform after the other: their transforms can be fused."""
    out = []
    for t in transforms:
        if type(t) is T.Compose:
            out.extend(_flatten(t.transforms))
        else:
            out.append(t)
    return out


class Pipeline:
    """A Compose applied to an image file, encoded bytes or a decoded image in one native pass.

    Args:
        transforms: a ``torchvision.transforms.Compose``, or a list/tuple of transforms.
        mode: ``"exact"`` (default: equals decoding with the native decoder and applying the Compose to
            the tensor with the adapter enabled) or ``"fast"`` (JPEG files and bytes may be decoded at
            a reduced scale when the resize shrinks them at least 2x; pixels differ).

    Calling it with
        * a path (``str`` or ``os.PathLike``): the file is read and decoded as RGB;
        * encoded bytes (``bytes``, ``bytearray``, ``memoryview``, a 1-D uint8 tensor or array);
        * a decoded uint8 tensor ``[C, H, W]`` or ``[H, W]`` (e.g. from the ``"native"`` backend);
    returns what the Compose returns (a float ``[C, H, W]`` tensor for the usual ``..., ToTensor(),
    Normalize(...)``). Anything else is passed to the transforms as they are.
    """

    def __init__(self, transforms, mode: str = "exact"):
        if isinstance(transforms, T.Compose):
            transforms = transforms.transforms
        elif isinstance(transforms, torch.nn.Sequential):
            transforms = list(transforms)
        elif not isinstance(transforms, (list, tuple)):
            transforms = [transforms]
        for t in transforms:
            if not callable(t):
                raise TypeError(f"transforms should be callables, got {type(t).__name__}")
        if mode not in ("exact", "fast"):
            raise ValueError(f"mode should be 'exact' or 'fast', got {mode!r}")
        self.transforms = _flatten(transforms)
        self.mode = mode

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}(mode={self.mode!r},{inner}\n)"

    @property
    def fusable(self) -> int:
        """How many leading transforms are of a supported class (whether each one is fused also
        depends on the image and the random draws, see the module doc)."""
        n = 0
        for t in self.transforms:
            if type(t) not in FUSABLE:
                break
            n += 1
        return n

    def _plan(self, c: int, h: int, w: int, ndim: int = 3) -> Tuple[_Plan, int]:
        plan = _Plan(c, h, w, ndim)
        n = 0
        for t in self.transforms:
            if not _step(plan, t):
                break
            n += 1
        return plan, n

    def _rest(self, out, start: int):
        for t in self.transforms[start:]:
            out = t(out)
        return out

    def __call__(self, img):
        if isinstance(img, (str, os.PathLike)):
            path = os.fspath(img)
            data = _io.read_file(path)
            try:
                return self._encoded(data)
            except _io.ImageDecodeError as e:
                raise _io.ImageDecodeError(f"cannot decode image file '{path}': {e}") from None
        if isinstance(img, Tensor):
            if img.dtype == torch.uint8 and img.ndim == 1:
                return self._encoded(img)
            if img.dtype == torch.uint8 and img.ndim in (2, 3) and img.device.type == "cpu" and img.numel() > 0:
                return self._decoded(img)
            return self._rest(img, 0)
        if isinstance(img, (bytes, bytearray, memoryview)):
            return self._encoded(_io._as_byte_tensor(img))
        try:
            import numpy as np

            if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 1:
                return self._encoded(_io._as_byte_tensor(img))
        except ImportError:  # pragma: no cover
            pass
        return self._rest(img, 0)

    def _decoded(self, img: Tensor):
        if img.requires_grad and torch.is_grad_enabled():
            return self._rest(img, 0)
        ndim = img.ndim
        img3 = img.unsqueeze(0) if ndim == 2 else img
        c, h, w = img3.shape
        plan, n = self._plan(c, h, w, ndim)
        if n == 0:
            return self._rest(img, 0)
        out = _ops.pipeline(img3, *plan.args())
        return self._rest(out.squeeze(0) if plan.ndim == 2 else out, n)

    def _encoded(self, data: Tensor):
        try:
            fmt, w, h, _ = _ops.image_info(data) if data.numel() else (0, 0, 0, 0)
        except RuntimeError:  # a damaged header: decode_image says what is wrong
            fmt = 0
        if fmt == 0:
            # Not a JPEG or PNG: decoded as the native loader decodes it (PIL), then as a tensor.
            return self._decoded(_io.decode_image(data))
        plan, n = self._plan(3, h, w)
        if n == 0:
            return self._rest(_io.decode_image(data), 0)
        limit = _ops._get_max_image_pixels()
        try:
            out = _ops.pipeline_encoded(data, *plan.args(), self.mode == "fast", limit)
        except RuntimeError as e:
            # What the native decoder rejects but PIL reads (see io.decode_image) is decoded there and
            # fused from the tensor with the parameters already drawn.
            img = _io.decode_image(data)  # raises ImageDecodeError when PIL cannot read it either
            if tuple(img.shape) != (3, h, w):
                raise _io.ImageDecodeError(_io._message(e)) from None
            out = _ops.pipeline(img, *plan.args())
        return self._rest(out, n)
