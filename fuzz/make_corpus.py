"""Seeds the fuzz corpus with small generated images: every JPEG and PNG variant the tests use."""
import io
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from io_samples import cmyk_jpeg, jpeg_bytes, png_variants, restart_jpeg, smooth_rgb  # noqa: E402


def seeds():
    rgb = smooth_rgb(21, 29, 1)
    yield "baseline.jpg", jpeg_bytes(rgb, quality=90)
    yield "444.jpg", jpeg_bytes(rgb, quality=90, subsampling=0)
    yield "422.jpg", jpeg_bytes(rgb, quality=90, subsampling=1)
    yield "progressive.jpg", jpeg_bytes(rgb, quality=80, progressive=True)
    yield "gray.jpg", jpeg_bytes(rgb[:, :, 0], "L", quality=90)
    yield "cmyk.jpg", cmyk_jpeg(9, 11)
    yield "ycck.jpg", cmyk_jpeg(9, 11, ycck=True)
    yield "restart.jpg", restart_jpeg(17, 19, 1)
    yield "1x1.jpg", jpeg_bytes(rgb[:1, :1], quality=90)
    # Large enough (>= 0.2 MP) for the band-parallel decoder, small enough as a file (flat colour).
    yield "banded.jpg", jpeg_bytes(np.full((480, 640, 3), 90, np.uint8), quality=50)
    for name, data in png_variants():
        yield f"{name}.png", data


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    n = 0
    for name, data in seeds():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
        n += 1
    print(f"[fuzz] {n} seed images in {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1])
