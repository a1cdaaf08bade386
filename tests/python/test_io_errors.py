"""Bad data never crashes: every failure is an ImageDecodeError (an OSError and a RuntimeError)
with a message saying what is wrong, naming the file when there is one."""
import os
import struct
import zlib

import numpy as np
import pytest
import torch

from torchvision_adapter.io import (
    ImageDecodeError,
    decode_image,
    get_max_image_pixels,
    read_file,
    read_image,
    set_max_image_pixels,
)

from io_samples import jpeg_bytes, png_bytes, smooth_rgb

JPEG = jpeg_bytes(smooth_rgb(40, 48), quality=90)
PROGRESSIVE = jpeg_bytes(smooth_rgb(40, 48), quality=90, progressive=True)
PNG = png_bytes(smooth_rgb(20, 24), 2, 8)


def with_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    at = data.index(b"\xff\xc0")  # baseline SOF: FF C0, length, precision, height, width
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def with_png_size(data: bytes, width: int, height: int) -> bytes:
    ihdr = struct.pack(">II", width, height) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return data[:16] + ihdr + crc + data[33:]


def test_exception_types():
    assert issubclass(ImageDecodeError, OSError) and issubclass(ImageDecodeError, RuntimeError)


def test_empty():
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"")


@pytest.mark.parametrize("data", [JPEG, PROGRESSIVE, PNG], ids=["jpeg", "progressive", "png"])
@pytest.mark.parametrize("keep", [0.2, 0.6, 0.95])
def test_truncated(data, keep):
    with pytest.raises(ImageDecodeError, match="JPEG|PNG"):
        decode_image(data[: int(len(data) * keep)])


def test_wrong_magic_goes_to_pil_and_fails_clearly():
    with pytest.raises(ImageDecodeError, match="cannot decode image"):
        decode_image(b"GIF89a not really a gif" * 3)
    with pytest.raises(ImageDecodeError, match="cannot decode image"):
        decode_image(bytes(range(256)))


def test_headers_only():
    with pytest.raises(ImageDecodeError, match="JPEG"):
        decode_image(b"\xff\xd8\xff")
    with pytest.raises(ImageDecodeError, match="PNG"):
        decode_image(b"\x89PNG\r\n\x1a\n")


def test_decompression_bomb_refused_before_allocation():
    big_jpeg = with_jpeg_size(JPEG, 60000, 60000)
    with pytest.raises(ImageDecodeError, match="exceeds the limit"):
        decode_image(big_jpeg)
    big_png = with_png_size(PNG, 100000, 100000)
    with pytest.raises(ImageDecodeError, match="exceeds the limit"):
        decode_image(big_png)


def test_pixel_limit_is_configurable():
    assert get_max_image_pixels() == 178956970  # PIL's own hard limit (2 * MAX_IMAGE_PIXELS)
    with pytest.raises(ImageDecodeError, match="480 pixels exceeds the limit of 479"):
        decode_image(PNG, max_pixels=479)
    assert decode_image(PNG, max_pixels=480).shape == (3, 20, 24)
    try:
        set_max_image_pixels(1000)
        with pytest.raises(ImageDecodeError, match="1920 pixels exceeds the limit of 1000"):
            decode_image(JPEG)
        assert decode_image(JPEG, max_pixels=0).shape == (3, 40, 48)  # 0: no limit for this call
    finally:
        set_max_image_pixels(178956970)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        decode_image(JPEG, mode=2)
    with pytest.raises(ValueError, match="crop"):
        decode_image(JPEG, crop=(1, 2, 3))
    with pytest.raises(ImageDecodeError, match="outside"):
        decode_image(JPEG, crop=(40, 0, 10, 10))
    with pytest.raises(ImageDecodeError, match="outside"):
        decode_image(PNG, crop=(0, 15, 10, 10))
    with pytest.raises(TypeError, match="uint8"):
        decode_image(torch.zeros(10, dtype=torch.float32))
    with pytest.raises(RuntimeError, match="1-D"):
        torch.ops.torchvision_adapter.decode_image(torch.zeros(2, 5, dtype=torch.uint8))


def test_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.jpg"
    with pytest.raises(ImageDecodeError, match="missing.jpg"):
        read_image(str(missing))
    with pytest.raises(ImageDecodeError, match="not a regular file"):
        read_file(str(tmp_path))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(JPEG[: len(JPEG) // 2])
    with pytest.raises(ImageDecodeError, match="bad.jpg"):
        read_image(str(bad))
    with pytest.raises(RuntimeError, match="bad.jpg"):
        torch.ops.torchvision_adapter.read_image(str(bad))


@pytest.mark.parametrize("data", [JPEG, PROGRESSIVE, PNG], ids=["jpeg", "progressive", "png"])
def test_random_corruption_never_crashes(data):
    rng = np.random.default_rng(0)
    raised = 0
    for _ in range(150):
        buf = bytearray(data)
        for _ in range(rng.integers(1, 8)):
            buf[rng.integers(0, len(buf))] = rng.integers(0, 256)
        try:
            out = decode_image(bytes(buf))
            assert out.dtype == torch.uint8 and out.dim() == 3
        except ImageDecodeError as e:
            assert str(e)
            raised += 1
    assert raised > 0


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_no_leak_on_error_and_success_paths():
    truncated = PROGRESSIVE[: len(PROGRESSIVE) // 2]
    bomb = with_jpeg_size(JPEG, 60000, 60000)

    op = torch.ops.torchvision_adapter.decode_image
    tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in (truncated, bomb, JPEG)]

    def round_():
        for _ in range(300):
            for bad in tensors[:2]:
                try:
                    op(bad)
                except RuntimeError:
                    pass
            op(tensors[2], crop=[3, 3, 20, 20])

    round_()  # warm-up: allocator pools, lazily loaded code
    before = current_rss_bytes()
    for _ in range(3):
        round_()
    # A leaked decompressor per failure would be ~1800 * tens of KB.
    assert current_rss_bytes() - before < 8 * 2**20


def test_pil_reads_what_native_rejects_when_pil_is_told_to(tmp_path, monkeypatch):
    from PIL import ImageFile

    import torchvision
    import torchvision.datasets.folder as tv_folder

    truncated = JPEG[: int(len(JPEG) * 0.7)]
    with pytest.raises(ImageDecodeError, match="Premature end of JPEG file"):
        decode_image(truncated)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    from io_samples import pil_rgb

    expected = torch.from_numpy(pil_rgb(truncated)).permute(2, 0, 1)
    assert torch.equal(decode_image(truncated), expected)
    path = tmp_path / "truncated.jpg"
    path.write_bytes(truncated)
    before = torchvision.get_image_backend()
    torchvision.set_image_backend("native")
    try:
        assert torch.equal(tv_folder.default_loader(str(path)), expected)
    finally:
        torchvision.set_image_backend(before)
