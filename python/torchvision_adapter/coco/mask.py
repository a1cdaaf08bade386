"""pycocotools.mask on native code: the same functions, the same RLE format.

An RLE is a dict ``{'size': [h, w], 'counts': bytes}`` whose counts are COCO's compressed string
(column-major / Fortran order runs, first run counting zeros). Masks are ``uint8`` arrays of shape
``(h, w)`` or ``(h, w, n)``.

Functions: ``encode``, ``decode``, ``area``, ``toBbox``, ``iou``, ``merge``, ``frPyObjects`` (and
``frPoly``, ``frBbox``, ``frUncompressedRLE``). Results are equal to pycocotools' for the same input.
"""
import itertools

import numpy as np
import torch

from .. import _library  # noqa: F401  (the native library is loaded by the package import)

__all__ = ["area", "decode", "encode", "frBbox", "frPoly", "frPyObjects", "frUncompressedRLE", "iou",
           "merge", "toBbox"]

_ops = torch.ops.torchvision_adapter


# ---- packing -----------------------------------------------------------------------------------

def _counts_bytes(c):
    if isinstance(c, bytes):
        return c
    if isinstance(c, str):
        return c.encode("ascii")
    if isinstance(c, (bytearray, memoryview)):
        return bytes(c)
    raise TypeError(f"RLE counts must be a compressed string (str or bytes), got {type(c).__name__}")


def _pack(rleObjs):
    """Compressed RLE dicts -> [chars, lens, h, w] tensors."""
    counts = [r["counts"] for r in rleObjs]
    try:
        joined = "".join(counts).encode("ascii")
        lens = np.fromiter(map(len, counts), dtype=np.int64, count=len(counts))
    except TypeError:
        encoded = [_counts_bytes(c) for c in counts]
        joined = b"".join(encoded)
        lens = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    try:
        sizes = np.fromiter(itertools.chain.from_iterable(r["size"] for r in rleObjs), dtype=np.int64,
                            count=2 * len(rleObjs)).reshape(-1, 2)
    except ValueError:
        raise ValueError("every RLE needs a 'size' of two integers [h, w]") from None
    chars = torch.frombuffer(bytearray(joined), dtype=torch.uint8) if joined else torch.empty(0, dtype=torch.uint8)
    return [chars, torch.from_numpy(lens), torch.from_numpy(sizes[:, 0].copy()),
            torch.from_numpy(sizes[:, 1].copy())]


def _unpack(packed):
    """[chars, lens, h, w] tensors -> list of compressed RLE dicts (counts as bytes)."""
    chars, lens, h, w = packed
    data = chars.numpy().tobytes()
    ends = np.cumsum(lens.numpy()).tolist()
    hs, ws = h.tolist(), w.tolist()
    out, start = [], 0
    for j, end in enumerate(ends):
        out.append({"size": [hs[j], ws[j]], "counts": data[start:end]})
        start = end
    return out


def _is_rle(obj):
    return isinstance(obj, dict) and "counts" in obj and "size" in obj


# ---- pycocotools.mask API ----------------------------------------------------------------------

def _encode(bimask):
    if not isinstance(bimask, np.ndarray) or bimask.ndim != 3:
        raise ValueError("encode: bimask must be a numpy array of shape (h, w, n)")
    if bimask.dtype != np.uint8:
        raise ValueError(f"encode: bimask must be uint8, got {bimask.dtype}")
    h, w, n = bimask.shape
    cols = torch.from_numpy(np.ascontiguousarray(bimask.transpose(2, 1, 0)))  # [n, w, h]
    return _unpack(_ops.coco_rle_encode(cols))


def encode(bimask):
    """Encodes binary masks (h, w) or (h, w, n) of uint8 into RLEs (one dict, or a list of n)."""
    if len(bimask.shape) == 3:
        return _encode(bimask)
    elif len(bimask.shape) == 2:
        h, w = bimask.shape
        return _encode(bimask.reshape((h, w, 1), order="F"))[0]
    raise ValueError(f"encode: bimask must have 2 or 3 dimensions, got shape {bimask.shape}")


def decode(rleObjs):
    """Decodes RLEs into masks: a list gives (h, w, n), a single RLE gives (h, w); uint8, Fortran order."""
    if type(rleObjs) == list:
        if len(rleObjs) == 0:
            raise ValueError("decode: needs at least one RLE")
        out = _ops.coco_rle_decode(*_pack(rleObjs))  # [n, w, h]
        return out.numpy().transpose(2, 1, 0)
    return decode([rleObjs])[:, :, 0]


def area(rleObjs):
    """Foreground pixel counts (uint32): an array for a list, a scalar for one RLE."""
    if type(rleObjs) == list:
        if len(rleObjs) == 0:
            return np.zeros((0,), dtype=np.uint32)
        return _ops.coco_rle_area(*_pack(rleObjs)).numpy().astype(np.uint32)
    return area([rleObjs])[0]


def toBbox(rleObjs):
    """Bounding boxes [x, y, w, h] (float64): (n, 4) for a list, (4,) for one RLE."""
    if type(rleObjs) == list:
        if len(rleObjs) == 0:
            return np.zeros((0, 4), dtype=np.float64)
        return _ops.coco_rle_to_bbox(*_pack(rleObjs)).numpy()
    return toBbox([rleObjs])[0]


def merge(rleObjs, intersect=False):
    """Union (or intersection with intersect=True) of a list of RLEs of one size, as one RLE."""
    if len(rleObjs) == 0:
        return {"size": [0, 0], "counts": b""}
    return _unpack(_ops.coco_rle_merge(*_pack(rleObjs), bool(intersect)))[0]


def _preproc(objs):
    """('box', (n, 4) float64 array) or ('rle', packed tensors, n), as pycocotools' _preproc."""
    if len(objs) == 0:
        return None, None, 0
    if type(objs) == np.ndarray:
        if len(objs.shape) == 1:
            objs = objs.reshape((1, objs.shape[0]))
        if not len(objs.shape) == 2 or not objs.shape[1] == 4:
            raise Exception("numpy ndarray input is only for *bounding boxes* and should have Nx4 dimension")
        objs = objs.astype(np.double)
        return "box", objs, objs.shape[0]
    if type(objs) == list:
        isbox = all((type(obj) == list or type(obj) == np.ndarray) and len(obj) == 4 for obj in objs)
        isrle = all(type(obj) == dict for obj in objs)
        if isbox:
            objs = np.array(objs, dtype=np.double)
            if len(objs.shape) == 1:
                objs = objs.reshape((1, objs.shape[0]))
            return "box", objs, objs.shape[0]
        if isrle:
            return "rle", _pack(objs), len(objs)
        raise Exception("list input can be bounding box (Nx4) or RLEs ([RLE])")
    raise Exception("unrecognized type.  The following type: RLEs (rle), np.ndarray (box), and list (box) are supported.")


def iou(dt, gt, pyiscrowd):
    """IoU of every dt with every gt, shape (len(dt), len(gt)), float64; [] when either is empty.

    dt, gt: both lists of RLEs, or both boxes [x, y, w, h] (list of lists or an (n, 4) array).
    pyiscrowd: one flag per gt; for a crowd gt the union is the detection's area.
    """
    iscrowd = np.array(pyiscrowd, dtype=np.uint8).reshape(-1)
    dk, d, m = _preproc(dt)
    gk, g, n = _preproc(gt)
    if m == 0 or n == 0:
        return []
    if dk != gk:
        raise Exception("The dt and gt should have the same data type, either RLEs, list or np.ndarray")
    if len(iscrowd) != n:
        raise ValueError(f"iou: iscrowd must have one flag per gt ({n}), got {len(iscrowd)}")
    crowd = torch.from_numpy(iscrowd.astype(np.int64))
    if dk == "box":
        return _ops.coco_bbox_iou(torch.from_numpy(d), torch.from_numpy(g), crowd).numpy()
    return _ops.coco_rle_iou(d, g, crowd).numpy()


# ---- conversions from annotation formats ---------------------------------------------------------

class _SegmSpec:
    """Accumulates segmentations for one coco_segm_to_rle call."""

    def __init__(self):
        self.kinds, self.h, self.w, self.npoly = [], [], [], []
        self.poly_lens, self.coords = [], []
        self.ucount_lens, self.ucounts = [], []
        self.str_lens, self.strs = [], []

    def _item(self, kind, h, w, npoly=0, ulen=0, slen=0):
        self.kinds.append(kind)
        self.h.append(int(h))
        self.w.append(int(w))
        self.npoly.append(npoly)
        self.ucount_lens.append(ulen)
        self.str_lens.append(slen)

    def polygons(self, polys, h, w, boxes=False):
        polys = [list(np.asarray(p, dtype=np.double).reshape(-1)) if isinstance(p, np.ndarray) else p
                 for p in polys]
        self._item(1 if boxes else 0, h, w, npoly=len(polys))
        for p in polys:
            self.poly_lens.append(len(p))
            self.coords.extend(p)

    def uncompressed(self, rle):
        counts = rle["counts"]
        h, w = rle["size"]
        self._item(2, h, w, ulen=len(counts))
        self.ucounts.extend(counts)

    def compressed(self, rle, h=None, w=None):
        c = _counts_bytes(rle["counts"])
        hh, ww = rle["size"]
        self._item(3, hh, ww, slen=len(c))
        self.strs.append(c)

    def run(self):
        L = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
        coords = torch.tensor(self.coords, dtype=torch.float64) if self.coords else torch.empty(0, dtype=torch.float64)
        ucounts = np.array(self.ucounts, dtype=np.int64) if self.ucounts else np.zeros(0, np.int64)
        if (ucounts < 0).any() or (ucounts > 0xFFFFFFFF).any():
            raise ValueError("uncompressed RLE counts must be in [0, 2**32)")
        joined = b"".join(self.strs)
        chars = torch.frombuffer(bytearray(joined), dtype=torch.uint8) if joined else torch.empty(0, dtype=torch.uint8)
        return _ops.coco_segm_to_rle(L(self.kinds), L(self.h), L(self.w), L(self.npoly), L(self.poly_lens),
                                     coords, L(self.ucount_lens), torch.from_numpy(ucounts), L(self.str_lens), chars)


def frBbox(bb, h, w):
    """RLEs of boxes [x, y, w, h] (an (n, 4) array or list of 4-lists) in an h x w image."""
    bb = np.asarray(bb, dtype=np.double).reshape(-1, 4)
    spec = _SegmSpec()
    for b in bb:
        spec.polygons([list(b)], h, w, boxes=True)
    return _unpack(spec.run())


def frPoly(poly, h, w):
    """One RLE per polygon [x1, y1, x2, y2, ...] in an h x w image (not merged)."""
    spec = _SegmSpec()
    for p in poly:
        spec.polygons([list(np.asarray(p, dtype=np.double).reshape(-1))], h, w)
    return _unpack(spec.run())


def frUncompressedRLE(ucRles, h, w):
    """Compressed RLEs of uncompressed ones ({'size': [h, w], 'counts': [int, ...]})."""
    spec = _SegmSpec()
    for r in ucRles:
        spec.uncompressed(r)
    return _unpack(spec.run())


def frPyObjects(pyobj, h, w):
    """RLEs from polygons, boxes or uncompressed RLEs, as pycocotools.mask.frPyObjects.

    A list of boxes (4 numbers each) or of polygons gives a list of RLEs; an (n, 4) array gives boxes;
    a list of uncompressed RLE dicts gives a list; a single box, polygon or uncompressed RLE gives one.
    """
    if type(pyobj) == np.ndarray:
        return frBbox(pyobj, h, w)
    if type(pyobj) == list and len(pyobj) > 0 and not np.isscalar(pyobj[0]):
        first = pyobj[0]
        if not isinstance(first, dict) and len(first) == 4:
            return frBbox(pyobj, h, w)
        if not isinstance(first, dict) and len(first) > 4:
            return frPoly(pyobj, h, w)
        if _is_rle(first):
            return frUncompressedRLE(pyobj, h, w)
    if type(pyobj) == list and len(pyobj) == 4:
        return frBbox([pyobj], h, w)[0]
    if type(pyobj) == list and len(pyobj) > 4:
        return frPoly([pyobj], h, w)[0]
    if _is_rle(pyobj):
        return frUncompressedRLE([pyobj], h, w)[0]
    raise Exception("input type is not supported.")
