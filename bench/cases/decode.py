"""Image decoding: torchvision.io / PIL / OpenCV vs this project's native decoder, same files, same
process, and ImageFolder iteration per image backend.

Photos: the JPEGs Debian's mate-backgrounds ships (1.3-4.9 MP), and COCO-sized copies of them made in
a temporary folder (resized to 640x480, re-encoded at quality 90 by PIL). Rates are images per second
(Case.items). Every variant decodes to RGB uint8; native pixels are checked equal to torchvision.io's.
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

    def check():
        for d, b, (w, h) in zip(datas, raw, sizes):
            im = Image.open(io.BytesIO(b))
            im.draft("RGB", (w // denom, h // denom))
            ref = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
            assert torch.equal(_ops.decode_image(d, 3, w // denom, h // denom), ref)

    return Case(
        "decode",
        f"decode to >= 1/{denom} size (reduced), {len(datas)} photos",
        [Variant("native full", full), Variant("PIL draft", pil_draft), Variant("native reduced", native_reduced)],
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

    return Case(
        "decode",
        f"ImageFolder + default_loader, {len(ds)} COCO-sized JPEGs",
        [Variant("PIL", iterate("PIL")), Variant("cv2", iterate("cv2")), Variant("native", iterate("native"))],
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
        _imagefolder_case(root, rounds),
    ]
