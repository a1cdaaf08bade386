"""Fused preprocessing pipelines (torchvision_adapter.transforms.Pipeline) from image files, against
the usual ways of doing the same in one process: PIL + torchvision transforms (with and without
``draft``), torchvision.io.decode_jpeg + tensor transforms, OpenCV, and the adapter unfused (native
decode + the Compose on the tensor with the adapter enabled).

Files: COCO-sized JPEGs (the mate-backgrounds photos resized to 640x480, quality 90, as decode.py makes
them) and the photos themselves (1.3-4.9 MP). Rates are images per second (Case.items). The baseline
is PIL + torchvision transforms. Each case's check verifies that Pipeline's exact mode equals the
unfused native result (and reports the fast mode's difference in levels for the photo case).
"""
import glob
import os

import numpy as np
import torch
import torchvision.io as tio
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

from torchvision_adapter import io as nio
from torchvision_adapter.transforms import Pipeline, detection_preprocess, rescaled_size

from ..harness import Case, Variant
from .decode import MATE, _coco_sized_folder

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
MEAN_255, STD_255 = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def _eval_tf(to_float):
    return [T.Resize(256), T.CenterCrop(224), to_float, T.Normalize(MEAN, STD)]


def _train_tf(to_float):
    return [T.RandomResizedCrop(224), T.RandomHorizontalFlip(), to_float, T.Normalize(MEAN, STD)]


def _pil_variant(paths, tf, draft=None):
    compose = T.Compose(tf(T.ToTensor()))

    def run():
        for p in paths:
            im = Image.open(p)
            if draft:
                im.draft("RGB", (draft, draft))
            compose(im.convert("RGB"))

    return run


def _tvio_variant(paths, tf):
    compose = T.Compose(tf(T.ConvertImageDtype(torch.float32)))

    def run():
        for p in paths:
            compose(tio.decode_jpeg(tio.read_file(p)))

    return run


def _unfused_variant(paths, tf):
    compose = T.Compose(tf(T.ToTensor()))

    def run():
        for p in paths:
            compose(nio.read_image(p))

    return run


def _pipeline_variant(paths, tf, mode):
    pipe = Pipeline(tf(T.ToTensor()), mode=mode)

    def run():
        for p in paths:
            pipe(p)

    return run


def _opencv_eval(paths):
    import cv2

    mean = np.array(MEAN, np.float32) * 255
    std = np.array(STD, np.float32) * 255

    def run():
        for p in paths:
            img = cv2.imread(p, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
            h, w = img.shape[:2]
            s = 256 / min(h, w)
            img = cv2.resize(img, (max(256, int(w * s)), max(256, int(h * s))), interpolation=cv2.INTER_LINEAR)
            h, w = img.shape[:2]
            y, x = (h - 224) // 2, (w - 224) // 2
            img = img[y : y + 224, x : x + 224, ::-1].astype(np.float32)
            torch.from_numpy(((img - mean) / std).transpose(2, 0, 1).copy())

    return run


def _check_exact(paths, tf):
    def check():
        for i, p in enumerate(paths[:4]):
            torch.manual_seed(i)
            out = Pipeline(tf(T.ToTensor()))(p)
            torch.manual_seed(i)
            ref = T.Compose(tf(T.ToTensor()))(nio.read_image(p))
            diff = (out - ref).abs().max().item()
            assert diff <= 1 / 255 / min(STD) + 1e-5, f"exact pipeline differs from unfused by {diff}"

    return check


def fast_mode_difference(paths, tf):
    """(mean, max) absolute difference fast vs exact, in uint8 levels (before normalisation)."""
    maes, maxes = [], []
    levels = tf(T.ToTensor())[:-1]  # without Normalize: values x / 255
    for i, p in enumerate(paths):
        torch.manual_seed(i)
        fast = Pipeline(levels, mode="fast")(p)
        torch.manual_seed(i)
        exact = Pipeline(levels)(p)
        d = (fast - exact).abs() * 255
        maes.append(d.mean().item())
        maxes.append(d.max().item())
    return float(np.mean(maes)), float(np.max(maxes))


def _entropy_floor(paths, size=256):
    """The least any decode at PIL draft's scale for `size` does: the files read and their Huffman
    symbols decoded, no IDCT, colour conversion, resize or normalisation."""
    ops = torch.ops.torchvision_adapter
    datas = [tio.read_file(p) for p in paths]
    scales = []
    for d in datas:
        _, w, h = ops.image_info(d)[:3]
        # PIL's draft: the largest of 8, 4, 2, 1 that keeps both sides >= size.
        scales.append(next(s for s in (8, 4, 2, 1) if min(w // size, h // size) >= s or s == 1))

    def run():
        for p, s in zip(paths, scales):
            ops._jpeg_entropy_decode(nio.read_file(p), s)

    return run


def _eval_case(paths, label, rounds, fast_check=False):
    variants = [
        Variant("PIL + transforms", _pil_variant(paths, _eval_tf), False),
        Variant("PIL draft + transforms", _pil_variant(paths, _eval_tf, draft=256), False),
        Variant("torchvision.io + tensor transforms", _tvio_variant(paths, _eval_tf), False),
        Variant("OpenCV", _opencv_eval(paths)),
        Variant("adapter unfused", _unfused_variant(paths, _eval_tf), True),
        Variant("Pipeline exact", _pipeline_variant(paths, _eval_tf, "exact"), True),
        Variant("Pipeline fast", _pipeline_variant(paths, _eval_tf, "fast"), True),
        Variant("floor: entropy decoding alone at PIL draft's scale", _entropy_floor(paths), True),
    ]
    check = _check_exact(paths, _eval_tf)
    if fast_check:
        exact_check = check

        def check():
            exact_check()
            mae, mx = fast_mode_difference(paths, _eval_tf)
            print(f"    fast vs exact (eval, {label}): mean abs {mae:.2f} levels, max {mx:.0f}")

    return Case("pipeline", f"ImageNet eval (Resize 256, CenterCrop 224), {len(paths)} {label}", variants,
                rounds=rounds, check=check, items=len(paths))


def _train_case(paths, label, rounds):
    def seeded(fn):
        def run():
            torch.manual_seed(0)
            fn()

        return run

    variants = [
        Variant("PIL + transforms", seeded(_pil_variant(paths, _train_tf)), False),
        Variant("torchvision.io + tensor transforms", seeded(_tvio_variant(paths, _train_tf)), False),
        Variant("adapter unfused", seeded(_unfused_variant(paths, _train_tf)), True),
        Variant("Pipeline exact", seeded(_pipeline_variant(paths, _train_tf, "exact")), True),
        Variant("Pipeline fast", seeded(_pipeline_variant(paths, _train_tf, "fast")), True),
    ]
    return Case("pipeline", f"ImageNet train (RandomResizedCrop 224, flip), {len(paths)} {label}", variants,
                rounds=rounds, check=_check_exact(paths, _train_tf), items=len(paths))


def _detection_case(paths, rounds):
    import cv2

    mean255 = np.array(MEAN_255, np.float32)
    std255 = np.array(STD_255, np.float32)

    def tensor_peer():
        for p in paths:
            img = tio.decode_jpeg(tio.read_file(p))
            h, w = img.shape[1:]
            nh, nw = rescaled_size(h, w, (1333, 800))
            x = F.normalize(F.resize(img, [nh, nw]).float(), MEAN_255, STD_255)
            F.pad(x, [0, 0, (-nw) % 32, (-nh) % 32])

    def opencv_peer():  # mmcv's way: imread, imrescale, imnormalize, impad_to_multiple
        for p in paths:
            img = cv2.imread(p, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
            h, w = img.shape[:2]
            nh, nw = rescaled_size(h, w, (1333, 800))
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32)
            img = (img - mean255) / std255
            ph, pw = -(-nh // 32) * 32, -(-nw // 32) * 32
            out = np.zeros((ph, pw, 3), np.float32)
            out[:nh, :nw] = img
            torch.from_numpy(out.transpose(2, 0, 1).copy())

    def native():
        for p in paths:
            detection_preprocess(p)

    def check():
        for p in paths[:2]:
            out, _ = detection_preprocess(p)
            img = nio.read_image(p)
            h, w = img.shape[1:]
            nh, nw = rescaled_size(h, w, (1333, 800))
            ref = F.normalize(F.resize(img, [nh, nw]).float(), MEAN_255, STD_255)
            ref = F.pad(ref, [0, 0, (-nw) % 32, (-nh) % 32])
            assert (out - ref).abs().max() <= 1 / min(STD_255) + 1e-4

    variants = [
        Variant("torchvision.io + tensor transforms", tensor_peer, False),
        Variant("OpenCV (mmcv style)", opencv_peer),
        Variant("native decode + detection_preprocess", native, True),
    ]
    return Case("pipeline", f"detection 1333x800 keep-ratio + normalize + pad 32, {len(paths)} COCO-sized",
                variants, rounds=rounds, check=check, items=len(paths))


def cases(quick: bool):
    root = _coco_sized_folder()
    coco = sorted(glob.glob(os.path.join(root, "*", "*.jpg")))
    photos = MATE[:4] if quick else MATE
    rounds = 3 if quick else 5
    return [
        _eval_case(coco, "COCO-sized JPEGs", rounds),
        _eval_case(photos, "photos (1.3-4.9 MP)", rounds, fast_check=True),
        _train_case(coco, "COCO-sized JPEGs", rounds),
        _detection_case(coco, rounds),
    ]
