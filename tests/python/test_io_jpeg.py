"""Native JPEG decoding: pixels identical to PIL's convert("RGB") and torchvision.io.decode_jpeg."""
import io

import numpy as np
import pytest
import torch
import torchvision.io as tio
from PIL import Image

import torchvision_adapter
from torchvision_adapter.io import ImageReadMode, decode_image, image_info, read_image

from io_samples import MATE_PHOTOS, chw, cmyk_jpeg, jpeg_bytes, pil_rgb, restart_jpeg, smooth_rgb


def as_tensor(data: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


RGB = smooth_rgb(61, 83)
VARIANTS = {
    "baseline-420": jpeg_bytes(RGB, quality=90),
    "baseline-444": jpeg_bytes(RGB, quality=95, subsampling=0),
    "baseline-422": jpeg_bytes(RGB, quality=75, subsampling=1),
    "progressive": jpeg_bytes(RGB, quality=90, progressive=True),
    "optimized": jpeg_bytes(RGB, quality=50, optimize=True),
    "gray": jpeg_bytes(RGB[:, :, 1], "L", quality=90),
    "gray-progressive": jpeg_bytes(RGB[:, :, 0], "L", quality=85, progressive=True),
    "restart-markers": restart_jpeg(67, 45, interval=1),
    "1x1": jpeg_bytes(RGB[:1, :1], quality=90),
    "1x1-gray": jpeg_bytes(RGB[:1, :1, 0], "L"),
    "7x3": jpeg_bytes(RGB[:3, :7], quality=90),
    "17x1": jpeg_bytes(RGB[:1, :17], quality=90, subsampling=2),
    "1x17": jpeg_bytes(RGB[:17, :1], quality=90, subsampling=2),
}
CMYK = {"cmyk": cmyk_jpeg(19, 23), "ycck": cmyk_jpeg(19, 23, ycck=True)}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_rgb_equals_pil_and_torchvision(name):
    data = VARIANTS[name]
    out = decode_image(data)
    assert out.dtype == torch.uint8 and out.shape[0] == 3
    assert torch.equal(out, chw(pil_rgb(data)))
    assert torch.equal(out, tio.decode_jpeg(as_tensor(data), mode=tio.ImageReadMode.RGB))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_gray_and_unchanged_equal_torchvision(name):
    data = VARIANTS[name]
    gray = decode_image(data, ImageReadMode.GRAY)
    assert torch.equal(gray, tio.decode_jpeg(as_tensor(data), mode=tio.ImageReadMode.GRAY))
    unchanged = decode_image(data, ImageReadMode.UNCHANGED)
    assert torch.equal(unchanged, tio.decode_jpeg(as_tensor(data), mode=tio.ImageReadMode.UNCHANGED))
    assert torch.equal(unchanged, chw(np.array(Image.open(io.BytesIO(data)))))


@pytest.mark.parametrize("name", sorted(CMYK))
def test_cmyk_and_ycck_like_pil(name):
    data = CMYK[name]
    assert torch.equal(decode_image(data), chw(pil_rgb(data)))
    assert torch.equal(decode_image(data, "gray"), chw(pil_rgb(data, "L")))
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "CMYK"
        assert torch.equal(decode_image(data, "unchanged"), chw(np.array(im)))


@pytest.mark.parametrize("path", MATE_PHOTOS[:3])
def test_photos_read_image(path):
    out = read_image(path)
    with open(path, "rb") as f:
        data = f.read()
    assert torch.equal(out, tio.decode_jpeg(as_tensor(data)))
    with Image.open(path) as im:
        assert torch.equal(out, chw(np.array(im.convert("RGB"))))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_band_parallel_decode_is_exact(threads):
    # Images above ~0.2 MP are decoded in horizontal bands on several threads.
    torch.set_num_threads(threads)
    rgb = smooth_rgb(600, 420, seed=5)
    for kw in [dict(quality=90), dict(quality=80, subsampling=0), dict(quality=95, subsampling=1)]:
        data = jpeg_bytes(rgb, **kw)
        assert torch.equal(decode_image(data), chw(pil_rgb(data)))
    gray = jpeg_bytes(rgb[:, :, 2], "L", quality=90)
    assert torch.equal(decode_image(gray, "gray"), chw(pil_rgb(gray, "L")))


@pytest.mark.parametrize("denom", [2, 4, 8])
@pytest.mark.parametrize("source", ["photo", "progressive", "gray", "odd"])
def test_reduced_size_equals_pil_draft(denom, source):
    if source == "photo":
        with open(MATE_PHOTOS[0], "rb") as f:
            data = f.read()
    elif source == "progressive":
        data = jpeg_bytes(smooth_rgb(203, 301, 2), quality=90, progressive=True)
    elif source == "gray":
        data = jpeg_bytes(smooth_rgb(203, 301, 2)[:, :, 0], "L", quality=90)
    else:
        data = jpeg_bytes(smooth_rgb(77, 93, 2), quality=90)
    _, w, h, _ = image_info(data)
    target = (w // denom, h // denom)
    out = decode_image(data, min_size=target)
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", target)
        expected = chw(np.array(im.convert("RGB")))
    assert out.shape[1:] == ((h + denom - 1) // denom, (w + denom - 1) // denom)
    assert out.shape[1] >= target[1] and out.shape[2] >= target[0]
    assert torch.equal(out, expected)


def test_reduced_size_picks_smallest_covering_scale():
    data = jpeg_bytes(smooth_rgb(160, 320), quality=90)
    assert decode_image(data, min_size=(40, 20)).shape[1:] == (20, 40)  # 1/8
    assert decode_image(data, min_size=(41, 20)).shape[1:] == (40, 80)  # 1/4
    assert decode_image(data, min_size=(320, 1)).shape[1:] == (160, 320)  # full size
    assert decode_image(data, min_size=1000).shape[1:] == (160, 320)  # never upscales


@pytest.mark.parametrize("name", ["baseline-420", "baseline-422", "progressive", "gray", "restart-markers"])
def test_crop_equals_full_decode_sliced(name):
    data = VARIANTS[name]
    full = decode_image(data)
    h, w = full.shape[1:]
    for x, y, cw, ch in [(0, 0, w, h), (1, 1, 5, 3), (w - 9, h - 7, 9, 7), (17, 23, w - 30, h - 40), (w // 2, 0, 3, h)]:
        out = decode_image(data, crop=(x, y, cw, ch))
        assert torch.equal(out, full[:, y : y + ch, x : x + cw]), (x, y, cw, ch)


def test_crop_of_large_photo_and_scaled_crop():
    with open(MATE_PHOTOS[1], "rb") as f:
        data = f.read()
    full = decode_image(data)
    assert torch.equal(decode_image(data, crop=(333, 517, 401, 299)), full[:, 517:816, 333:734])
    scaled = decode_image(data, min_size=(full.shape[2] // 4, full.shape[1] // 4))  # 1/4
    out = decode_image(data, crop=(333, 517, 401, 299), min_size=(100, 74))
    x0, y0, x1, y1 = 333 // 4, 517 // 4, -(-(333 + 401) // 4), -(-(517 + 299) // 4)
    assert torch.equal(out, scaled[:, y0:y1, x0:x1])


def test_fast_option_is_explicit():
    data = VARIANTS["baseline-420"]
    exact = decode_image(data)
    fast = decode_image(data, fast=True)
    assert fast.shape == exact.shape
    assert not torch.equal(fast, exact)  # changes pixels, hence never the default
    assert (fast.int() - exact.int()).abs().float().mean() < 8  # close: same image, coarser arithmetic


def test_inputs_bytes_tensor_numpy_memoryview():
    data = VARIANTS["baseline-444"]
    expected = decode_image(data)
    for form in [bytearray(data), memoryview(data), np.frombuffer(data, np.uint8), as_tensor(data)]:
        assert torch.equal(decode_image(form), expected)


def test_info_and_op_in_torchscript():
    data = as_tensor(VARIANTS["baseline-420"])
    assert image_info(data) == ("JPEG", 83, 61, 3)
    assert image_info(VARIANTS["gray"]) == ("JPEG", 83, 61, 1)

    @torch.jit.script
    def decode(d: torch.Tensor) -> torch.Tensor:
        return torch.ops.torchvision_adapter.decode_image(d, 3, 0, 0, [2, 3, 10, 10])

    assert torch.equal(decode(data), decode_image(data)[:, 3:13, 2:12])


def test_decoding_ignores_adapter_switch():
    data = VARIANTS["progressive"]
    expected = decode_image(data)
    with torchvision_adapter.disabled():
        assert torch.equal(decode_image(data), expected)
