"""Detection preprocessing (mmdetection style) fused into one native pass: resize, normalize, pad."""
import math
import os
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

_op = torch.ops.torchvision_adapter

IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)
IMAGENET_STD_255 = (58.395, 57.12, 57.375)


def rescaled_size(height: int, width: int, scale: Tuple[int, int], keep_ratio: bool = True) -> Tuple[int, int]:
    """Output (height, width) of mmcv's ``imrescale`` (keep_ratio) or ``imresize`` (fixed size).

    ``scale`` is ``(w, h)`` as mmdetection writes it; with ``keep_ratio`` only its long and short
    edges matter: the image is scaled by ``min(long / max(h, w), short / min(h, w))`` and each side
    becomes ``int(side * factor + 0.5)``.
    """
    if not keep_ratio:
        return int(scale[1]), int(scale[0])
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def detection_preprocess(
    img: Tensor,
    scale: Tuple[int, int] = (1333, 800),
    keep_ratio: bool = True,
    mean: Sequence[float] = IMAGENET_MEAN_255,
    std: Sequence[float] = IMAGENET_STD_255,
    value_range: int = 255,
    to_bgr: bool = False,
    size_divisor: Optional[int] = 32,
    pad_size: Optional[Tuple[int, int]] = None,
    pad_value: float = 0.0,
) -> Tuple[Tensor, Dict[str, Union[Tuple[int, ...], Tuple[float, ...]]]]:
    """Resize + normalize + pad of a detector's input in one native pass over the pixels.

    Args:
        img (Tensor[3, H, W], uint8): an RGB image, e.g. from a native decoder; or an image file's
            path or encoded bytes (bytes or a 1-D uint8 tensor), decoded natively to RGB first.
        scale ((int, int)): target ``(w, h)`` (mmdetection's order), e.g. ``(1333, 800)``.
        keep_ratio (bool): scale to fit ``scale`` keeping the aspect ratio (mmcv ``imrescale``);
            otherwise resize to exactly ``scale`` (e.g. ``(640, 640)``).
        mean, std (3 floats each): per output channel, on the scale given by ``value_range``.
        value_range (int): 255 if mean/std are on the 0-255 scale (mmdetection's), 1 if on 0-1
            (pixels are divided by 255 first, as ``convert_image_dtype`` does).
        to_bgr (bool): output channels in BGR order (mean/std are given in the output order).
        size_divisor (int or None): pad bottom/right to a multiple of this (32 by default).
        pad_size ((int, int) or None): pad to exactly this ``(w, h)`` instead.
        pad_value (float): value of the padded area (in the normalized output).

    Returns:
        (Tensor[3, Hp, Wp] float32, meta): meta holds ``ori_shape`` (h, w, 3), ``img_shape``
        (new_h, new_w, 3), ``pad_shape`` (Hp, Wp, 3), ``scale_factor`` (w_scale, h_scale, w_scale,
        h_scale) with ``w_scale = new_w / w``, and ``padding`` (left, top, right, bottom).

    The resize is torchvision's bilinear ``resize`` on tensors with ``antialias=False`` (the
    ``cv2.resize(INTER_LINEAR)`` sampling mmdetection uses, computed as torch computes it), rounded to
    uint8 values; the result equals ``F.pad(F.normalize(F.resize(img, ...).float(), mean, std), ...)``
    (with ``/ 255`` before normalizing when ``value_range`` is 1, and the channel flip for BGR).
    """
    if isinstance(img, (str, os.PathLike)):
        from .. import io as _io

        img = _io.read_image(os.fspath(img))
    elif isinstance(img, (bytes, bytearray, memoryview)) or (
        isinstance(img, Tensor) and img.dtype == torch.uint8 and img.ndim == 1
    ):
        from .. import io as _io

        img = _io.decode_image(img)
    if not isinstance(img, Tensor) or img.dtype != torch.uint8 or img.ndim != 3 or img.shape[0] != 3:
        raise TypeError(f"img should be a uint8 tensor of shape [3, H, W], got {getattr(img, 'shape', type(img))}")
    if value_range not in (1, 255):
        raise ValueError(f"value_range should be 1 or 255, got {value_range}")
    h, w = int(img.shape[1]), int(img.shape[2])
    new_h, new_w = rescaled_size(h, w, scale, keep_ratio)
    if pad_size is not None:
        pad_w, pad_h = int(pad_size[0]), int(pad_size[1])
        if pad_w < new_w or pad_h < new_h:
            raise ValueError(f"pad_size {tuple(pad_size)} is smaller than the resized image ({new_w}, {new_h})")
    elif size_divisor:
        pad_h = int(math.ceil(new_h / size_divisor)) * size_divisor
        pad_w = int(math.ceil(new_w / size_divisor)) * size_divisor
    else:
        pad_h, pad_w = new_h, new_w
    if len(mean) != 3 or len(std) != 3:
        raise ValueError("mean and std should have 3 values each")
    out = _op.detection_preprocess(
        img, new_h, new_w, pad_h, pad_w, [float(m) for m in mean], [float(s) for s in std],
        255.0 if value_range == 1 else 1.0, bool(to_bgr), float(pad_value),
    )
    w_scale, h_scale = new_w / w, new_h / h
    meta = {
        "ori_shape": (h, w, 3),
        "img_shape": (new_h, new_w, 3),
        "pad_shape": (pad_h, pad_w, 3),
        "scale_factor": (w_scale, h_scale, w_scale, h_scale),
        "padding": (0, 0, pad_w - new_w, pad_h - new_h),
    }
    return out, meta
