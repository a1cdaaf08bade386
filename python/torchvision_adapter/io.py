"""Image reading and decoding on this project's native decoders.

JPEG (libjpeg-turbo) and PNG (libspng) are decoded natively; every other format PIL can open (BMP, GIF,
WebP, TIFF, ...) goes through PIL and is converted the same way, so decoding never fails where PIL
succeeds. Results are uint8 tensors ``[C, H, W]`` equal to ``PIL.Image.open(f).convert("RGB")`` (RGB
mode) and, for JPEG, to ``torchvision.io.decode_jpeg``. Like torchvision's, the tensor's memory is
channels-last (a permuted ``[H, W, C]`` buffer); call ``.contiguous()`` for planar memory.

When the native decoder rejects a JPEG or PNG that PIL nevertheless reads (PIL's
``ImageFile.LOAD_TRUNCATED_IMAGES``, a progressive JPEG of more than 500 scans, ...), PIL's result is
returned (at full size); when both reject it, the native error is raised.

The operators behind these functions are usable from TorchScript and C++:
``torch.ops.torchvision_adapter.decode_image(data, mode=3, min_width=0, min_height=0, crop=[],
max_pixels=-1, fast=False)``, ``read_image(path, ...)``, ``read_file(path)`` and ``image_info(data)``
(JPEG and PNG only; the PIL fallback is Python).
"""
import io as _io
import warnings
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torchvision.io import ImageReadMode

__all__ = [
    "ImageDecodeError",
    "ImageReadMode",
    "decode_image",
    "get_max_image_pixels",
    "image_info",
    "read_file",
    "read_image",
    "set_max_image_pixels",
]

_ops = torch.ops.torchvision_adapter
_FORMATS = {0: None, 1: "JPEG", 2: "PNG"}


class ImageDecodeError(OSError, RuntimeError):
    """An image could not be read or decoded (bad, truncated or oversized data, unreadable file).

    Both an ``OSError`` (what PIL raises for bad images) and a ``RuntimeError`` (what torchvision.io
    raises), so existing ``except`` clauses for either keep working.
    """


ModeLike = Union[ImageReadMode, int, str]
_MODE_NAMES = {"unchanged": 0, "gray": 1, "l": 1, "rgb": 3}


def _mode_value(mode: ModeLike) -> int:
    if isinstance(mode, ImageReadMode):
        value = mode.value
    elif isinstance(mode, str):
        value = _MODE_NAMES.get(mode.lower(), -1)
    else:
        value = int(mode)
    if value not in (0, 1, 3):
        raise ValueError(
            f"mode should be ImageReadMode.UNCHANGED, GRAY or RGB (or 'unchanged', 'gray', 'RGB'), got {mode!r}"
        )
    return value


def _as_byte_tensor(data) -> Tensor:
    if isinstance(data, Tensor):
        if data.dtype != torch.uint8 or data.dim() != 1:
            raise TypeError(
                f"data should be a 1-D uint8 tensor of encoded bytes, got {data.dim()}-D {data.dtype}"
            )
        return data
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise TypeError(f"data should be a uint8 array of encoded bytes, got dtype {data.dtype}")
        with warnings.catch_warnings():
            # Read-only arrays (np.frombuffer of bytes) are fine: the decoders never write their input.
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(np.ascontiguousarray(data).reshape(-1))
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) == 0:
            return torch.empty(0, dtype=torch.uint8)
        with warnings.catch_warnings():
            # bytes are read-only; the decoders never write to their input.
            warnings.simplefilter("ignore", UserWarning)
            return torch.frombuffer(data, dtype=torch.uint8)
    raise TypeError(f"data should be bytes, bytearray, memoryview, a uint8 numpy array or tensor, got {type(data)}")


def _message(e: Exception) -> str:
    """The error's message without the C++ backtrace c10 may append."""
    return str(e).split("\nException raised from")[0]


def _crop_list(crop: Optional[Sequence[int]]):
    if crop is None:
        return []
    crop = [int(v) for v in crop]
    if len(crop) != 4:
        raise ValueError(f"crop should be (x, y, width, height), got {len(crop)} values")
    return crop


def _min_size(size) -> Tuple[int, int]:
    """``size`` is (width, height) or one int for both."""
    if size is None:
        return 0, 0
    if isinstance(size, int):
        return size, size
    w, h = size
    return int(w), int(h)


def _max_pixels_value(max_pixels: Optional[int]) -> int:
    return -1 if max_pixels is None else max(0, int(max_pixels))


def _decode_with_pil(data: Tensor, mode: int, crop, max_pixels: int, name: str) -> Tensor:
    from PIL import Image

    limit = get_max_image_pixels() if max_pixels < 0 else max_pixels
    try:
        with Image.open(_io.BytesIO(data.numpy().tobytes())) as im:
            if limit > 0 and im.width * im.height > limit:
                raise ImageDecodeError(
                    f"{name}: image of {im.width}x{im.height} = {im.width * im.height} pixels exceeds "
                    f"the limit of {limit} pixels (a possible decompression bomb; raise max_pixels to allow it)"
                )
            if crop:
                x, y, w, h = crop
                if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > im.width or y + h > im.height:
                    raise ValueError(f"crop {tuple(crop)} is outside the {im.width}x{im.height} image")
            if mode == 3:
                im = im.convert("RGB")
            elif mode == 1:
                im = im.convert("L")
            elif im.mode not in ("L", "LA", "RGB", "RGBA"):
                im = im.convert("RGBA" if im.mode in ("PA", "RGBa", "La") else "RGB")
            if crop:
                x, y, w, h = crop
                im = im.crop((x, y, x + w, y + h))
            array = np.array(im, dtype=np.uint8)
    except (ImageDecodeError, ValueError):
        raise
    except Exception as e:  # PIL's UnidentifiedImageError, truncation errors, ...
        raise ImageDecodeError(f"{name}: cannot decode image: {e}") from e
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array).permute(2, 0, 1)


def decode_image(
    data,
    mode: ModeLike = ImageReadMode.RGB,
    *,
    min_size=None,
    crop: Optional[Sequence[int]] = None,
    max_pixels: Optional[int] = None,
    fast: bool = False,
) -> Tensor:
    """Decodes an encoded image to a uint8 tensor ``[C, H, W]``.

    Args:
        data: the encoded bytes (bytes, bytearray, memoryview, uint8 numpy array or 1-D uint8 tensor).
        mode: ``ImageReadMode.RGB`` (3 channels, as PIL's ``convert("RGB")``), ``GRAY`` (1 channel:
            JPEG's stored luma as torchvision/libjpeg give it, PIL's ``convert("L")`` for other formats)
            or ``UNCHANGED`` (the file's channels: 1, 2, 3 or 4; palettes expanded to RGB).
        min_size: ``(width, height)`` or an int. JPEG only: decode at the smallest of the scales 1/2,
            1/4, 1/8 that still gives at least this size (of the crop, if any) — pixels equal to PIL's
            ``Image.draft`` at that scale. Other formats decode at full size.
        crop: ``(x, y, width, height)`` in full-resolution pixels: decode only this region (for JPEG
            only the rows and columns around it are reconstructed). With ``min_size``, the output is the
            region of the scaled image ``[x // s, ceil((x + width) / s))`` (likewise for y).
        max_pixels: refuse images with more pixels than this (decompression bombs); ``None`` uses
            :func:`get_max_image_pixels`, ``0`` disables the check.
        fast: JPEG only: libjpeg's fast integer IDCT without fancy upsampling. Changes pixels; off by
            default.

    Raises:
        ImageDecodeError (an OSError and a RuntimeError): bad, truncated or oversized data.
    """
    bytes_ = _as_byte_tensor(data)
    mode_value = _mode_value(mode)
    crop_list = _crop_list(crop)
    min_w, min_h = _min_size(min_size)
    limit = _max_pixels_value(max_pixels)
    if bytes_.numel() == 0:
        raise ImageDecodeError("decode_image: the data is empty (0 bytes)")
    head = bytes(bytes_[:8].numpy()) if bytes_.numel() >= 8 else bytes(bytes_.numpy())
    if not (head.startswith(b"\xff\xd8\xff") or head == b"\x89PNG\r\n\x1a\n"):
        return _decode_with_pil(bytes_, mode_value, crop_list, limit, "decode_image")
    try:
        return _ops.decode_image(bytes_, mode_value, min_w, min_h, crop_list, limit, fast)
    except RuntimeError as e:
        return _pil_rescue(bytes_, mode_value, crop_list, limit, _message(e))


def _pil_rescue(data: Tensor, mode: int, crop, max_pixels: int, native_error: str) -> Tensor:
    """After the native decoder rejected the data: PIL's decoding if PIL reads it (e.g. with
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` set, or a progressive JPEG of more than 500 scans), so that
    decoding never fails where PIL succeeds; else the native error, which says what is wrong."""
    try:
        return _decode_with_pil(data, mode, crop, max_pixels, native_error)
    except ImageDecodeError:
        pass
    except ValueError:
        pass
    raise ImageDecodeError(native_error) from None


def read_file(path: str) -> Tensor:
    """The file's bytes in one read, as a 1-D uint8 tensor."""
    try:
        return _ops.read_file(str(path))
    except RuntimeError as e:
        raise ImageDecodeError(_message(e)) from None


def read_image(
    path: str,
    mode: ModeLike = ImageReadMode.RGB,
    *,
    min_size=None,
    crop: Optional[Sequence[int]] = None,
    max_pixels: Optional[int] = None,
    fast: bool = False,
) -> Tensor:
    """Reads and decodes an image file; see :func:`decode_image`. Errors name the file."""
    data = read_file(path)
    try:
        return decode_image(data, mode, min_size=min_size, crop=crop, max_pixels=max_pixels, fast=fast)
    except ImageDecodeError as e:
        raise ImageDecodeError(f"cannot decode image file '{path}': {e}") from None


def image_info(data) -> Tuple[Optional[str], int, int, int]:
    """(format, width, height, channels) from the header of a JPEG or PNG; ``(None, 0, 0, 0)`` for
    other formats."""
    bytes_ = _as_byte_tensor(data)
    try:
        fmt, w, h, c = _ops.image_info(bytes_)
    except RuntimeError as e:
        raise ImageDecodeError(_message(e)) from None
    return _FORMATS[fmt], w, h, c


def set_max_image_pixels(n: Optional[int]) -> None:
    """Images with more than ``n`` pixels are refused (default 178,956,970, PIL's own hard limit);
    ``None`` or 0 disables the check."""
    _ops._set_max_image_pixels(0 if n is None else max(0, int(n)))


def get_max_image_pixels() -> int:
    return int(_ops._get_max_image_pixels())
