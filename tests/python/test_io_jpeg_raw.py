"""Native JPEG decoding through raw component planes with libjpeg's own entropy decoding and IDCT
(TVA_JPEG_NATIVE=0; the default native decoder is tested in test_io_jpeg_native.py), then this
project's fancy upsampling and YCbCr -> RGB conversion: pixels identical to torchvision.io.decode_jpeg
and PIL for every chroma subsampling, odd and tiny sizes, progressive files, restart markers and
band-parallel decoding. Files the raw path does not take (other samplings such as 4:4:0, chroma 2
samples wide or less, grayscale, reduced sizes, crops) go through libjpeg's own conversion and must be
identical too."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from torchvision_adapter.io import ImageDecodeError, decode_image

from io_samples import check_equal, chw, jpeg_bytes, smooth_rgb

SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}
SIZES = [(1, 1), (2, 3), (3, 2), (4, 4), (5, 7), (6, 9), (7, 1), (8, 8), (9, 17), (15, 16), (16, 15),
         (17, 33), (33, 17), (31, 47), (64, 1), (1, 64), (65, 63), (130, 47)]


@pytest.fixture(autouse=True)
def libjpeg_entropy(monkeypatch):
    monkeypatch.setenv("TVA_JPEG_NATIVE", "0")


@pytest.mark.parametrize("sampling", sorted(SUBSAMPLING))
def test_all_sizes_equal_torchvision_and_pil(sampling):
    for i, (w, h) in enumerate(SIZES):
        rgb = smooth_rgb(h, w, seed=i)
        check_equal(jpeg_bytes(rgb, quality=85 + i % 10, subsampling=SUBSAMPLING[sampling]))


@pytest.mark.parametrize("sampling", sorted(SUBSAMPLING))
def test_saturated_colours_and_extreme_chroma(sampling):
    # Pure primaries and noise at quality 100 drive the colour conversion to its clamps.
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 2, (37, 53, 3), dtype=np.uint8) * 255
    check_equal(jpeg_bytes(rgb, quality=100, subsampling=SUBSAMPLING[sampling]))
    noise = rng.integers(0, 256, (29, 71, 3), dtype=np.uint8)
    check_equal(jpeg_bytes(noise, quality=95, subsampling=SUBSAMPLING[sampling]))
    check_equal(jpeg_bytes(noise, quality=5, subsampling=SUBSAMPLING[sampling]))


@pytest.mark.parametrize("sampling", sorted(SUBSAMPLING))
def test_progressive_and_optimized(sampling):
    rgb = smooth_rgb(45, 71, seed=3)
    check_equal(jpeg_bytes(rgb, quality=90, progressive=True, subsampling=SUBSAMPLING[sampling]))
    check_equal(jpeg_bytes(rgb, quality=60, optimize=True, subsampling=SUBSAMPLING[sampling]))


def test_restart_markers_every_row():
    import cv2

    rgb = smooth_rgb(49, 77, seed=9)
    ok, enc = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_RST_INTERVAL, 1])
    assert ok
    check_equal(enc.tobytes())


def test_grayscale_and_reduced_sizes_keep_libjpeg_path():
    rgb = smooth_rgb(47, 93, seed=11)
    gray = jpeg_bytes(rgb[:, :, 0], "L", quality=90)
    check_equal(gray)
    data = jpeg_bytes(rgb, quality=90)
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (46, 23))
        ref = chw(np.array(im.convert("RGB")))
    assert torch.equal(decode_image(data, min_size=(46, 23)), ref)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_band_parallel_with_raw_top_band(threads):
    torch.set_num_threads(threads)
    for i, (w, h) in enumerate([(701, 433), (640, 480), (333, 997)]):
        rgb = smooth_rgb(h, w, seed=20 + i)
        for sampling in SUBSAMPLING.values():
            check_equal(jpeg_bytes(rgb, quality=88, subsampling=sampling))


@pytest.mark.parametrize("sampling", sorted(SUBSAMPLING))
@pytest.mark.parametrize("threads", [1, 2])
def test_truncated_file_fails_cleanly(sampling, threads):
    torch.set_num_threads(threads)
    data = jpeg_bytes(smooth_rgb(480, 640, seed=1), quality=90, subsampling=SUBSAMPLING[sampling])
    for keep in (0.3, 0.9):
        with pytest.raises(ImageDecodeError, match="JPEG"):
            decode_image(data[: int(len(data) * keep)])


@pytest.mark.parametrize("denom", [2, 4, 8])
@pytest.mark.parametrize("sampling", sorted(SUBSAMPLING))
def test_reduced_sizes_equal_pil_draft(denom, sampling):
    # At reduced scales libjpeg enlarges the chroma IDCT instead of upsampling where it can; the raw
    # path follows the same plan (full-size chroma, or 2x1 / 2x2 triangle filter, or libjpeg's own
    # path for box upsampling at 1/8).
    for i, (w, h) in enumerate([(97, 61), (640, 480), (33, 130), (19, 23)]):
        data = jpeg_bytes(smooth_rgb(h, w, seed=40 + i), quality=90, subsampling=SUBSAMPLING[sampling])
        target = (max(1, w // denom), max(1, h // denom))
        with Image.open(io.BytesIO(data)) as im:
            im.draft("RGB", target)
            ref = chw(np.array(im.convert("RGB")))
        out = decode_image(data, min_size=target)
        assert out.shape == ref.shape, (w, h)
        assert torch.equal(out, ref), (w, h)
