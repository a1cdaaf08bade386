"""Test images made at test time: JPEG variants through PIL/OpenCV, PNG variants through a small PNG
writer (every colour type, bit depth and interlacing), and the photos Debian's mate-backgrounds ships."""
import glob
import io
import struct
import zlib

import numpy as np
import torch
import torchvision.io as tio
from PIL import Image

from torchvision_adapter.io import decode_image

MATE_PHOTOS = sorted(glob.glob("/usr/share/backgrounds/mate/nature/*.jpg"))


def smooth_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: gradients plus noise, so that JPEG has real work to do."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(w + h - 2, 1)], -1)
    noise = rng.normal(0, 20, (h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def jpeg_bytes(array: np.ndarray, mode: str = "RGB", **save_kw) -> bytes:
    im = Image.fromarray(array if mode != "CMYK" else array, mode)
    buf = io.BytesIO()
    im.save(buf, "JPEG", **save_kw)
    return buf.getvalue()


def cmyk_jpeg(h: int, w: int, seed: int = 0, ycck: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    data = jpeg_bytes(array, "CMYK", quality=90)
    if ycck:
        # PIL writes an Adobe APP14 marker with transform 0 (CMYK); transform 2 declares YCCK, which
        # libjpeg then converts to CMYK when decoding.
        at = data.index(b"Adobe")
        data = data[: at + 11] + b"\x02" + data[at + 12 :]
    return data


def restart_jpeg(h: int, w: int, interval: int = 2) -> bytes:
    import cv2

    ok, enc = cv2.imencode(".jpg", smooth_rgb(h, w, 3)[:, :, ::-1], [cv2.IMWRITE_JPEG_RST_INTERVAL, interval])
    assert ok
    return enc.tobytes()


# --- PNG -------------------------------------------------------------------------------------------

_ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _pack_rows(samples: np.ndarray, bit_depth: int) -> bytes:
    """samples: [h, w * channels] of ints; rows prefixed with filter type 0."""
    out = bytearray()
    for row in samples:
        out.append(0)
        if bit_depth == 16:
            out += row.astype(">u2").tobytes()
        elif bit_depth == 8:
            out += row.astype(np.uint8).tobytes()
        else:
            per_byte = 8 // bit_depth
            padded = np.zeros(-(-len(row) // per_byte) * per_byte, dtype=np.uint8)
            padded[: len(row)] = row
            groups = padded.reshape(-1, per_byte)
            shifts = np.arange(per_byte - 1, -1, -1) * bit_depth
            out += (groups << shifts).sum(1).astype(np.uint8).tobytes()
    return bytes(out)


def png_bytes(samples: np.ndarray, color_type: int, bit_depth: int, interlace: bool = False,
              palette=None, trns: bytes = None) -> bytes:
    """A PNG of `samples` ([h, w, channels] ints in range for the bit depth)."""
    h, w = samples.shape[:2]
    samples = samples.reshape(h, w, -1)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    if interlace:
        raw = b""
        for x0, y0, dx, dy in _ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += _pack_rows(sub.reshape(sub.shape[0], -1), bit_depth)
    else:
        raw = _pack_rows(samples.reshape(h, -1), bit_depth)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if palette is not None:
        out += _chunk(b"PLTE", np.asarray(palette, dtype=np.uint8).tobytes())
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    return out + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def png_variants():
    """(name, bytes) for every PNG colour type and bit depth, plain and interlaced."""
    rng = np.random.default_rng(7)
    h, w = 13, 11
    out = []
    for color_type, depths in [(0, [1, 2, 4, 8, 16]), (2, [8, 16]), (3, [1, 2, 4, 8]), (4, [8, 16]), (6, [8, 16])]:
        for bit_depth in depths:
            for interlace in (False, True):
                samples = rng.integers(0, 2 ** bit_depth, (h, w, _CHANNELS[color_type]))
                palette = None
                if color_type == 3:
                    palette = rng.integers(0, 256, (2 ** bit_depth, 3))
                    samples = samples % len(palette)
                name = f"type{color_type}-{bit_depth}bit{'-interlaced' if interlace else ''}"
                out.append((name, png_bytes(samples, color_type, bit_depth, interlace, palette)))
    # Transparency chunks, which convert("RGB") ignores.
    samples = rng.integers(0, 4, (h, w, 1))
    out.append(("palette-trns", png_bytes(samples, 3, 8, False, rng.integers(0, 256, (4, 3)), b"\x00\x80")))
    out.append(("gray-trns", png_bytes(rng.integers(0, 256, (h, w, 1)), 0, 8, False, None, b"\x00\x10")))
    # Small 16-bit gray values, where PIL's "I" -> "RGB" conversion clips at 255 rather than scaling.
    out.append(("gray16-small", png_bytes(rng.integers(0, 600, (h, w, 1)), 0, 16)))
    out.append(("1x1-rgb", png_bytes(np.array([[[1, 2, 3]]]), 2, 8)))
    return out


def pil_rgb(data: bytes, mode: str = "RGB") -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.array(im.convert(mode))


def chw(array: np.ndarray) -> torch.Tensor:
    """An HWC (or HW) array as a CHW tensor view, the layout the decoders return."""
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


def check_equal(data: bytes):
    """JPEG bytes decode to exactly torchvision.io's and PIL's RGB pixels."""
    out = decode_image(data)
    ref = tio.decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=tio.ImageReadMode.RGB)
    assert out.shape == ref.shape
    assert torch.equal(out, ref)
    assert torch.equal(out, chw(pil_rgb(data)))
