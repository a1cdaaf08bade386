"""Image decoding: torchvision.io / PIL / OpenCV vs this project's native decoder, same files, same
process, and ImageFolder iteration per image backend.

Photos: the JPEGs Debian's mate-backgrounds ships (1.3-4.9 MP), and COCO-sized copies of them made in
a temporary folder (resized to 640x480, re-encoded at quality 90 by PIL). Rates are images per second
(Case.items). Every variant decodes to RGB uint8; native pixels are checked equal to torchvision.io's.

Reduced-size decoding is reported per scale (1/2, 1/4, 1/8) against the full decode and against PIL's
draft at the same scale (pixels checked equal), then for the typical loading step of a training
pipeline: short side >= 256, and a centre crop decoded alone.
"""
import atexit
import glob
import io
import os
import shutil
import tempfile

import numpy as np
import torch
import torchvision
import torchvision.io as tio
from PIL import Image

from ..harness import Case, Variant

MATE = sorted(glob.glob("/usr/share/backgrounds/mate/nature/*.jpg"))
_ops = torch.ops.torchvision_adapter


def _coco_sized_folder() -> str:
    root = tempfile.mkdtemp(prefix="tva-decode-bench-")
    atexit.register(shutil.rmtree, root, True)
    for i, path in enumerate(MATE):
        cls = os.path.join(root, f"class{i % 2}")
        os.makedirs(cls, exist_ok=True)
        with Image.open(path) as im:
            im.convert("RGB").resize((640, 480), Image.BILINEAR).save(
                os.path.join(cls, os.path.basename(path)), quality=90
            )
    return root


def _decode_variants(datas):
    import cv2

    arrays = [np.frombuffer(d.numpy().tobytes(), np.uint8) for d in datas]
    raw = [d.numpy().tobytes() for d in datas]
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION

    def tv():
        for d in datas:
            tio.decode_jpeg(d)

    def pil():
        for b in raw:
            Image.open(io.BytesIO(b)).convert("RGB")

    def opencv():
        for a in arrays:
            cv2.cvtColor(cv2.imdecode(a, flags), cv2.COLOR_BGR2RGB)

    def native():
        for d in datas:
            _ops.decode_image(d)

    return [Variant("torchvision.io", tv), Variant("PIL", pil), Variant("OpenCV", opencv), Variant("native", native)]


def _check_equal(datas):
    def check():
        for d in datas:
            assert torch.equal(_ops.decode_image(d), tio.decode_jpeg(d)), "native differs from torchvision.io"

    return check


def _reduced_case(datas, denom, rounds):
    """Decoding at 1/denom of full size (libjpeg's scaled IDCT, as PIL's draft) against the full decode
    and against PIL's draft at the same scale. Huffman decoding is not reduced by scaling (about half
    of a full decode), so 1/2 gains little; 1/4 and 1/8 also shrink the IDCT and colour work. The
    floor variant is that Huffman decoding alone (at 1/8 with the AC values of 1x1 blocks skipped):
    the least any decode at that scale does, so the full decode's time over it bounds the gain."""
    sizes = [_ops.image_info(d)[1:3] for d in datas]
    raw = [d.numpy().tobytes() for d in datas]

    def full():
        for d in datas:
            _ops.decode_image(d)

    def pil_draft():
        for b, (w, h) in zip(raw, sizes):
            im = Image.open(io.BytesIO(b))
            im.draft("RGB", (w // denom, h // denom))
            im.convert("RGB")

    def native_reduced():
        for d, (w, h) in zip(datas, sizes):
            _ops.decode_image(d, 3, w // denom, h // denom)

    def entropy_only():
        for d in datas:
            _ops._jpeg_entropy_decode(d, denom)

    def check():
        for d, b, (w, h) in zip(datas, raw, sizes):
            im = Image.open(io.BytesIO(b))
            im.draft("RGB", (w // denom, h // denom))
            ref = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
            out = _ops.decode_image(d, 3, w // denom, h // denom)
            assert out.shape[1] == -(-h // denom), "scale not taken"
            assert torch.equal(out, ref)

    return Case(
        "decode",
        f"decode at 1/{denom} size (scaled IDCT), {len(datas)} photos",
        [Variant("native full", full), Variant(f"PIL draft 1/{denom}", pil_draft),
         Variant(f"native 1/{denom}", native_reduced),
         Variant(f"floor: entropy decoding alone at 1/{denom}", entropy_only)],
        rounds=rounds,
        check=check,
        items=len(datas),
    )


def _short_side_crop_case(datas, rounds, short=256):
    """The loading step of a training pipeline: short side >= 256 (the smallest 1/2^k scale that
    covers it), and a RandomResizedCrop-like region (the centre half in each dimension, >= 224)
    decoded alone, against the full decode and PIL's draft + crop."""
    sizes = [_ops.image_info(d)[1:3] for d in datas]
    raw = [d.numpy().tobytes() for d in datas]

    def target(w, h):
        s = short / min(w, h)
        return max(1, int(w * s)), max(1, int(h * s))

    def full():
        for d in datas:
            _ops.decode_image(d)

    def pil_short():
        for b, (w, h) in zip(raw, sizes):
            im = Image.open(io.BytesIO(b))
            im.draft("RGB", target(w, h))
            im.convert("RGB")

    def native_short():
        for d, (w, h) in zip(datas, sizes):
            _ops.decode_image(d, 3, *target(w, h))

    def native_crop():
        for d, (w, h) in zip(datas, sizes):
            _ops.decode_image(d, 3, 224, 224, [w // 4, h // 4, w // 2, h // 2])

    def check():
        for d, b, (w, h) in zip(datas, raw, sizes):
            im = Image.open(io.BytesIO(b))
            im.draft("RGB", target(w, h))
            ref = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
            assert torch.equal(_ops.decode_image(d, 3, *target(w, h)), ref)

    return Case(
        "decode",
        f"decode to short side >= {short}, and a centre crop >= 224, {len(datas)} photos",
        [Variant("native full", full), Variant(f"PIL draft short {short}", pil_short),
         Variant(f"native short {short}", native_short), Variant("native crop 1/2 >= 224", native_crop)],
        rounds=rounds,
        check=check,
        items=len(datas),
    )


def _imagefolder_case(root, rounds):
    ds = torchvision.datasets.ImageFolder(root)

    def iterate(backend):
        def run():
            before = torchvision.get_image_backend()
            torchvision.set_image_backend(backend)
            try:
                for _ in ds:
                    pass
            finally:
                torchvision.set_image_backend(before)

        return run

    def entropy_floor():
        # The least a decoder does: each file read and its Huffman symbols decoded.
        for path, _ in ds.samples:
            _ops._jpeg_entropy_decode(_ops.read_file(path), 1)

    return Case(
        "decode",
        f"ImageFolder + default_loader, {len(ds)} COCO-sized JPEGs",
        [Variant("PIL", iterate("PIL")), Variant("cv2", iterate("cv2")), Variant("native", iterate("native")),
         Variant("floor: files read, entropy decoding alone", entropy_floor)],
        rounds=rounds,
        items=len(ds),
    )


def cases(quick: bool):
    root = _coco_sized_folder()
    coco = [tio.read_file(p) for p in sorted(glob.glob(os.path.join(root, "*", "*.jpg")))]
    photos = [tio.read_file(p) for p in (MATE[:4] if quick else MATE)]
    rounds = 3 if quick else 7
    return [
        Case("decode", f"decode RGB, {len(coco)} COCO-sized JPEGs (640x480 q90)", _decode_variants(coco),
             rounds=rounds, inner=2 if quick else 5, check=_check_equal(coco), items=len(coco)),
        Case("decode", f"decode RGB, {len(photos)} photos (1.3-4.9 MP)", _decode_variants(photos),
             rounds=rounds, check=_check_equal(photos), items=len(photos)),
        _reduced_case(photos, 2, rounds),
        _reduced_case(photos, 4, rounds),
        _reduced_case(photos, 8, rounds),
        _short_side_crop_case(photos, rounds),
        _imagefolder_case(root, rounds),
    ]
