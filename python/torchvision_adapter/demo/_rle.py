"""COCO run-length encoding of binary masks (the ``{"size": [h, w], "counts": str}`` form).

Masks are read in column-major order, runs alternate background/foreground starting with background,
and the string packs each run (from the third on, as a difference to the run two before) in 5-bit
groups offset by 48, the format COCO's annotation files and pycocotools use.
"""
from typing import Dict, List

import numpy as np


def _runs(mask: np.ndarray) -> List[int]:
    flat = np.asarray(mask, dtype=np.uint8).ravel(order="F")
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)
    return runs


def _pack(runs: List[int]) -> str:
    out = []
    for i, x in enumerate(runs):
        if i > 2:
            x -= runs[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: negative differences keep their sign
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def _unpack(s: str) -> List[int]:
    runs: List[int] = []
    p = 0
    while p < len(s):
        x = 0
        k = 0
        more = True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def encode(mask: np.ndarray) -> Dict:
    """Binary ``mask`` (H, W) to a compressed COCO RLE."""
    h, w = mask.shape
    return {"size": [int(h), int(w)], "counts": _pack(_runs(mask))}


def decode(rle: Dict) -> np.ndarray:
    """Compressed (str) or uncompressed (list) COCO RLE to a uint8 mask (H, W)."""
    h, w = rle["size"]
    counts = rle["counts"]
    runs = _unpack(counts.decode() if isinstance(counts, bytes) else counts) if isinstance(
        counts, (str, bytes)) else list(counts)
    flat = np.zeros(h * w, dtype=np.uint8)
    pos = 0
    for i, n in enumerate(runs):
        if i % 2:
            flat[pos:pos + n] = 1
        pos += n
    return flat.reshape((w, h)).T.copy()


def area(rle: Dict) -> int:
    return int(decode(rle).sum())


def to_bbox(mask: np.ndarray) -> List[float]:
    """[x, y, w, h] of the pixels set in ``mask`` (COCO's convention: w = last - first + 1)."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() - x0 + 1), float(ys.max() - y0 + 1)]
