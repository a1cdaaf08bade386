"""Fallback COCO evaluation, used ONLY when ``torchvision_adapter.coco`` is not available.

The demo evaluates with ``torchvision_adapter.coco`` (the project's pycocotools-compatible COCO and
COCOeval). This module is a small stand-in with the same API subset the demo calls (``COCO``,
``COCO.loadRes``, ``COCOeval.evaluate/accumulate/summarize``, ``stats`` and ``eval["precision"]``),
written after COCO's published evaluation protocol (greedy matching by score, crowd handling,
area ranges, 101-point interpolated precision), so the demo also runs in a tree without that module.
The report states which one produced its numbers.
"""
import copy
import json
from collections import defaultdict
from typing import Dict, List

import numpy as np

from . import _rle


class COCO:
    def __init__(self, annotation_file=None):
        self.dataset: Dict = {}
        if annotation_file is not None:
            with open(annotation_file) as f:
                self.dataset = json.load(f)
            self.createIndex()

    def createIndex(self):
        self.anns = {a["id"]: a for a in self.dataset.get("annotations", [])}
        self.imgs = {i["id"]: i for i in self.dataset.get("images", [])}
        self.cats = {c["id"]: c for c in self.dataset.get("categories", [])}
        self.imgToAnns = defaultdict(list)
        self.catToImgs = defaultdict(list)
        for a in self.dataset.get("annotations", []):
            self.imgToAnns[a["image_id"]].append(a)
            self.catToImgs[a["category_id"]].append(a["image_id"])

    def getImgIds(self, imgIds=(), catIds=()):
        ids = set(imgIds) if imgIds else set(self.imgs)
        for c in catIds:
            ids &= set(self.catToImgs[c])
        return sorted(ids)

    def getCatIds(self, catNms=(), supNms=(), catIds=()):
        return sorted(c["id"] for c in self.cats.values()
                      if (not catNms or c["name"] in catNms) and (not catIds or c["id"] in catIds))

    def getAnnIds(self, imgIds=(), catIds=(), areaRng=(), iscrowd=None):
        anns = [a for i in imgIds for a in self.imgToAnns[i]] if imgIds else list(self.anns.values())
        return [a["id"] for a in anns if (not catIds or a["category_id"] in catIds)
                and (iscrowd is None or a["iscrowd"] == iscrowd)]

    def loadAnns(self, ids=()):
        return [self.anns[i] for i in ids]

    def loadCats(self, ids=()):
        return [self.cats[i] for i in ids]

    def loadImgs(self, ids=()):
        return [self.imgs[i] for i in ids]

    def annToMask(self, ann) -> np.ndarray:
        img = self.imgs[ann["image_id"]]
        seg = ann["segmentation"]
        if isinstance(seg, dict):
            return _rle.decode(seg)
        import cv2

        mask = np.zeros((img["height"], img["width"]), np.uint8)
        for poly in seg:
            pts = np.round(np.asarray(poly, dtype=np.float64).reshape(-1, 2) * 16).astype(np.int32)
            cv2.fillPoly(mask, [pts], 1, cv2.LINE_8, shift=4)
        return mask

    def loadRes(self, resFile):
        res = COCO()
        res.dataset["images"] = list(self.dataset["images"])
        if isinstance(resFile, str):
            with open(resFile) as f:
                anns = json.load(f)
        else:
            anns = list(resFile)
        anns = copy.deepcopy(anns)
        for i, a in enumerate(anns):
            a["id"] = i + 1
            a.setdefault("iscrowd", 0)
            if "segmentation" in a:
                m = _rle.decode(a["segmentation"])
                a["area"] = float(m.sum())
                a.setdefault("bbox", _rle.to_bbox(m))
            else:
                x, y, w, h = a["bbox"]
                a["area"] = w * h
        res.dataset["categories"] = copy.deepcopy(self.dataset["categories"])
        res.dataset["annotations"] = anns
        res.createIndex()
        return res


class Params:
    def __init__(self, iouType="bbox"):
        self.imgIds: List[int] = []
        self.catIds: List[int] = []
        self.iouThrs = np.linspace(0.5, 0.95, 10)
        self.recThrs = np.linspace(0.0, 1.00, 101)
        self.maxDets = [1, 10, 100]
        self.areaRng = [[0, 1e10], [0, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e10]]
        self.areaRngLbl = ["all", "small", "medium", "large"]
        self.useCats = 1
        self.iouType = iouType


def _box_iou(d: np.ndarray, g: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of [x, y, w, h] boxes; for crowd ground truth the union is the detection's area."""
    dx1, dy1 = d[:, 0:1] + d[:, 2:3], d[:, 1:2] + d[:, 3:4]
    gx1, gy1 = g[:, 0] + g[:, 2], g[:, 1] + g[:, 3]
    iw = np.clip(np.minimum(dx1, gx1) - np.maximum(d[:, 0:1], g[:, 0]), 0, None)
    ih = np.clip(np.minimum(dy1, gy1) - np.maximum(d[:, 1:2], g[:, 1]), 0, None)
    inter = iw * ih
    da = (d[:, 2] * d[:, 3])[:, None]
    ga = (g[:, 2] * g[:, 3])[None, :]
    union = np.where(crowd[None, :], da, da + ga - inter)
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _mask_iou(d: np.ndarray, g: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    d = d.reshape(len(d), -1).astype(np.float32)
    g = g.reshape(len(g), -1).astype(np.float32)
    inter = d @ g.T
    da = d.sum(1)[:, None]
    ga = g.sum(1)[None, :]
    union = np.where(crowd[None, :], da, da + ga - inter)
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


class COCOeval:
    def __init__(self, cocoGt=None, cocoDt=None, iouType="bbox"):
        if iouType not in ("bbox", "segm"):
            raise ValueError(f"iouType should be 'bbox' or 'segm', got {iouType!r}")
        self.cocoGt, self.cocoDt = cocoGt, cocoDt
        self.params = Params(iouType)
        self.eval: Dict = {}
        self.stats = np.zeros(12)
        if cocoGt is not None:
            self.params.imgIds = sorted(cocoGt.getImgIds())
            self.params.catIds = sorted(cocoGt.getCatIds())

    def _geom(self, coco, anns):
        if self.params.iouType == "bbox":
            return np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        return np.stack([coco.annToMask(a) for a in anns]) if anns else np.zeros((0, 1, 1), np.uint8)

    def evaluate(self):
        p = self.params
        catIds = p.catIds if p.useCats else [-1]
        self.evalImgs = []
        for c in catIds:
            for a_rng in p.areaRng:
                for i in p.imgIds:
                    self.evalImgs.append(self._evaluate_img(i, c, a_rng, p.maxDets[-1]))
        self._counts = (len(catIds), len(p.areaRng), len(p.imgIds))

    def _evaluate_img(self, img_id, cat_id, a_rng, max_det):
        p = self.params
        gts = [a for a in self.cocoGt.imgToAnns[img_id] if not p.useCats or a["category_id"] == cat_id]
        dts = [a for a in self.cocoDt.imgToAnns[img_id] if not p.useCats or a["category_id"] == cat_id]
        if not gts and not dts:
            return None
        g_ignore = np.array([bool(g.get("ignore", 0) or g["iscrowd"]) or not (a_rng[0] <= g["area"] <= a_rng[1])
                             for g in gts], dtype=bool)
        g_order = np.argsort(g_ignore, kind="mergesort")
        gts = [gts[k] for k in g_order]
        g_ignore = g_ignore[g_order]
        d_order = np.argsort([-d["score"] for d in dts], kind="mergesort")[:max_det]
        dts = [dts[k] for k in d_order]
        crowd = np.array([g["iscrowd"] for g in gts], dtype=bool)
        if gts and dts:
            fn = _box_iou if p.iouType == "bbox" else _mask_iou
            ious = fn(self._geom(self.cocoDt, dts), self._geom(self.cocoGt, gts), crowd)
        else:
            ious = np.zeros((len(dts), len(gts)))
        T, G, D = len(p.iouThrs), len(gts), len(dts)
        gt_m = np.zeros((T, G), dtype=np.int64)
        dt_m = np.zeros((T, D), dtype=np.int64)
        dt_ig = np.zeros((T, D), dtype=bool)
        for t, thr in enumerate(p.iouThrs):
            for di in range(D):
                best = min(thr, 1 - 1e-10)
                m = -1
                for gi in range(G):
                    if gt_m[t, gi] > 0 and not crowd[gi]:
                        continue
                    if m > -1 and not g_ignore[m] and g_ignore[gi]:
                        break
                    if ious[di, gi] < best:
                        continue
                    best = ious[di, gi]
                    m = gi
                if m == -1:
                    continue
                dt_ig[t, di] = g_ignore[m]
                dt_m[t, di] = gts[m]["id"]
                gt_m[t, m] = dts[di]["id"]
        d_area_out = np.array([not (a_rng[0] <= d["area"] <= a_rng[1]) for d in dts], dtype=bool).reshape(1, D)
        dt_ig |= (dt_m == 0) & np.repeat(d_area_out, T, 0)
        return {"dtScores": np.array([d["score"] for d in dts]), "dtMatches": dt_m, "dtIgnore": dt_ig,
                "gtIgnore": g_ignore}

    def accumulate(self):
        p = self.params
        K, A, I = self._counts
        T, R, M = len(p.iouThrs), len(p.recThrs), len(p.maxDets)
        precision = -np.ones((T, R, K, A, M))
        recall = -np.ones((T, K, A, M))
        scores = -np.ones((T, R, K, A, M))
        for k in range(K):
            for a in range(A):
                imgs = [e for e in self.evalImgs[(k * A + a) * I:(k * A + a + 1) * I] if e is not None]
                if not imgs:
                    continue
                for m, max_det in enumerate(p.maxDets):
                    sc = np.concatenate([e["dtScores"][:max_det] for e in imgs])
                    order = np.argsort(-sc, kind="mergesort")
                    sc = sc[order]
                    dtm = np.concatenate([e["dtMatches"][:, :max_det] for e in imgs], 1)[:, order]
                    dtig = np.concatenate([e["dtIgnore"][:, :max_det] for e in imgs], 1)[:, order]
                    npig = int(sum((~e["gtIgnore"]).sum() for e in imgs))
                    if npig == 0:
                        continue
                    tps = np.cumsum((dtm != 0) & ~dtig, 1).astype(np.float64)
                    fps = np.cumsum((dtm == 0) & ~dtig, 1).astype(np.float64)
                    for t in range(T):
                        tp, fp = tps[t], fps[t]
                        rc = tp / npig
                        pr = tp / (fp + tp + np.spacing(1))
                        recall[t, k, a, m] = rc[-1] if len(tp) else 0
                        pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
                        inds = np.searchsorted(rc, p.recThrs, side="left")
                        q = np.zeros(R)
                        ss = np.zeros(R)
                        valid = inds < len(pr)
                        q[valid] = pr[inds[valid]]
                        ss[valid] = sc[inds[valid]]
                        precision[t, :, k, a, m] = q
                        scores[t, :, k, a, m] = ss
        self.eval = {"params": p, "counts": [T, R, K, A, M], "precision": precision, "recall": recall,
                     "scores": scores}

    def _summ(self, ap=True, iouThr=None, areaRng="all", maxDets=100):
        p = self.params
        a = p.areaRngLbl.index(areaRng)
        m = p.maxDets.index(maxDets)
        s = self.eval["precision"] if ap else self.eval["recall"]
        if iouThr is not None:
            t = int(np.argmin(np.abs(p.iouThrs - iouThr)))
            s = s[t:t + 1]
        s = s[..., a, m]
        s = s[s > -1]
        v = float(s.mean()) if s.size else -1.0
        kind = "Average Precision" if ap else "Average Recall"
        iou = f"{p.iouThrs[0]:0.2f}:{p.iouThrs[-1]:0.2f}" if iouThr is None else f"{iouThr:0.2f}"
        print(f" {kind:<18} {'(AP)' if ap else '(AR)'} @[ IoU={iou:<9} | area={areaRng:>6s} | "
              f"maxDets={maxDets:>3d} ] = {v:0.3f}")
        return v

    def summarize(self):
        md = self.params.maxDets[-1]
        s = self._summ
        self.stats = np.array([
            s(True, None, "all", md), s(True, 0.5, "all", md), s(True, 0.75, "all", md),
            s(True, None, "small", md), s(True, None, "medium", md), s(True, None, "large", md),
            s(False, None, "all", self.params.maxDets[0]), s(False, None, "all", self.params.maxDets[1]),
            s(False, None, "all", md), s(False, None, "small", md), s(False, None, "medium", md),
            s(False, None, "large", md),
        ])
