"""Helpers shared by the tools: file listing, atomic writes, progress bars, COCO class names."""
import json
import os
import sys
from typing import Iterable, List, Optional

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class ToolError(Exception):
    """A problem with the arguments or the files, reported without a traceback."""


def list_images(folder: str) -> List[str]:
    if not os.path.isdir(folder):
        raise ToolError(f"image folder '{folder}' does not exist")
    files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))
    if not files:
        raise ToolError(f"image folder '{folder}' holds no image ({', '.join(IMAGE_EXTS)})")
    return [os.path.join(folder, f) for f in files]


def stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def image_id_of(path: str, index: int) -> int:
    """COCO's file names are the image id ("000000000139.jpg" -> 139); other names get their index."""
    s = stem(path)
    return int(s) if s.isdigit() else index


def write_atomic(path: str, data) -> None:
    """Writes bytes or text under a temporary name, then renames: readers never see half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb" if isinstance(data, (bytes, bytearray, memoryview)) else "w") as f:
        f.write(data)
    os.replace(tmp, path)


def write_json(path: str, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=1) + "\n")


def progress(items: Iterable, total: int, label: str, enabled: Optional[bool] = None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, total=total, desc=label, file=sys.stderr)


def coco_category_names() -> List[str]:
    """torchvision's COCO label names, indexed by the label its detection models output (0 is the
    background, some entries are "N/A"). From the weights' metadata; nothing is downloaded."""
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    return list(FasterRCNN_ResNet50_FPN_Weights.DEFAULT.meta["categories"])


# The 80 COCO category ids in order, for models whose labels are contiguous 0..79 (mmdetection's).
COCO80_TO_COCO91 = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
    32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
    58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87,
    88, 89, 90,
]
