"""Detection post-processing: box utilities against torchvision's Python versions, Matrix NMS against
mmdet's algorithm as torch code, batched RetinaNet-style post-processing against torchvision's
per-image loop, Soft-NMS against a NumPy port of mmcv's loop (mmcv is not installed)."""
import numpy as np
import torch
import torchvision

from ..harness import Case, Variant, tv_vs_adapter


def random_boxes(n, seed=0, scale=800.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * scale
    wh = 4 + torch.rand(n, 2, generator=g) * 196
    return torch.cat([xy, xy + wh], 1)


def mmdet_matrix_nms(masks, labels, scores, kernel="gaussian", sigma=2.0):
    """mmdet's mask_matrix_nms core (no pre/post filtering)."""
    mask_area = masks.sum((1, 2)).float()
    scores, sort_inds = torch.sort(scores, descending=True)
    masks, mask_area, labels = masks[sort_inds], mask_area[sort_inds], labels[sort_inds]
    n = len(labels)
    flat = masks.reshape(n, -1).float()
    inter = torch.mm(flat, flat.transpose(1, 0))
    ea = mask_area.expand(n, n)
    iou = (inter / (ea + ea.transpose(1, 0) - inter)).triu(diagonal=1)
    el = labels.expand(n, n)
    lm = (el == el.transpose(1, 0)).triu(diagonal=1)
    comp, _ = (iou * lm).max(0)
    comp = comp.expand(n, n).transpose(1, 0)
    decay = iou * lm
    coef, _ = (torch.exp(-1 * sigma * decay ** 2) / torch.exp(-1 * sigma * comp ** 2)).min(0)
    return scores * coef, sort_inds


def soft_nms_numpy(boxes, scores, thr=0.3, sigma=0.5, min_score=1e-3):
    """mmcv's softnms_cpu loop (linear) in NumPy float32, the work the C++ loop replaces."""
    b = boxes.numpy().astype(np.float32).copy()
    sc = scores.numpy().astype(np.float32).copy()
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inds = np.arange(len(sc))
    n, i = len(sc), 0
    while i < n:
        m = i + int(np.argmax(sc[i:n]))
        for arr in (b, sc, area, inds):
            arr[[i, m]] = arr[[m, i]]
        xx1 = np.maximum(b[i, 0], b[i + 1:n, 0])
        yy1 = np.maximum(b[i, 1], b[i + 1:n, 1])
        xx2 = np.minimum(b[i, 2], b[i + 1:n, 2])
        yy2 = np.minimum(b[i, 3], b[i + 1:n, 3])
        inter = np.maximum(0, xx2 - xx1) * np.maximum(0, yy2 - yy1)
        ovr = inter / (area[i] + area[i + 1:n] - inter)
        sc[i + 1:n] *= np.where(ovr >= thr, 1 - ovr, 1)
        keep = np.concatenate([np.arange(i + 1), i + 1 + np.nonzero(sc[i + 1:n] >= min_score)[0]])
        for arr in (b, sc, area, inds):
            arr[:len(keep)] = arr[keep]
        n = len(keep)
        i += 1
    return inds[:n]


def cases(quick: bool):
    out = []
    n = 1000 if quick else 3000
    a, b = random_boxes(n, 1), random_boxes(n, 2)
    out.append(tv_vs_adapter("postprocess", f"box_iou {n}x{n}", lambda: torchvision.ops.box_iou(a, b), rounds=5))
    out.append(tv_vs_adapter("postprocess", f"generalized_box_iou {n}x{n}",
                             lambda: torchvision.ops.generalized_box_iou(a, b), rounds=5))
    g = torch.Generator().manual_seed(3)
    m = torch.rand(64, 128, 128, generator=g) > 0.5
    out.append(tv_vs_adapter("postprocess", "masks_to_boxes 64 x 128x128",
                             lambda: torchvision.ops.masks_to_boxes(m), rounds=3))

    # SOLOv2-like Matrix NMS: 500 masks of 200x200 (nms_pre=500 in SOLOv2's test config).
    k = 200 if quick else 500
    yy, xx = torch.meshgrid(torch.arange(200), torch.arange(200), indexing="ij")
    c = torch.rand(k, 2, generator=g) * 200
    r = 5 + torch.rand(k, generator=g) * 40
    masks = ((yy[None] - c[:, 0, None, None]) ** 2 + (xx[None] - c[:, 1, None, None]) ** 2) < r[:, None, None] ** 2
    labels = torch.randint(0, 20, (k,), generator=g)
    scores = torch.rand(k, generator=g)
    from torchvision_adapter.ops import matrix_nms, multiclass_nms, soft_nms

    def check_matrix():
        ours = matrix_nms(masks, labels, scores)[0]
        ref = mmdet_matrix_nms(masks, labels, scores)[0]
        assert torch.equal(ours, torch.sort(ref, descending=True)[0])

    out.append(Case("postprocess", f"matrix_nms {k} masks 200x200",
                    [Variant("mmdet-torch", lambda: mmdet_matrix_nms(masks, labels, scores)),
                     Variant("adapter", lambda: matrix_nms(masks, labels, scores))], rounds=3, check=check_matrix))

    # RetinaNet-style batch: 4 images, 20k anchors, 80 classes.
    B, N, C = (2, 5000, 80) if quick else (4, 20000, 80)
    boxes = random_boxes(B * N, 4).reshape(B, N, 4)
    cls = torch.rand(B, N, C, generator=g) ** 6

    def per_image():
        res = []
        for i in range(B):
            s = cls[i].flatten()
            keep = s > 0.05
            s = s[keep]
            idx = torch.where(keep)[0]
            s, o = s.topk(min(1000, idx.numel()))
            idx = idx[o]
            bx = boxes[i][torch.div(idx, C, rounding_mode="floor")]
            kk = torchvision.ops.batched_nms(bx, s, idx % C, 0.5)[:100]
            res.append((bx[kk], s[kk]))
        return res

    out.append(Case("postprocess", f"multiclass_nms {B} img x {N} anchors x {C} cls",
                    [Variant("torchvision", per_image, adapter=False),
                     Variant("adapter", lambda: multiclass_nms(boxes, cls, 0.05, 0.5, 1000, 100))], rounds=5))

    ns = 500 if quick else 2000
    sb, ss = random_boxes(ns, 5), torch.rand(ns, generator=g)
    out.append(Case("postprocess", f"soft_nms linear {ns} boxes",
                    [Variant("numpy-loop", lambda: soft_nms_numpy(sb, ss)),
                     Variant("adapter", lambda: soft_nms(sb, ss, 0.3, 0.5, 1e-3, "linear"))], rounds=3))
    return out
