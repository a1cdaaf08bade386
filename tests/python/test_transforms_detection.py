"""detection_preprocess equals the unfused torchvision composition resize -> normalize -> pad."""
import math

import pytest
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

import torchvision_adapter
from torchvision_adapter.transforms import detection_preprocess, rescaled_size

MEAN_255, STD_255 = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
MEAN_1, STD_1 = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def photo(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, h).view(h, 1)
    x = torch.linspace(0, 1, w).view(1, w)
    base = 127 + 100 * torch.sin(5 * x + 2 * y) * torch.cos(3 * y)
    return (base + torch.randn(3, h, w, generator=g) * 10).round().clamp(0, 255).to(torch.uint8)


def composition(img, new_h, new_w, pad_h, pad_w, mean, std, value_range, to_bgr, pad_value):
    """What the fused op replaces, with torchvision's own kernels."""
    with torchvision_adapter.disabled():
        r = F.resize(img, [new_h, new_w], InterpolationMode.BILINEAR, antialias=False)
        x = F.convert_image_dtype(r, torch.float32) if value_range == 1 else r.float()
        if to_bgr:
            x = x.flip(0)
        x = F.normalize(x, list(mean), list(std))
        return F.pad(x, [0, 0, pad_w - new_w, pad_h - new_h], fill=pad_value)


@pytest.mark.parametrize("h, w", [(480, 640), (427, 640), (100, 75), (800, 1333)])
@pytest.mark.parametrize("value_range, mean, std", [(255, MEAN_255, STD_255), (1, MEAN_1, STD_1)])
@pytest.mark.parametrize("to_bgr", [False, True])
def test_keep_ratio_pad_32(h, w, value_range, mean, std, to_bgr):
    img = photo(h, w)
    out, meta = detection_preprocess(img, (1333, 800), True, mean, std, value_range, to_bgr)
    new_h, new_w = meta["img_shape"][:2]
    pad_h, pad_w = meta["pad_shape"][:2]
    assert pad_h % 32 == 0 and pad_w % 32 == 0 and pad_h - new_h < 32 and pad_w - new_w < 32
    assert max(new_h, new_w) <= 1333 and min(new_h, new_w) <= 800
    assert meta["ori_shape"] == (h, w, 3)
    assert meta["scale_factor"] == (new_w / w, new_h / h, new_w / w, new_h / h)
    ref = composition(img, new_h, new_w, pad_h, pad_w, mean, std, value_range, to_bgr, 0.0)
    assert out.shape == ref.shape == (3, pad_h, pad_w) and out.dtype == torch.float32
    # Both round the resized pixels to integers first; a pixel whose float value sits on a rounding
    # tie may land one level apart, which normalizes to 1 / std.
    diff = (out - ref).abs()
    level = 1.0 / min(std) / (255 if value_range == 1 else 1)
    assert diff.max().item() <= level * 1.0001
    assert (diff > 1e-5).float().mean().item() < 1e-3


def test_fixed_size_and_pad_size():
    img = photo(300, 500)
    out, meta = detection_preprocess(img, (640, 640), keep_ratio=False, size_divisor=None)
    assert meta["img_shape"] == (640, 640, 3) and out.shape == (3, 640, 640)
    ref = composition(img, 640, 640, 640, 640, MEAN_255, STD_255, 255, False, 0.0)
    assert (out - ref).abs().max().item() <= 1 / min(STD_255) * 1.0001
    out, meta = detection_preprocess(img, (640, 640), keep_ratio=True, pad_size=(640, 640), pad_value=-1.5)
    new_h, new_w = meta["img_shape"][:2]
    assert (new_h, new_w) == (384, 640) and out.shape == (3, 640, 640)
    assert torch.all(out[:, new_h:, :] == -1.5)
    ref = composition(img, new_h, new_w, 640, 640, MEAN_255, STD_255, 255, False, -1.5)
    assert (out - ref).abs().max().item() <= 1 / min(STD_255) * 1.0001


def test_rescaled_size_follows_mmcv():
    # mmcv.imrescale: factor = min(1333 / long, 800 / short), sides int(x * factor + 0.5)
    assert rescaled_size(480, 640, (1333, 800)) == (800, 1067)
    assert rescaled_size(427, 640, (1333, 800)) == (800, 1199)
    assert rescaled_size(300, 1000, (1333, 800)) == (400, 1333)
    f = min(1333 / 640, 800 / 480)
    assert rescaled_size(480, 640, (800, 1333)) == (int(480 * f + 0.5), int(640 * f + 0.5))
    assert rescaled_size(480, 640, (512, 384), keep_ratio=False) == (384, 512)


def test_bad_inputs():
    with pytest.raises(TypeError, match="uint8 tensor of shape"):
        detection_preprocess(torch.rand(3, 10, 10))
    with pytest.raises(TypeError, match="uint8 tensor of shape"):
        detection_preprocess(torch.zeros(1, 10, 10, dtype=torch.uint8))
    with pytest.raises(ValueError, match="pad_size"):
        detection_preprocess(photo(50, 50), (64, 64), pad_size=(32, 32))
    with pytest.raises(RuntimeError, match="std must not be zero"):
        detection_preprocess(photo(50, 50), std=(1.0, 0.0, 1.0))
    assert math.isfinite(detection_preprocess(photo(1, 1))[0].sum().item())
