"""End-to-end Faster R-CNN (ResNet-50 FPN, random weights) inference on two real photos: the RoI
heads (MultiScaleRoIAlign) and box NMS run on the adapter's kernels; the rest is torch."""
import glob

import numpy as np
import torch
from PIL import Image
from torchvision.models.detection import fasterrcnn_resnet50_fpn

from ..harness import tv_vs_adapter


def _images(size):
    arrays = []
    for path in sorted(glob.glob("/usr/share/backgrounds/mate/nature/*.jpg"))[:2]:
        img = Image.open(path)
        img.draft("RGB", (size * 2, size * 2))
        img = img.convert("RGB")
        img.thumbnail((size * 3 // 2, size * 3 // 2))
        arrays.append(np.asarray(img))
    if len(arrays) < 2:
        import skimage.data

        arrays = [skimage.data.astronaut(), skimage.data.coffee()]
    return [torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255 for a in arrays]


def cases(quick: bool):
    size = 320 if quick else 512
    torch.manual_seed(0)
    model = fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=size, max_size=size * 3 // 2,
        box_score_thresh=0.0,
    ).eval()
    images = _images(size)

    def run():
        with torch.no_grad():
            return model(images)

    return [
        tv_vs_adapter(
            "detection_model", f"fasterrcnn_resnet50_fpn eval, 2 photos, min_size {size}", run,
            rounds=3,
        )
    ]
