"""Native PNG decoding and the PIL fallback for other formats: equal to PIL's conversions."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from torchvision_adapter.io import decode_image, image_info, read_image

from io_samples import chw, pil_rgb, png_variants, smooth_rgb

# PIL warns about palette transparency given as bytes; convert("RGB") ignores it either way.
pytestmark = pytest.mark.filterwarnings("ignore:Palette images with Transparency:UserWarning")

PNGS = dict(png_variants())


@pytest.mark.parametrize("name", sorted(PNGS))
def test_png_rgb_and_gray_equal_pil(name):
    data = PNGS[name]
    assert torch.equal(decode_image(data), chw(pil_rgb(data, "RGB")))
    assert torch.equal(decode_image(data, "gray"), chw(pil_rgb(data, "L")))


@pytest.mark.parametrize("name", sorted(PNGS))
def test_png_unchanged_channels(name):
    data = PNGS[name]
    out = decode_image(data, "unchanged")
    with Image.open(io.BytesIO(data)) as im:
        mode = im.mode
        expected_channels = {"1": 1, "L": 1, "I": 1, "I;16": 1, "I;16B": 1, "LA": 2, "RGB": 3, "P": 3, "RGBA": 4}[mode]
        if name.startswith("type4-16bit"):
            expected_channels = 2
        assert out.shape == (expected_channels, im.height, im.width)
        if name.startswith("type4-16bit"):  # PIL opens 16-bit gray+alpha as RGBA; we keep (gray, alpha)
            assert torch.equal(out, chw(np.array(im)[:, :, [0, 3]]))
        elif mode in ("L", "LA", "RGB", "RGBA"):
            assert torch.equal(out, chw(np.array(im)))
        elif mode == "P":
            assert torch.equal(out, chw(np.array(im.convert("RGB"))))
        else:  # "1" and 16-bit gray: as convert("L")
            assert torch.equal(out, chw(np.array(im.convert("L"))))


def test_png_photo_and_crop(tmp_path):
    rgb = smooth_rgb(97, 131, 4)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    out = read_image(str(path))
    assert torch.equal(out, chw(rgb))
    assert torch.equal(decode_image(path.read_bytes(), crop=(5, 7, 50, 60)), chw(rgb)[:, 7:67, 5:55])
    # Reduced-size decoding is JPEG-only: PNG stays at full size.
    assert decode_image(path.read_bytes(), min_size=(10, 10)).shape == (3, 97, 131)
    assert image_info(path.read_bytes()) == ("PNG", 131, 97, 3)


@pytest.mark.parametrize("fmt,mode", [("BMP", "RGB"), ("GIF", "P"), ("TIFF", "RGB"), ("WEBP", "RGB"),
                                      ("PPM", "RGB"), ("TIFF", "CMYK"), ("BMP", "L"), ("TIFF", "I;16")])
def test_other_formats_through_pil(tmp_path, fmt, mode):
    rgb = smooth_rgb(21, 34, 6)
    im = Image.fromarray(rgb)
    if mode == "CMYK":
        im = im.convert("CMYK")
    elif mode == "P":
        im = im.convert("P")
    elif mode == "L":
        im = im.convert("L")
    elif mode == "I;16":
        im = Image.fromarray((rgb[:, :, 0].astype(np.uint16) * 3), "I;16")
    path = tmp_path / f"image.{fmt.lower()}"
    im.save(path, fmt)
    data = path.read_bytes()
    assert image_info(data) == (None, 0, 0, 0)
    assert torch.equal(read_image(str(path)), chw(pil_rgb(data, "RGB")))
    assert torch.equal(decode_image(data, "gray"), chw(pil_rgb(data, "L")))
    assert torch.equal(decode_image(data, crop=(3, 4, 10, 12)), chw(pil_rgb(data, "RGB"))[:, 4:16, 3:13])
