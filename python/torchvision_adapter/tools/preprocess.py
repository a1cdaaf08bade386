"""Preprocess a folder of images into model inputs on disk, mmdetection style.

    python -m torchvision_adapter.tools.preprocess --images val2017/ --output val2017_bin/ \\
        --scale 1333,800 --pad-to 800,1216 --format bin --workers 2

Each image is resized keeping its aspect ratio (to fit ``--scale`` = long edge, short edge), normalised
((x - mean) / std on the 0-255 scale, RGB) and padded at the bottom and right (to ``--pad-to`` =
height,width, or to a multiple of ``--size-divisor``). Every image gives ``<stem>.npy`` (or ``.bin``,
raw float32) of shape [3, H, W], and ``meta.json`` records, per image, its original size, the scale
factors and the padding: what the post-processing needs to map boxes back to the original image.
"""
import argparse
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from ._common import ToolError, image_id_of, list_images, progress, stem, write_atomic, write_json

MMDET_MEAN = (123.675, 116.28, 103.53)
MMDET_STD = (58.395, 57.12, 57.375)


def keep_ratio_size(height: int, width: int, scale: Sequence[int]) -> Tuple[int, int, float]:
    """mmdetection's keep-ratio rescale: the largest factor with long edge <= max(scale) and short
    edge <= min(scale). Returns (new height, new width, factor)."""
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5), factor


def detection_preprocess(image: torch.Tensor, scale: Sequence[int] = (1333, 800),
                         mean: Sequence[float] = MMDET_MEAN, std: Sequence[float] = MMDET_STD,
                         pad_to: Optional[Sequence[int]] = None, size_divisor: int = 32,
                         keep_ratio: bool = True) -> Tuple[torch.Tensor, Dict]:
    """Resize (bilinear), normalise and pad one image.

    Args:
        image (Tensor[3, H, W], uint8): RGB pixels.
        scale: (long edge, short edge) limits with ``keep_ratio``; (height, width) without.
        pad_to: (height, width) of the padded result, or None to pad to a multiple of size_divisor.

    Returns:
        (Tensor[3, H', W'] float32, meta) with meta's ``orig_size``, ``resized_size``,
        ``scale_factor`` ([width factor, height factor]) and ``pad`` ([top, left, bottom, right]).

    This is the one place the tools preprocess detection inputs, written with torch operators; a
    native kernel with the same contract can replace its body.
    """
    if image.dim() != 3 or image.shape[0] != 3 or image.dtype != torch.uint8:
        raise ToolError(f"image should be a uint8 tensor [3, H, W], got {image.dtype} {list(image.shape)}")
    h, w = image.shape[1:]
    if keep_ratio:
        nh, nw, _ = keep_ratio_size(h, w, scale)
    else:
        nh, nw = scale
    x = image.to(torch.float32)[None]
    if (nh, nw) != (h, w):
        x = torch.nn.functional.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
    x = x[0]
    x = (x - torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)) / torch.tensor(
        std, dtype=torch.float32).view(3, 1, 1)
    if pad_to is not None:
        ph, pw = pad_to
        if nh > ph or nw > pw:
            raise ToolError(f"resized image {nh}x{nw} does not fit --pad-to {ph}x{pw}")
    else:
        ph = int(math.ceil(nh / size_divisor) * size_divisor)
        pw = int(math.ceil(nw / size_divisor) * size_divisor)
    x = torch.nn.functional.pad(x, (0, pw - nw, 0, ph - nh), value=0.0)
    meta = {
        "orig_size": [int(h), int(w)],
        "resized_size": [int(nh), int(nw)],
        "scale_factor": [nw / w, nh / h],
        "pad": [0, 0, int(ph - nh), int(pw - nw)],
        "input_size": [int(ph), int(pw)],
    }
    return x.contiguous(), meta


def read_image(path: str) -> torch.Tensor:
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except Exception as e:  # noqa: BLE001 (PIL raises many types)
        raise ToolError(f"cannot decode image '{path}': {e}") from None
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous()


def preprocess_folder(images: str, output: str, fmt: str = "npy", workers: int = 2,
                      show_progress: Optional[bool] = None, **options) -> Dict:
    """Preprocesses every image of ``images`` into ``output``; returns the meta written to meta.json."""
    if fmt not in ("npy", "bin"):
        raise ToolError(f"--format must be npy or bin, got '{fmt}'")
    files = list_images(images)
    os.makedirs(output, exist_ok=True)

    def one(item):
        index, path = item
        x, meta = detection_preprocess(read_image(path), **options)
        name = f"{stem(path)}.{fmt}"
        arr = x.numpy()
        if fmt == "npy":
            import io

            buf = io.BytesIO()
            np.save(buf, arr)
            write_atomic(os.path.join(output, name), buf.getvalue())
        else:
            write_atomic(os.path.join(output, name), arr.tobytes())
        meta.update(file=os.path.basename(path), input_file=name, image_id=image_id_of(path, index))
        return stem(path), meta

    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the images run in parallel; each on one thread
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            results = dict(progress(pool.map(one, enumerate(files)), len(files), "preprocess",
                                    show_progress))
    finally:
        torch.set_num_threads(torch_threads)
    first = next(iter(results.values()))
    meta = {
        "preprocess": {"format": fmt, "dtype": "float32", "layout": "CHW",
                       **{k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}},
        "input_shape": [3, *first["input_size"]] if options.get("pad_to") else None,
        "images": results,
    }
    write_json(os.path.join(output, "meta.json"), meta)
    return meta


def _pair(text: Optional[str], option: str):
    if text is None:
        return None
    try:
        values = [int(v) for v in text.replace("x", ",").split(",") if v]
    except ValueError:
        values = []
    if len(values) != 2:
        raise ToolError(f"--{option} takes two integers, e.g. 800,1216; got '{text}'")
    return tuple(values)


def _floats(text: str, option: str):
    try:
        values = tuple(float(v) for v in text.split(",") if v)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ToolError(f"--{option} takes three numbers (R,G,B); got '{text}'")
    return values


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m torchvision_adapter.tools.preprocess",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--images", required=True, help="folder of images")
    p.add_argument("--output", required=True, help="folder for the tensors and meta.json")
    p.add_argument("--scale", default="1333,800", help="long,short edge limits (keep ratio) [1333,800]")
    p.add_argument("--no-keep-ratio", action="store_true", help="resize to exactly --scale (height,width)")
    p.add_argument("--pad-to", help="pad to HEIGHT,WIDTH (fixed model input size)")
    p.add_argument("--size-divisor", type=int, default=32, help="without --pad-to, pad to a multiple [32]")
    p.add_argument("--mean", default=",".join(map(str, MMDET_MEAN)))
    p.add_argument("--std", default=",".join(map(str, MMDET_STD)))
    p.add_argument("--format", default="npy", choices=("npy", "bin"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--progress", action="store_true", help="progress bar even when stderr is not a terminal")
    args = p.parse_args(argv)
    try:
        meta = preprocess_folder(
            args.images, args.output, args.format, args.workers, True if args.progress else None,
            scale=_pair(args.scale, "scale"), mean=_floats(args.mean, "mean"),
            std=_floats(args.std, "std"), pad_to=_pair(args.pad_to, "pad-to"),
            size_divisor=args.size_divisor, keep_ratio=not args.no_keep_ratio)
    except (ToolError, OSError) as e:
        print(f"preprocess: error: {e}", file=sys.stderr)
        return 1
    print(f"preprocessed {len(meta['images'])} image(s) into {args.output} (meta.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
