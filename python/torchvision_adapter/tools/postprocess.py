"""Post-process saved detection outputs into COCO results, and draw them.

    python -m torchvision_adapter.tools.postprocess --outputs result/outputs --meta val2017_bin/meta.json \\
        --results detections.json --score-thresh 0.05 --draw drawn/ --images val2017/

Reads, per image, the boxes, scores and labels that ``tva_runner --save-outputs`` (or the Python
benchmark) saved: ``<stem>_<prefix>boxes.npy`` and so on for torchvision's detection models
(``--format torchvision``, the prefix is found by itself), or ``<stem>_0`` (dets [N, 5]: x1, y1, x2, y2,
score) and ``<stem>_1`` (labels [N]) for mmdetection-style exports (``--format mmdet``, .npy or raw .bin).
Boxes are mapped back to the original image with the preprocessing's meta.json (padding removed, scale
undone, clipped to the image); without meta they are taken as already in image coordinates.
"""
import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from ._common import (COCO80_TO_COCO91, IMAGE_EXTS, ToolError, coco_category_names, image_id_of,
                      progress, write_atomic)

Detections = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # boxes [N, 4], scores [N], labels [N]


def _load_array(path: str, dtype=None, columns: Optional[int] = None) -> np.ndarray:
    try:
        if path.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        a = np.fromfile(path, dtype=dtype)
    except (OSError, ValueError) as e:
        raise ToolError(f"cannot read '{path}': {e}") from None
    if columns:
        if a.size % columns:
            raise ToolError(f"'{path}' holds {a.size} values, not a multiple of {columns}")
        a = a.reshape(-1, columns)
    return a


def _find(outputs: str, name: str) -> Optional[str]:
    for ext in (".npy", ".bin"):
        path = os.path.join(outputs, name + ext)
        if os.path.isfile(path):
            return path
    return None


def detection_prefix(outputs: str) -> str:
    """The part of the output names before "boxes": "1_" for scripted torchvision models (their
    (losses, detections) tuple), "" for eager ones."""
    names = [f for f in os.listdir(outputs) if f.endswith("_boxes.npy")]
    if not names:
        raise ToolError(f"'{outputs}' holds no <image>_..._boxes.npy file (is it --format mmdet?)")
    return "1_" if all(f.endswith("_1_boxes.npy") for f in names) else ""


def load_detections(outputs: str, image_stem: str, fmt: str, prefix: str = "") -> Detections:
    if fmt == "torchvision":
        parts = []
        for key in ("boxes", "scores", "labels"):
            path = _find(outputs, f"{image_stem}_{prefix}{key}")
            if path is None:
                raise ToolError(f"no {key} output for image '{image_stem}' in '{outputs}' "
                                f"(expected {image_stem}_{prefix}{key}.npy)")
            parts.append(torch.from_numpy(np.asarray(_load_array(path))))
        boxes, scores, labels = parts
    elif fmt == "mmdet":
        dets_path = _find(outputs, f"{image_stem}_0")
        labels_path = _find(outputs, f"{image_stem}_1")
        if dets_path is None or labels_path is None:
            raise ToolError(f"no {image_stem}_0 (dets) / {image_stem}_1 (labels) output in '{outputs}'")
        dets = torch.from_numpy(_load_array(dets_path, np.float32, 5).reshape(-1, 5).copy())
        labels = torch.from_numpy(_load_array(labels_path, np.int64).reshape(-1).copy())
        boxes, scores = dets[:, :4], dets[:, 4]
    else:
        raise ToolError(f"--format must be torchvision or mmdet, got '{fmt}'")
    boxes = boxes.reshape(-1, 4).float()
    scores, labels = scores.reshape(-1).float(), labels.reshape(-1).long()
    if not (boxes.shape[0] == scores.shape[0] == labels.shape[0]):
        raise ToolError(f"image '{image_stem}': {boxes.shape[0]} boxes, {scores.shape[0]} scores and "
                        f"{labels.shape[0]} labels")
    return boxes, scores, labels


def to_original(boxes: torch.Tensor, meta: Optional[Dict]) -> torch.Tensor:
    """Undoes detection_preprocess: removes the padding offset, divides by the scale factors and
    clips to the original image."""
    if not meta:
        return boxes
    top, left = meta["pad"][0], meta["pad"][1]
    sw, sh = meta["scale_factor"]
    h, w = meta["orig_size"]
    b = boxes.clone()
    b[:, 0::2] = ((b[:, 0::2] - left) / sw).clamp(0, w)
    b[:, 1::2] = ((b[:, 1::2] - top) / sh).clamp(0, h)
    return b


def category_ids(labels: torch.Tensor, class_map) -> List[int]:
    if class_map is None:
        return labels.tolist()
    out = []
    for label in labels.tolist():
        try:
            out.append(int(class_map[label] if isinstance(class_map, list) else class_map[str(label)]))
        except (IndexError, KeyError):
            raise ToolError(f"label {label} is not in the class map") from None
    return out


def load_class_map(spec: Optional[str]):
    """None / "none": labels are COCO category ids already (torchvision's models); "coco80": labels
    0..79 in COCO order; otherwise a JSON file with a list (label -> id) or an object."""
    if spec in (None, "", "none"):
        return None
    if spec == "coco80":
        return list(COCO80_TO_COCO91)
    try:
        with open(spec) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ToolError(f"cannot read class map '{spec}': {e}") from None


def draw_detections(image_path: str, out_path: str, boxes, scores, category, names=None) -> None:
    """Draws boxes with "name score" labels on the image, written as JPEG or PNG by out_path's suffix."""
    from PIL import Image, ImageDraw, ImageFont

    palette = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
               (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]
    try:
        with Image.open(image_path) as im:
            canvas = im.convert("RGB")
    except Exception as e:  # noqa: BLE001
        raise ToolError(f"cannot read image '{image_path}' to draw on: {e}") from None
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(max(canvas.size) / 400))
    font_size = max(11, round(max(canvas.size) / 60))
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", font_size)
    except OSError:  # no TrueType font installed: PIL's small bitmap font
        font = ImageFont.load_default()
    for box, score, cat in zip(boxes.tolist(), scores.tolist(), category):
        color = palette[cat % len(palette)]
        draw.rectangle(box, outline=color, width=width)
        name = names[cat] if names is not None and 0 <= cat < len(names) else str(cat)
        text = f"{name} {score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        th = bottom - top + 2
        x, y = box[0], max(0, box[1] - th)
        draw.rectangle([x, y, x + right - left + 4, y + th], fill=color)
        draw.text((x + 2, y - top + 1), text, fill=(0, 0, 0), font=font)
    import io

    buf = io.BytesIO()
    ext = os.path.splitext(out_path)[1].lower()
    canvas.save(buf, format="PNG" if ext == ".png" else "JPEG", **({} if ext == ".png" else {"quality": 90}))
    write_atomic(out_path, buf.getvalue())


def _image_file(images: str, meta: Optional[Dict], image_stem: str) -> Optional[str]:
    if meta and "file" in meta:
        path = os.path.join(images, meta["file"])
        return path if os.path.isfile(path) else None
    for ext in IMAGE_EXTS:
        for e in (ext, ext.upper()):
            path = os.path.join(images, image_stem + e)
            if os.path.isfile(path):
                return path
    return None


def postprocess(outputs: str, results: str, meta_path: Optional[str] = None, fmt: str = "torchvision",
                score_thresh: float = 0.05, nms_iou: Optional[float] = None, class_map=None,
                max_dets: int = 100, draw: Optional[str] = None, images: Optional[str] = None,
                show_progress: Optional[bool] = None) -> List[Dict]:
    """Writes COCO results ([{image_id, category_id, bbox [x, y, w, h], score}]) to ``results`` and
    returns them; draws the kept detections into ``draw`` when given (needs ``images``)."""
    if not os.path.isdir(outputs):
        raise ToolError(f"outputs folder '{outputs}' does not exist")
    metas: Dict[str, Dict] = {}
    if meta_path:
        try:
            with open(meta_path) as f:
                metas = json.load(f)["images"]
        except (OSError, ValueError, KeyError) as e:
            raise ToolError(f"cannot read meta file '{meta_path}': {e}") from None
    prefix = detection_prefix(outputs) if fmt == "torchvision" else ""
    if metas:
        stems = sorted(metas)
    else:
        tail = f"_{prefix}boxes.npy" if fmt == "torchvision" else "_0"
        stems = sorted({f[: f.rindex(tail)] for f in os.listdir(outputs) if tail in f})
    if draw:
        if not images:
            raise ToolError("drawing needs --images, the folder of the original images")
        os.makedirs(draw, exist_ok=True)
    names = coco_category_names() if draw and class_map is None else None
    if draw and class_map is not None and class_map == list(COCO80_TO_COCO91):
        names = coco_category_names()  # the mapped ids are torchvision's (COCO) label ids

    coco = []
    for index, s in progress(list(enumerate(stems)), len(stems), "postprocess", show_progress):
        boxes, scores, labels = load_detections(outputs, s, fmt, prefix)
        keep = scores >= score_thresh
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        if nms_iou is not None and boxes.shape[0]:
            from torchvision.ops import batched_nms

            keep = batched_nms(boxes, scores, labels, nms_iou)
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        order = torch.argsort(scores, descending=True)[:max_dets]
        boxes, scores, labels = boxes[order], scores[order], labels[order]
        meta = metas.get(s)
        boxes = to_original(boxes, meta)
        cats = category_ids(labels, class_map)
        image_id = meta["image_id"] if meta and "image_id" in meta else image_id_of(s, index)
        for (x1, y1, x2, y2), score, cat in zip(boxes.tolist(), scores.tolist(), cats):
            coco.append({"image_id": image_id, "category_id": cat,
                         "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                         "score": round(score, 5)})
        if draw:
            src = _image_file(images, meta, s)
            if src is None:
                raise ToolError(f"no image for '{s}' in '{images}'")
            draw_detections(src, os.path.join(draw, os.path.basename(src)), boxes, scores, cats, names)
    write_atomic(results, json.dumps(coco) + "\n")
    return coco


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m torchvision_adapter.tools.postprocess",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--outputs", required=True, help="folder of saved outputs (tva_runner's OUTPUT/outputs)")
    p.add_argument("--results", required=True, help="COCO results JSON to write")
    p.add_argument("--meta", help="meta.json of the preprocessing (maps boxes back to the original image)")
    p.add_argument("--format", default="torchvision", choices=("torchvision", "mmdet"))
    p.add_argument("--score-thresh", type=float, default=0.05)
    p.add_argument("--nms", type=float, help="apply class-wise NMS with this IoU threshold")
    p.add_argument("--max-dets", type=int, default=100, help="detections kept per image [100]")
    p.add_argument("--class-map", help="none (labels are COCO ids), coco80, or a JSON file")
    p.add_argument("--draw", help="folder for images with the detections drawn")
    p.add_argument("--images", help="folder of the original images (for --draw)")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    try:
        coco = postprocess(args.outputs, args.results, args.meta, args.format, args.score_thresh,
                           args.nms, load_class_map(args.class_map), args.max_dets, args.draw,
                           args.images, True if args.progress else None)
    except (ToolError, OSError) as e:
        print(f"postprocess: error: {e}", file=sys.stderr)
        return 1
    print(f"{len(coco)} detection(s) written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
