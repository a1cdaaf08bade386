"""The native baseline JPEG decoder (on by default; TVA_JPEG_NATIVE=0 turns it off): own Huffman
decoding and IDCT, then the raw-plane upsampling and colour conversion. Pixels identical to
torchvision.io.decode_jpeg and PIL for every chroma subsampling, sizes from 1x1 to odd ones,
qualities 1..100, restart markers, 16-bit quantisation tables, reduced sizes (equal to PIL's draft and to libjpeg-turbo's scaled decode), and at
1 and 2 threads; files it does not take (progressive, grayscale, crops) and corrupt or truncated files
behave exactly as with libjpeg alone."""
import io
import struct

import numpy as np
import pytest
import torch

from PIL import Image

from torchvision_adapter.io import ImageDecodeError, decode_image, image_info

from io_samples import check_equal, chw, jpeg_bytes, restart_jpeg, smooth_rgb

SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}
SIZES = [(1, 1), (2, 3), (3, 2), (5, 7), (7, 1), (8, 8), (9, 17), (16, 15), (17, 33), (33, 17),
         (64, 1), (1, 64), (65, 63), (130, 47)]


@pytest.fixture(autouse=True)
def native(monkeypatch):
    monkeypatch.setenv("TVA_JPEG_NATIVE", "1")


@pytest.mark.parametrize("sampling", sorted(SUBSAMPLING))
def test_sizes_and_qualities(sampling):
    for i, (w, h) in enumerate(SIZES):
        rgb = smooth_rgb(h, w, seed=100 + i)
        for quality in (1 + (i * 29) % 100, 100 - i):
            check_equal(jpeg_bytes(rgb, quality=quality, subsampling=SUBSAMPLING[sampling]))


@pytest.mark.parametrize("sampling", sorted(SUBSAMPLING))
def test_noise_and_saturated_colours(sampling):
    rng = np.random.default_rng(5)
    for quality in (1, 5, 30, 75, 95, 100):
        noise = rng.integers(0, 256, (29, 71, 3), dtype=np.uint8)
        check_equal(jpeg_bytes(noise, quality=quality, subsampling=SUBSAMPLING[sampling], optimize=quality > 50))
    primaries = rng.integers(0, 2, (37, 53, 3), dtype=np.uint8) * 255
    check_equal(jpeg_bytes(primaries, quality=100, subsampling=SUBSAMPLING[sampling]))


@pytest.mark.parametrize("interval", [1, 2, 7])
def test_restart_markers(interval):
    for w, h in ((77, 49), (16, 16), (130, 47)):
        check_equal(restart_jpeg(h, w, interval))


def check_reduced(data: bytes, denom: int, monkeypatch):
    """Decoded at 1/denom: equal to PIL's draft and to libjpeg-turbo's own scaled decode."""
    _, w, h, _ = image_info(data)
    target = (max(1, w // denom), max(1, h // denom))
    out = decode_image(data, min_size=target)
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", target)
        ref = chw(np.array(im.convert("RGB")))
    assert out.shape == ref.shape
    assert torch.equal(out, ref)
    monkeypatch.setenv("TVA_JPEG_NATIVE", "0")
    assert torch.equal(decode_image(data, min_size=target), out)
    monkeypatch.setenv("TVA_JPEG_NATIVE", "1")


@pytest.mark.parametrize("denom", [2, 4, 8])
@pytest.mark.parametrize("sampling", sorted(SUBSAMPLING))
def test_reduced_sizes(denom, sampling, monkeypatch):
    # libjpeg-turbo's 4x4 / 2x2 / 1x1 IDCTs (the full one where it scales the chroma IDCT up), noise
    # and flat images, extreme qualities, restart markers.
    rng = np.random.default_rng(denom)
    for i, (w, h) in enumerate([(1, 1), (9, 17), (61, 45), (130, 47)]):
        for quality in (1, 60, 100):
            check_reduced(jpeg_bytes(smooth_rgb(h, w, seed=60 + i), quality=quality,
                                     subsampling=SUBSAMPLING[sampling]), denom, monkeypatch)
        noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        check_reduced(jpeg_bytes(noise, quality=97, subsampling=SUBSAMPLING[sampling]), denom, monkeypatch)
    check_reduced(restart_jpeg(49, 77, 3), denom, monkeypatch)


@pytest.mark.parametrize("threads", [1, 2])
def test_reduced_band_parallel(threads, monkeypatch):
    torch.set_num_threads(threads)
    rgb = smooth_rgb(1000, 1300, seed=8)
    for sampling in SUBSAMPLING.values():
        check_reduced(jpeg_bytes(rgb, quality=90, subsampling=sampling), 2, monkeypatch)


def test_files_the_native_decoder_leaves_to_libjpeg():
    rgb = smooth_rgb(47, 93, seed=11)
    check_equal(jpeg_bytes(rgb, quality=90, progressive=True))
    check_equal(jpeg_bytes(rgb[:, :, 0], "L", quality=90))
    data = jpeg_bytes(rgb, quality=90)
    full = decode_image(data)
    assert torch.equal(decode_image(data, crop=(5, 7, 40, 30)), full[:, 7:37, 5:45])


def sixteen_bit_tables(data: bytes) -> bytes:
    """The file with its 8-bit DQT segments rewritten as 16-bit ones (the same values)."""
    out = bytearray(data[:2])
    at = 2
    while at < len(data):
        assert data[at] == 0xFF
        marker = data[at + 1]
        length = struct.unpack(">H", data[at + 2 : at + 4])[0]
        segment = data[at + 4 : at + 2 + length]
        if marker == 0xDB:
            body = bytearray()
            i = 0
            while i < len(segment):
                slot = segment[i] & 15
                body.append(0x10 | slot)
                body += b"".join(struct.pack(">H", v) for v in segment[i + 1 : i + 65])
                i += 65
            out += b"\xff\xdb" + struct.pack(">H", len(body) + 2) + body
        else:
            out += data[at : at + 2 + length]
        at += 2 + length
        if marker == 0xDA:
            out += data[at:]
            break
    return bytes(out)


def test_sixteen_bit_quantisation_tables():
    data = sixteen_bit_tables(jpeg_bytes(smooth_rgb(41, 57, seed=4), quality=20))
    assert b"\xff\xdb" in data
    check_equal(data)


@pytest.mark.parametrize("threads", [1, 2])
def test_band_parallel(threads):
    torch.set_num_threads(threads)
    for i, (w, h) in enumerate([(701, 433), (333, 997)]):
        rgb = smooth_rgb(h, w, seed=30 + i)
        for sampling in SUBSAMPLING.values():
            check_equal(jpeg_bytes(rgb, quality=85, subsampling=sampling))


@pytest.mark.parametrize("threads", [1, 2])
def test_truncated_and_corrupt_files_as_with_libjpeg(threads, monkeypatch):
    torch.set_num_threads(threads)
    data = jpeg_bytes(smooth_rgb(480, 640, seed=2), quality=90)
    for keep in (0.3, 0.9, 0.999):
        with pytest.raises(ImageDecodeError, match="JPEG"):
            decode_image(data[: int(len(data) * keep)])
    rng = np.random.default_rng(1)
    small = restart_jpeg(40, 56, 2)
    for _ in range(60):
        buf = bytearray(small)
        for _ in range(rng.integers(1, 5)):
            buf[rng.integers(200, len(buf))] = rng.integers(0, 256)
        results = []
        for flag in ("1", "0"):
            monkeypatch.setenv("TVA_JPEG_NATIVE", flag)
            try:
                results.append(decode_image(bytes(buf)))
            except ImageDecodeError as e:
                results.append(str(e))
        if isinstance(results[0], str):
            assert results[0] == results[1]
        else:
            assert torch.equal(results[0], results[1])


def test_entropy_decode_measurement_aid():
    """_jpeg_entropy_decode, the benchmarks' floor for reduced-size decoding: every iMCU row's Huffman
    symbols read (own decoder for baseline files, libjpeg-turbo's coefficient read for the others),
    at every scale; bad data and bad scales raise."""
    ops = torch.ops.torchvision_adapter
    rgb = smooth_rgb(63, 65, seed=3)
    for sampling, mcu_h in (("4:2:0", 16), ("4:4:4", 8)):
        data = torch.frombuffer(bytearray(jpeg_bytes(rgb, quality=90, subsampling=SUBSAMPLING[sampling])),
                                dtype=torch.uint8)
        for scale in (1, 2, 4, 8):
            assert ops._jpeg_entropy_decode(data, scale) == -(-63 // mcu_h)
    progressive = torch.frombuffer(bytearray(jpeg_bytes(rgb, quality=90, progressive=True)), dtype=torch.uint8)
    assert ops._jpeg_entropy_decode(progressive, 8) == 4
    data = bytearray(jpeg_bytes(smooth_rgb(64, 64, seed=4), quality=90, subsampling=0))
    sos = data.index(b"\xff\xda")
    scan = sos + 2 + struct.unpack(">H", data[sos + 2:sos + 4])[0]
    # All-ones bits (0xFF, stuffed as FF 00) are no Huffman code of the standard tables.
    data[scan:scan + 64] = b"\xff\x00" * 32
    with pytest.raises(RuntimeError, match="jpeg_entropy_decode"):
        ops._jpeg_entropy_decode(torch.frombuffer(data, dtype=torch.uint8), 1)
    with pytest.raises(RuntimeError, match="scale should be 1, 2, 4 or 8"):
        ops._jpeg_entropy_decode(progressive, 3)
    with pytest.raises(RuntimeError):
        ops._jpeg_entropy_decode(torch.zeros(10, dtype=torch.uint8), 1)
