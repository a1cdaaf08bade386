"""A deterministic synthetic detection dataset in COCO format, made on the fly.

Coloured shapes (circles, squares, triangles, stars) of varied size, shade and rotation are pasted on
crops of real photographs shipped by Debian packages (``mate-backgrounds``' nature JPEGs and
``skimage.data``). Later shapes may partly hide earlier ones; each annotation describes the part that
stays visible: its mask (COCO RLE), box ``[x, y, w, h]`` and area. Nothing is downloaded.
"""
import glob
import json
import os
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from PIL import Image

from . import _rle

MATE_BACKGROUNDS = "/usr/share/backgrounds/mate/nature"
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")

# (name, base hue in degrees): hues far apart so colour helps, shape still has to be learned
# because the shades vary.
CATEGORIES: Tuple[Tuple[str, float], ...] = (
    ("circle", 0.0),       # red
    ("square", 120.0),     # green
    ("triangle", 220.0),   # blue
    ("star", 55.0),        # yellow
)


@dataclass(frozen=True)
class DatasetConfig:
    """Everything that determines the generated images; its hash names the cache folder."""

    image_size: int = 256
    train_images: int = 1500
    val_images: int = 200
    min_objects: int = 2
    max_objects: int = 6
    min_object_size: int = 20
    max_object_size: int = 96
    max_hidden_fraction: float = 0.5  # an object keeps at least half of itself visible
    seed: int = 2024

    def key(self) -> str:
        import hashlib

        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def load_backgrounds(max_side: int = 384) -> List[np.ndarray]:
    """The photos, downscaled once so their short side is ``max_side`` (uint8 HWC RGB)."""
    photos = []
    for path in sorted(glob.glob(os.path.join(MATE_BACKGROUNDS, "*.jpg"))):
        with Image.open(path) as im:
            im.draft("RGB", (max_side * 2, max_side * 2))  # lets libjpeg decode at a reduced scale
            photos.append(_shrink(im.convert("RGB"), max_side))
    try:
        import skimage.data

        for name in SKIMAGE_PHOTOS:
            arr = getattr(skimage.data, name)()
            if arr.ndim == 2:
                arr = np.stack([arr] * 3, -1)
            photos.append(_shrink(Image.fromarray(arr[..., :3]), max_side))
    except Exception:  # skimage is optional when the mate photos are there
        pass
    if not photos:
        raise RuntimeError(
            f"no background photos found: install mate-backgrounds ({MATE_BACKGROUNDS}) or python3-skimage"
        )
    return photos


def _shrink(im: Image.Image, short: int) -> np.ndarray:
    scale = short / min(im.size)
    if scale < 1:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def _shape_polygon(kind: str, size: float, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Vertices (K, 2) of a shape centred on 0 whose bounding circle has diameter ``size``."""
    r = size / 2
    if kind == "circle":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        ax = r * np.array([1.0, rng.uniform(0.75, 1.0)])  # circles and mild ellipses
        pts = np.stack([np.cos(t) * ax[0], np.sin(t) * ax[1]], 1)
    elif kind == "square":
        t = np.array([0.25, 0.75, 1.25, 1.75]) * np.pi
        pts = np.stack([np.cos(t), np.sin(t)], 1) * r
    elif kind == "triangle":
        t = np.array([-0.5, 1 / 6, 5 / 6]) * np.pi
        pts = np.stack([np.cos(t), np.sin(t)], 1) * r
    else:  # five-pointed star
        t = np.arange(10) * np.pi / 5 - np.pi / 2
        rad = np.where(np.arange(10) % 2 == 0, r, r * 0.45)
        pts = np.stack([np.cos(t) * rad, np.sin(t) * rad], 1)
    c, s = np.cos(angle), np.sin(angle)
    return pts @ np.array([[c, s], [-s, c]])


def _colour(hue: float, rng: np.random.Generator) -> np.ndarray:
    hsv = np.uint8([[[((hue + rng.uniform(-12, 12)) % 360) / 2, rng.uniform(150, 255), rng.uniform(140, 255)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def make_image(
    rng: np.random.Generator, backgrounds: List[np.ndarray], cfg: DatasetConfig
) -> Tuple[np.ndarray, List[Tuple[int, np.ndarray]]]:
    """One image (H, W, 3 uint8) and its objects as (category id, visible mask) pairs."""
    S = cfg.image_size
    bg = backgrounds[rng.integers(len(backgrounds))]
    y0 = rng.integers(bg.shape[0] - S + 1)
    x0 = rng.integers(bg.shape[1] - S + 1)
    img = bg[y0:y0 + S, x0:x0 + S].astype(np.float32)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    img = np.ascontiguousarray(img * rng.uniform(0.7, 1.1))

    objects: List[Tuple[int, np.ndarray]] = []
    full_areas: List[int] = []
    for _ in range(rng.integers(cfg.min_objects, cfg.max_objects + 1)):
        for _attempt in range(20):
            cat = int(rng.integers(len(CATEGORIES)))
            size = float(np.exp(rng.uniform(np.log(cfg.min_object_size), np.log(cfg.max_object_size))))
            poly = _shape_polygon(CATEGORIES[cat][0], size, rng.uniform(0, 2 * np.pi), rng)
            lo, hi = poly.min(0), poly.max(0)
            centre = rng.uniform(-lo, S - hi)
            mask = np.zeros((S, S), np.uint8)
            cv2.fillPoly(mask, [np.round((poly + centre) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
            mask = mask.astype(bool)
            if mask.sum() < 16:
                continue
            # Accept the shape only if every earlier object stays visible enough.
            ok = all(
                (m & ~mask).sum() >= (1 - cfg.max_hidden_fraction) * a for (_, m), a in zip(objects, full_areas)
            )
            if ok:
                break
        else:
            continue
        colour = _colour(CATEGORIES[cat][1], rng)
        shade = 1 + 0.15 * np.linspace(-1, 1, S, dtype=np.float32)[:, None] * rng.choice([-1, 1])
        img[mask] = (colour[None, :] * shade.repeat(S, 1)[mask][:, None])
        objects = [(c, m & ~mask) for c, m in objects]
        objects.append((cat + 1, mask))
        full_areas.append(int(mask.sum()))
    noise = rng.normal(0, 4, img.shape).astype(np.float32)
    return np.clip(img + noise, 0, 255).astype(np.uint8), objects


def generate_split(
    folder: str, split: str, n: int, cfg: DatasetConfig, backgrounds: List[np.ndarray], seed: int,
    progress: bool = True,
) -> str:
    """Writes ``folder/<split>/*.jpg`` and ``folder/annotations/instances_<split>.json``; returns its path."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(folder, split), exist_ok=True)
    os.makedirs(os.path.join(folder, "annotations"), exist_ok=True)
    images, annotations = [], []
    for i in tqdm(range(n), desc=f"dataset {split}", unit="img", disable=not progress, leave=False):
        img, objects = make_image(rng, backgrounds, cfg)
        image_id = i + 1
        file_name = f"{split}_{image_id:06d}.jpg"
        Image.fromarray(img).save(os.path.join(folder, split, file_name), quality=92)
        images.append({"id": image_id, "file_name": file_name, "height": img.shape[0], "width": img.shape[1]})
        for cat, mask in objects:
            annotations.append({
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": cat,
                "segmentation": _rle.encode(mask),
                "area": float(mask.sum()),
                "bbox": _rle.to_bbox(mask),
                "iscrowd": 0,
            })
    coco = {
        "info": {"description": f"torchvision_adapter demo synthetic shapes ({split})", "version": "1.0",
                 "config": asdict(cfg)},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": name, "supercategory": "shape"} for i, (name, _) in enumerate(CATEGORIES)],
    }
    path = os.path.join(folder, "annotations", f"instances_{split}.json")
    with open(path, "w") as f:
        json.dump(coco, f)
    return path


def build_dataset(cache_root: str, cfg: DatasetConfig, progress: bool = True, log=print) -> str:
    """The dataset folder for ``cfg`` under ``cache_root``, generated unless already there."""
    folder = os.path.join(cache_root, f"shapes-{cfg.key()}")
    done = os.path.join(folder, "DONE")
    if os.path.exists(done):
        log(f"dataset: reusing {folder} (cached)")
        return folder
    backgrounds = load_backgrounds()
    generate_split(folder, "train", cfg.train_images, cfg, backgrounds, cfg.seed, progress)
    generate_split(folder, "val", cfg.val_images, cfg, backgrounds, cfg.seed + 1, progress)
    open(done, "w").close()
    log(f"dataset: generated {cfg.train_images} train + {cfg.val_images} val images in {folder}")
    return folder


class CocoDetection:
    """Reads a split as float tensors (3, H, W) in [0, 1] plus torchvision detection targets."""

    def __init__(self, folder: str, split: str):
        import torch

        with open(os.path.join(folder, "annotations", f"instances_{split}.json")) as f:
            coco = json.load(f)
        self.root = os.path.join(folder, split)
        self.images = coco["images"]
        by_image: Dict[int, List[Dict]] = {im["id"]: [] for im in self.images}
        for a in coco["annotations"]:
            by_image[a["image_id"]].append(a)
        self.targets = []
        for im in self.images:
            anns = by_image[im["id"]]
            boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                   a["bbox"][1] + a["bbox"][3]] for a in anns], dtype=torch.float32).reshape(-1, 4)
            labels = torch.tensor([a["category_id"] for a in anns], dtype=torch.int64)
            self.targets.append({"boxes": boxes, "labels": labels, "image_id": im["id"]})
        self._cache: Dict[int, "torch.Tensor"] = {}

    def __len__(self) -> int:
        return len(self.images)

    def image(self, i: int):
        import torch

        t = self._cache.get(i)
        if t is None:
            with Image.open(os.path.join(self.root, self.images[i]["file_name"])) as im:
                arr = np.array(im.convert("RGB"))
            t = torch.from_numpy(arr).permute(2, 0, 1).contiguous()  # uint8: small enough to keep
            self._cache[i] = t
        return t.float().div_(255)

    def __getitem__(self, i: int):
        return self.image(i), self.targets[i]
