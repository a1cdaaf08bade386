"""Native kernels behind ``torchvision.transforms.functional_tensor``.

torchvision's functional API (``torchvision.transforms.functional``) validates its arguments, computes
output sizes and random-free parameters, and then calls ``functional_tensor`` (``F_t``) for tensors.
The functions here replace those ``F_t`` functions while the adapter is enabled. Each one checks that
the input and arguments are ones its native kernel covers (a CPU tensor of a supported dtype and
layout, no autograd, argument values torchvision accepts) and otherwise calls torchvision's own
function, which then computes or raises exactly as without the adapter. Every transform class
(``Compose``, ``RandomResizedCrop``, ``ColorJitter``, ...) reaches these through ``F``, and draws its
random parameters with torch's generator exactly as before.
"""
import numbers
from typing import List, Optional

import torch
import torchvision.transforms.functional_tensor as F_t
from torch import Tensor

from .. import _patch
from ._script import transparent

_op = torch.ops.torchvision_adapter
_orig = {}  # name -> torchvision's function

_U8_F32 = (torch.uint8, torch.float32)
_RESIZE_MODES = ("nearest", "bilinear", "bicubic")
_PAD_MODES = ("constant", "edge", "reflect", "symmetric")


def _plain(img, dtypes=_U8_F32, min_dim: int = 3, max_dim: int = 64) -> bool:
    """A CPU tensor the native kernels take: supported dtype and rank, non-empty, and not part of an
    autograd graph (torchvision's path is differentiable, ours is not)."""
    return (
        isinstance(img, Tensor)
        and img.is_cpu
        and img.dtype in dtypes
        and min_dim <= img.ndim <= max_dim
        and img.numel() > 0
        and not (img.requires_grad and torch.is_grad_enabled())
    )


def _real(x) -> bool:
    t = type(x)
    if t is float or t is int:  # the common case, without the slow abstract-class check
        return True
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _channels_ok(img: Tensor, allowed=(1, 3)) -> bool:
    return img.shape[-3] in allowed


def resize(img: Tensor, size: List[int], interpolation: str = "bilinear", antialias: Optional[bool] = None) -> Tensor:
    if (
        _plain(img, min_dim=3, max_dim=4)
        and isinstance(size, (list, tuple))
        and len(size) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
        and interpolation in _RESIZE_MODES
        and not (antialias and interpolation == "nearest")
    ):
        return _op.resize(img, size[0], size[1], interpolation, bool(antialias))
    return _orig["resize"](img, size, interpolation, antialias)


def _as_float_list(values, channels: int):
    if isinstance(values, (list, tuple)) and len(values) in (1, channels):
        for v in values:
            if not _real(v):
                return None
        return [float(v) for v in values]
    return None


def normalize(tensor: Tensor, mean: List[float], std: List[float], inplace: bool = False) -> Tensor:
    if _plain(tensor, (torch.float32, torch.float64)):
        c = tensor.shape[-3]
        m, s = _as_float_list(mean, c), _as_float_list(std, c)
        # A std that is (or rounds to) zero makes torchvision raise: let it.
        if m is not None and s is not None and min(map(abs, s)) > 1e-30:
            if not inplace:
                return _op.normalize(tensor, m, s)
            if tensor.is_contiguous():
                return _op.normalize_(tensor, m, s)
    return _orig["normalize"](tensor, mean, std, inplace)


def convert_image_dtype(image: Tensor, dtype: torch.dtype = torch.float) -> Tensor:
    if _plain(image, (torch.uint8, torch.float32, torch.float64), min_dim=0) and image.dtype != dtype:
        if (image.dtype == torch.uint8 and dtype in (torch.float32, torch.float64)) or (
            image.dtype != torch.uint8 and dtype == torch.uint8
        ):
            return _op.convert_image_dtype(image, dtype)
    return _orig["convert_image_dtype"](image, dtype)


def hflip(img: Tensor) -> Tensor:
    if _plain(img, min_dim=2):
        return _op.hflip(img)
    return _orig["hflip"](img)


def vflip(img: Tensor) -> Tensor:
    if _plain(img, min_dim=2):
        return _op.vflip(img)
    return _orig["vflip"](img)


def _pad_amounts(padding):
    if isinstance(padding, int) and not isinstance(padding, bool):
        p = [padding] * 4
    elif isinstance(padding, (list, tuple)) and len(padding) in (1, 2, 4) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in padding
    ):
        p = list(padding)
        if len(p) == 1:
            p = p * 4
        elif len(p) == 2:
            p = [p[0], p[0], p[1], p[1]]
        else:
            p = [p[0], p[2], p[1], p[3]]  # left, top, right, bottom -> left, right, top, bottom
    else:
        return None
    return p if min(p) >= 0 else None


def pad(img: Tensor, padding, fill=0, padding_mode: str = "constant") -> Tensor:
    if _plain(img, min_dim=3, max_dim=4) and padding_mode in _PAD_MODES and isinstance(padding_mode, str):
        p = _pad_amounts(padding)
        f = 0 if fill is None else fill
        if p is not None and _real(f):
            h, w = img.shape[-2:]
            ok = True
            if padding_mode == "reflect":
                ok = p[0] < w and p[1] < w and p[2] < h and p[3] < h
            elif padding_mode == "symmetric":
                ok = p[0] <= w and p[1] <= w and p[2] <= h and p[3] <= h
            elif padding_mode == "constant" and img.dtype == torch.uint8:
                ok = float(f).is_integer() and 0 <= f <= 255
            if ok:
                return _op.pad(img, p, float(f), padding_mode)
    return _orig["pad"](img, padding, fill, padding_mode)


def rgb_to_grayscale(img: Tensor, num_output_channels: int = 1) -> Tensor:
    if _plain(img) and img.shape[-3] == 3 and num_output_channels in (1, 3):
        gray = _op.rgb_to_grayscale(img)
        return gray.expand(img.shape) if num_output_channels == 3 else gray
    return _orig["rgb_to_grayscale"](img, num_output_channels)


def _factor_ok(img, factor) -> bool:
    return _plain(img) and _real(factor) and factor >= 0 and _channels_ok(img)


def adjust_brightness(img: Tensor, brightness_factor: float) -> Tensor:
    if _factor_ok(img, brightness_factor):
        return _op.adjust_brightness(img, float(brightness_factor))
    return _orig["adjust_brightness"](img, brightness_factor)


def adjust_contrast(img: Tensor, contrast_factor: float) -> Tensor:
    if _factor_ok(img, contrast_factor):
        return _op.adjust_contrast(img, float(contrast_factor))
    return _orig["adjust_contrast"](img, contrast_factor)


def adjust_saturation(img: Tensor, saturation_factor: float) -> Tensor:
    if _factor_ok(img, saturation_factor) and img.shape[-3] == 3:
        return _op.adjust_saturation(img, float(saturation_factor))
    return _orig["adjust_saturation"](img, saturation_factor)


def adjust_hue(img: Tensor, hue_factor: float) -> Tensor:
    if _plain(img) and _real(hue_factor) and -0.5 <= hue_factor <= 0.5 and img.shape[-3] == 3:
        return _op.adjust_hue(img, float(hue_factor))
    return _orig["adjust_hue"](img, hue_factor)


def adjust_gamma(img: Tensor, gamma: float, gain: float = 1) -> Tensor:
    if _factor_ok(img, gamma) and _real(gain):
        return _op.adjust_gamma(img, float(gamma), float(gain))
    return _orig["adjust_gamma"](img, gamma, gain)


def adjust_sharpness(img: Tensor, sharpness_factor: float) -> Tensor:
    if _factor_ok(img, sharpness_factor) and img.shape[-1] > 2 and img.shape[-2] > 2:
        return _op.adjust_sharpness(img, float(sharpness_factor))
    return _orig["adjust_sharpness"](img, sharpness_factor)


def invert(img: Tensor) -> Tensor:
    if _plain(img) and _channels_ok(img):
        return _op.invert(img)
    return _orig["invert"](img)


def posterize(img: Tensor, bits: int) -> Tensor:
    if _plain(img, (torch.uint8,)) and _channels_ok(img) and isinstance(bits, int) and 0 <= bits <= 8:
        return _op.posterize(img, -int(2 ** (8 - bits)))
    return _orig["posterize"](img, bits)


def solarize(img: Tensor, threshold: float) -> Tensor:
    # A negative int threshold is cast to uint8 (wrapped) by torch's comparison with a uint8 image:
    # leave that to torchvision.
    wrapped = isinstance(threshold, int) and threshold < 0 and img.dtype == torch.uint8
    if (
        _plain(img)
        and _channels_ok(img)
        and _real(threshold)
        and not wrapped
        and threshold <= (1 if img.is_floating_point() else 255)
    ):
        return _op.solarize(img, float(threshold))
    return _orig["solarize"](img, threshold)


def autocontrast(img: Tensor) -> Tensor:
    if _plain(img) and _channels_ok(img):
        return _op.autocontrast(img)
    return _orig["autocontrast"](img)


def equalize(img: Tensor) -> Tensor:
    if _plain(img, (torch.uint8,), min_dim=3, max_dim=4) and _channels_ok(img):
        return _op.equalize(img)
    return _orig["equalize"](img)


def gaussian_blur(img: Tensor, kernel_size: List[int], sigma: List[float]) -> Tensor:
    if (
        _plain(img, min_dim=3, max_dim=4)
        and isinstance(kernel_size, (list, tuple))
        and len(kernel_size) == 2
        and all(isinstance(k, int) and k > 0 and k % 2 == 1 for k in kernel_size)
        and isinstance(sigma, (list, tuple))
        and len(sigma) == 2
        and kernel_size[0] // 2 < img.shape[-1]
        and kernel_size[1] // 2 < img.shape[-2]
    ):
        # The very 1-D kernels torchvision computes (float32 for uint8 and float32 images).
        kx = F_t._get_gaussian_kernel1d(kernel_size[0], sigma[0]).to(torch.float32)
        ky = F_t._get_gaussian_kernel1d(kernel_size[1], sigma[1]).to(torch.float32)
        return _op.gaussian_blur(img, kx, ky)
    return _orig["gaussian_blur"](img, kernel_size, sigma)


def _fill_values(img: Tensor, fill):
    """fill as a list of floats (empty for None) when the native sampler reproduces it, else None."""
    if fill is None:
        return []
    values = [fill] if _real(fill) else fill
    if not isinstance(values, (list, tuple)) or len(values) not in (1, img.shape[-3]):
        return None
    if not all(_real(v) for v in values):
        return None
    if img.dtype == torch.uint8 and not all(0 <= v <= 255 for v in values):
        return None  # torchvision would cast an out-of-range fill; leave that to it
    return [float(v) for v in values]


def _affine_sample(img, matrix, w, h, ow, oh, interpolation, fill_values):
    """torchvision's _gen_affine_grid + _apply_grid_transform, the grid computed on the fly."""
    theta = torch.tensor(matrix, dtype=torch.float32).reshape(2, 3)
    theta = theta.t() / torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float32)
    xs = torch.linspace(-ow * 0.5 + 0.5, ow * 0.5 + 0.5 - 1, steps=ow).to(torch.float32)
    ys = torch.linspace(-oh * 0.5 + 0.5, oh * 0.5 + 0.5 - 1, steps=oh).to(torch.float32)
    return _op.projective_transform(
        img, xs, ys, theta.contiguous(), None, interpolation, fill_values, len(fill_values) > 0
    )


def _grid_ok(img, interpolation) -> bool:
    return _plain(img, min_dim=3, max_dim=4) and interpolation in ("nearest", "bilinear")


def rotate(img: Tensor, matrix: List[float], interpolation: str = "nearest", expand: bool = False, fill=None) -> Tensor:
    fill_values = _fill_values(img, fill) if _grid_ok(img, interpolation) else None
    if fill_values is not None and isinstance(matrix, list) and len(matrix) == 6:
        F_t._assert_grid_transform_inputs(img, matrix, interpolation, fill, ["nearest", "bilinear"])
        w, h = img.shape[-1], img.shape[-2]
        ow, oh = F_t._compute_affine_output_size(matrix, w, h) if expand else (w, h)
        return _affine_sample(img, matrix, w, h, ow, oh, interpolation, fill_values)
    return _orig["rotate"](img, matrix, interpolation, expand, fill)


def affine(img: Tensor, matrix: List[float], interpolation: str = "nearest", fill=None) -> Tensor:
    fill_values = _fill_values(img, fill) if _grid_ok(img, interpolation) else None
    if fill_values is not None and isinstance(matrix, list) and len(matrix) == 6:
        F_t._assert_grid_transform_inputs(img, matrix, interpolation, fill, ["nearest", "bilinear"])
        w, h = img.shape[-1], img.shape[-2]
        return _affine_sample(img, matrix, w, h, w, h, interpolation, fill_values)
    return _orig["affine"](img, matrix, interpolation, fill)


def perspective(img: Tensor, perspective_coeffs: List[float], interpolation: str = "bilinear", fill=None) -> Tensor:
    fill_values = _fill_values(img, fill) if _grid_ok(img, interpolation) else None
    if fill_values is not None and isinstance(perspective_coeffs, list) and len(perspective_coeffs) == 8:
        F_t._assert_grid_transform_inputs(
            img, None, interpolation, fill, ["nearest", "bilinear"], coeffs=perspective_coeffs
        )
        ow, oh = img.shape[-1], img.shape[-2]
        c = perspective_coeffs
        theta1 = torch.tensor([[c[0], c[1], c[2]], [c[3], c[4], c[5]]], dtype=torch.float32)
        theta1 = theta1.t() / torch.tensor([0.5 * ow, 0.5 * oh], dtype=torch.float32)
        theta2 = torch.tensor([[c[6], c[7], 1.0], [c[6], c[7], 1.0]], dtype=torch.float32).t()
        xs = torch.linspace(0.5, ow * 1.0 + 0.5 - 1.0, steps=ow).to(torch.float32)
        ys = torch.linspace(0.5, oh * 1.0 + 0.5 - 1.0, steps=oh).to(torch.float32)
        return _op.projective_transform(
            img, xs, ys, theta1.contiguous(), theta2.contiguous(), interpolation, fill_values, len(fill_values) > 0
        )
    return _orig["perspective"](img, perspective_coeffs, interpolation, fill)


def elastic_transform(img: Tensor, displacement: Tensor, interpolation: str = "bilinear", fill=None) -> Tensor:
    fill_values = _fill_values(img, fill) if _grid_ok(img, interpolation) else None
    if (
        fill_values is not None
        and isinstance(displacement, Tensor)
        and displacement.dtype == torch.float32
        and displacement.device.type == "cpu"
        and displacement.shape == (1, img.shape[-2], img.shape[-1], 2)
    ):
        # torchvision's _create_identity_grid, kept as its two axes; the native sampler adds the
        # displacement to them point by point.
        h, w = img.shape[-2:]
        ys = torch.linspace((-h + 1) / h, (h - 1) / h, h)
        xs = torch.linspace((-w + 1) / w, (w - 1) / w, w)
        if xs.dtype == torch.float32:
            return _op.displaced_grid_transform(
                img, xs, ys, displacement, interpolation, fill_values, len(fill_values) > 0
            )
    return _orig["elastic_transform"](img, displacement, interpolation, fill)


PATCHED = [
    resize,
    normalize,
    convert_image_dtype,
    hflip,
    vflip,
    pad,
    rgb_to_grayscale,
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    adjust_hue,
    adjust_gamma,
    adjust_sharpness,
    invert,
    posterize,
    solarize,
    autocontrast,
    equalize,
    gaussian_blur,
    rotate,
    affine,
    perspective,
    elastic_transform,
]

for _fn in PATCHED:
    _orig[_fn.__name__] = getattr(F_t, _fn.__name__)
    _patch.register(F_t, _fn.__name__, transparent(_fn, _orig[_fn.__name__]))
