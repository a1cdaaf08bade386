"""COCO detection evaluation (pycocotools.cocoeval.COCOeval) on the native core in csrc/coco/.

Same API and same numbers as pycocotools for bbox, segm and keypoints: ``params`` (imgIds, catIds, iouThrs,
recThrs, maxDets, areaRng, areaRngLbl, useCats), ``evaluate()``, ``accumulate(p=None)``,
``summarize()``, ``stats`` and ``eval`` (precision [T,R,K,A,M], recall [T,K,A,M], scores).
``evalImgs`` is built on first access (it re-runs the matching keeping every match id).
"""
import copy
import datetime
import time
from collections.abc import Sequence

import numpy as np
import torch

from . import mask as _mask  # noqa: F401  (loads the native library)

__all__ = ["COCOeval", "Params"]

_SCALARS = (int, float, str, bool, np.int64, np.int32, np.float64, np.float32)

_ops = torch.ops.torchvision_adapter


def _index_of(values, keys):
    """Position of each value in the sorted unique array `keys`, -1 where absent."""
    if len(keys) == 0 or len(values) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    try:
        k = np.asarray(keys)
        v = np.asarray(values)
        if k.dtype == object or v.dtype == object:
            raise TypeError
        if k.dtype.kind in "iu" and v.dtype.kind in "iu" and int(k[-1]) - int(k[0]) < 4 * len(k) + 4096:
            # Dense integer ids (the usual case): a lookup table instead of a binary search each.
            k0 = int(k[0])
            table = np.full(int(k[-1]) - k0 + 1, -1, dtype=np.int64)
            table[k - k0] = np.arange(len(k), dtype=np.int64)
            off = v.astype(np.int64) - k0
            inside = (off >= 0) & (off < len(table))
            return np.where(inside, table[np.where(inside, off, 0)], -1)
        pos = np.searchsorted(k, v)
        pos = np.minimum(pos, len(k) - 1)
        return np.where(k[pos] == v, pos, -1).astype(np.int64)
    except TypeError:
        lookup = {key: j for j, key in enumerate(keys)}
        return np.array([lookup.get(x, -1) for x in values], dtype=np.int64)


class _EvalImgs(Sequence):
    """cocoeval's evalImgs (K x A x I entries, None for empty ones), materialised on first access."""

    def __init__(self, owner):
        self._owner = owner
        self._items = None

    def _build(self):
        if self._items is None:
            self._items = self._owner._build_eval_imgs()
        return self._items

    def __len__(self):
        s = self._owner._state
        return 0 if s is None else s["K"] * s["A"] * s["I"]

    def __getitem__(self, j):
        return self._build()[j]

    def __bool__(self):
        return len(self) > 0


class COCOeval:
    """Evaluation of detections against ground truth: ``COCOeval(cocoGt, cocoDt, iouType)`` with
    iouType 'bbox', 'segm' or 'keypoints'; then ``evaluate()``, ``accumulate()``, ``summarize()``."""

    def __init__(self, cocoGt=None, cocoDt=None, iouType="segm"):
        if not iouType:
            print("iouType not specified. use default iouType segm")
        self.cocoGt = cocoGt
        self.cocoDt = cocoDt
        self.eval = {}
        self.params = Params(iouType=iouType)
        self._paramsEval = {}
        self.stats = []
        self.ious = {}
        self._state = None
        self._timing = {}
        self.evalImgs = []
        if cocoGt is not None:
            self.params.imgIds = sorted(cocoGt.getImgIds())
            self.params.catIds = sorted(cocoGt.getCatIds())

    # ---- evaluate -----------------------------------------------------------------------------

    def _side(self, coco, detections, p, img_keys, cat_keys):
        cols = coco._columns(detections)
        img = _index_of(cols["image_id"], img_keys)
        if p.useCats:
            cat = _index_of(cols["category_id"], cat_keys)
            order = None
        else:
            # All categories pooled: cocoeval lists a (image)'s annotations category by category in
            # the order of params.catIds, each category in annotation order.
            first = {}
            for j, c in enumerate(p.catIds):
                first.setdefault(c, j)
            pos = np.array([first.get(c, -1) for c in cols["category_id"].tolist()], dtype=np.int64)
            img = np.where(pos < 0, -1, img)
            order = np.argsort(pos, kind="stable")
            cat = np.zeros(len(img), dtype=np.int64)
        keep = np.nonzero(img >= 0)[0] if order is None else order[img[order] >= 0]
        T = torch.from_numpy
        out = [T(np.ascontiguousarray(img[keep])), T(np.ascontiguousarray(cat[keep])),
               T(cols["id"][keep].astype(np.int64)), T(cols["area"][keep])]
        if detections:
            out.append(T(cols["score"][keep]))
        else:
            out.append(T(cols["iscrowd"][keep]))
            ignore = cols["ignore"][keep]
            if p.iouType == "keypoints":
                # cocoeval: a gt without labelled keypoints is ignored like a crowd.
                ignore = ignore | (coco._num_keypoints_column()[keep] == 0)
            out.append(T(ignore))
        if p.iouType == "keypoints":
            k = len(p.kpt_oks_sigmas)
            kp, has = coco._keypoints_column(k)
            if not has[keep].all():
                j = int(keep[np.nonzero(~has[keep])[0][0]])
                raise ValueError("annotation {} has no 'keypoints' list of {} numbers (3 per sigma in "
                                 "params.kpt_oks_sigmas)".format(cols["id"][j], 3 * k))
            segm = [T(np.ascontiguousarray(kp[keep]))]
            if detections:
                out.append(torch.zeros(len(keep), 4, dtype=torch.float64))
            else:
                out.append(T(np.ascontiguousarray(coco._bbox_column()[keep])))
        elif p.iouType == "bbox":
            out.append(T(np.ascontiguousarray(coco._bbox_column()[keep])))
            segm = []
        else:
            out.append(torch.zeros(len(keep), 4, dtype=torch.float64))
            chars, lens, h, w = coco._rle_column()
            if len(keep) == len(lens) and np.array_equal(keep, np.arange(len(lens))):
                segm = [chars, lens, h, w]
            else:
                # Gather the kept annotations' strings, in the order of `keep`.
                ln = lens.numpy()
                starts = np.cumsum(ln) - ln
                kl, ks = ln[keep], starts[keep]
                new_starts = np.cumsum(kl) - kl
                idx = np.arange(int(kl.sum()), dtype=np.int64) + np.repeat(ks - new_starts, kl)
                tk = torch.from_numpy(keep)
                segm = [torch.from_numpy(chars.numpy()[idx]), lens[tk], h[tk], w[tk]]
        return out, segm, keep

    def evaluate(self):
        """Per image and category matching of detections to ground truth (cocoeval.evaluate)."""
        tic = time.time()
        print("Running per image evaluation...")
        p = self.params
        if p.useSegm is not None:
            p.iouType = "segm" if p.useSegm == 1 else "bbox"
            print("useSegm (deprecated) is not None. Running {} evaluation".format(p.iouType))
        print("Evaluate annotation type *{}*".format(p.iouType))
        if p.iouType not in ("bbox", "segm", "keypoints"):
            raise ValueError("iouType '{}' is not supported (bbox, segm and keypoints are)".format(p.iouType))
        p.imgIds = list(np.unique(p.imgIds))
        if p.useCats:
            p.catIds = list(np.unique(p.catIds))
        p.maxDets = sorted(p.maxDets)
        self.params = p

        t_prepare = time.perf_counter()
        img_keys = np.unique(p.imgIds) if len(p.imgIds) else np.zeros(0, dtype=np.int64)
        cat_keys = np.unique(p.catIds) if (p.useCats and len(p.catIds)) else np.zeros(0, dtype=np.int64)
        I = len(p.imgIds)
        K = len(p.catIds) if p.useCats else 1
        A = len(p.areaRng)
        gt, gt_segm, gt_keep = self._side(self.cocoGt, False, p, img_keys, cat_keys)
        dt, dt_segm, dt_keep = self._side(self.cocoDt, True, p, img_keys, cat_keys)
        iou_thrs = torch.from_numpy(np.asarray(p.iouThrs, dtype=np.float64).reshape(-1))
        area_rng = torch.from_numpy(np.asarray(p.areaRng, dtype=np.float64).reshape(-1, 2))
        max_det = int(p.maxDets[-1]) if len(p.maxDets) else 0
        if p.iouType == "keypoints":
            sigmas = np.asarray(p.kpt_oks_sigmas, dtype=np.float64).reshape(-1)
            kpts = [gt_segm[0], dt_segm[0], torch.from_numpy((sigmas * 2) ** 2)]
            # computeOks looks annotations up by (image, category) even when useCats is 0, where
            # the category is -1: nothing is found and no detection is matched.
            args = (gt, dt, [], [], I, K, iou_thrs, area_rng, max_det)
            extra = (kpts, not p.useCats)
        else:
            args = (gt, dt, gt_segm, dt_segm, I, K, iou_thrs, area_rng, max_det)
            extra = ([], False)
        t_native = time.perf_counter()
        res = _ops.coco_evaluate(*args, False, *extra)
        # Seconds spent reading annotations into arrays (Python) and in the native matching.
        self._timing = {"prepare": t_native - t_prepare, "native": time.perf_counter() - t_native}
        self._state = {
            "args": args, "extra": extra, "I": I, "K": K, "A": A, "T": len(iou_thrs),
            "dt_off": res[0], "dt_order": res[1], "dt_score": res[2], "valid": res[3],
            "npig": res[4], "flags": res[5], "gt_keep": gt_keep, "dt_keep": dt_keep,
        }
        self.evalImgs = _EvalImgs(self)
        self.ious = {}
        self._paramsEval = copy.deepcopy(self.params)
        print("DONE (t={:0.2f}s).".format(time.time() - tic))

    def _build_eval_imgs(self):
        s = self._state
        p = self._paramsEval
        res = _ops.coco_evaluate(*s["args"], True, *s["extra"])
        dt_off, dt_order, dt_score, valid = res[0].numpy(), res[1].numpy(), res[2].numpy(), res[3].numpy()
        flags, gt_off, gt_order, gt_ignore = res[5].numpy(), res[6].numpy(), res[7].numpy(), res[8].numpy()
        dt_matches, gt_matches = res[9].numpy(), res[10].numpy()
        gt_ids = s["args"][0][2].numpy()
        dt_ids = s["args"][1][2].numpy()
        I, K, A, T = s["I"], s["K"], s["A"], s["T"]
        catIds = p.catIds if p.useCats else [-1]
        maxDet = p.maxDets[-1]
        out = []
        for k in range(K):
            for a in range(A):
                aRng = p.areaRng[a]
                for i in range(I):
                    g = k * I + i
                    if not valid[g]:
                        out.append(None)
                        continue
                    d0, d1 = dt_off[g], dt_off[g + 1]
                    D = d1 - d0
                    g0, g1 = gt_off[g], gt_off[g + 1]
                    G = g1 - g0
                    fl = flags[A * T * d0: A * T * d1].reshape(D, A, T)[:, a, :].T
                    gsel = gt_order[A * g0 + a * G: A * g0 + (a + 1) * G]
                    out.append({
                        "image_id": p.imgIds[i],
                        "category_id": catIds[k],
                        "aRng": aRng,
                        "maxDet": maxDet,
                        "dtIds": dt_ids[dt_order[d0:d1]].tolist(),
                        "gtIds": gt_ids[gsel].tolist(),
                        "dtMatches": dt_matches[A * T * d0 + a * T * D: A * T * d0 + (a + 1) * T * D].reshape(T, D).copy(),
                        "gtMatches": gt_matches[A * T * g0 + a * T * G: A * T * g0 + (a + 1) * T * G].reshape(T, G).copy(),
                        "dtScores": dt_score[d0:d1].tolist(),
                        "gtIgnore": gt_ignore[A * g0 + a * G: A * g0 + (a + 1) * G].astype(np.int64),
                        "dtIgnore": (fl & 2) != 0,
                    })
        return out

    # ---- accumulate ---------------------------------------------------------------------------

    def accumulate(self, p=None):
        """Precision / recall / scores over all images (cocoeval.accumulate)."""
        print("Accumulating evaluation results...")
        tic = time.time()
        if not self.evalImgs:
            print("Please run evaluate() first")
        if p is None:
            p = self.params
        p.catIds = p.catIds if p.useCats == 1 else [-1]
        T = len(p.iouThrs)
        R = len(p.recThrs)
        K = len(p.catIds) if p.useCats else 1
        A = len(p.areaRng)
        M = len(p.maxDets)
        precision = -np.ones((T, R, K, A, M))
        recall = -np.ones((T, K, A, M))
        scores = -np.ones((T, R, K, A, M))
        s = self._state
        if s is not None:
            _pe = self._paramsEval
            catIds = _pe.catIds if _pe.useCats else [-1]
            setK = set(catIds)
            setA = set(map(tuple, _pe.areaRng))
            setM = set(_pe.maxDets)
            setI = set(_pe.imgIds)
            k_list = [n for n, k in enumerate(p.catIds) if k in setK]
            m_list = [m for n, m in enumerate(p.maxDets) if m in setM]
            a_list = [n for n, a in enumerate(map(lambda x: tuple(x), p.areaRng)) if a in setA]
            i_list = [n for n, i in enumerate(p.imgIds) if i in setI]
            if T != s["T"]:
                raise ValueError("accumulate: params.iouThrs must be the thresholds evaluate() used")
            L = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
            pr, rc, sc = _ops.coco_accumulate(
                s["dt_off"], s["dt_score"], s["valid"], s["npig"], s["flags"], s["I"], s["K"], s["A"],
                s["T"], L(k_list), L(a_list), L([int(m) for m in m_list]), L(i_list),
                torch.from_numpy(np.asarray(p.recThrs, dtype=np.float64).reshape(-1)), K, A, M)
            precision, recall, scores = pr.numpy(), rc.numpy(), sc.numpy()
        self.eval = {
            "params": p,
            "counts": [T, R, K, A, M],
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "precision": precision,
            "recall": recall,
            "scores": scores,
        }
        print("DONE (t={:0.2f}s).".format(time.time() - tic))

    # ---- summarize ----------------------------------------------------------------------------

    def summarize(self):
        """Prints the 12 COCO metrics (10 for keypoints) and stores them in ``stats``."""

        def _summarize(ap=1, iouThr=None, areaRng="all", maxDets=100):
            p = self.params
            iStr = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}"
            titleStr = "Average Precision" if ap == 1 else "Average Recall"
            typeStr = "(AP)" if ap == 1 else "(AR)"
            iouStr = "{:0.2f}:{:0.2f}".format(p.iouThrs[0], p.iouThrs[-1]) \
                if iouThr is None else "{:0.2f}".format(iouThr)
            aind = [i for i, aRng in enumerate(p.areaRngLbl) if aRng == areaRng]
            mind = [i for i, mDet in enumerate(p.maxDets) if mDet == maxDets]
            if ap == 1:
                s = self.eval["precision"]
                if iouThr is not None:
                    t = np.where(iouThr == p.iouThrs)[0]
                    s = s[t]
                s = s[:, :, :, aind, mind]
            else:
                s = self.eval["recall"]
                if iouThr is not None:
                    t = np.where(iouThr == p.iouThrs)[0]
                    s = s[t]
                s = s[:, :, aind, mind]
            if len(s[s > -1]) == 0:
                mean_s = -1
            else:
                mean_s = np.mean(s[s > -1])
            print(iStr.format(titleStr, typeStr, iouStr, areaRng, maxDets, mean_s))
            return mean_s

        def _summarizeDets():
            stats = np.zeros((12,))
            stats[0] = _summarize(1)
            stats[1] = _summarize(1, iouThr=.5, maxDets=self.params.maxDets[2])
            stats[2] = _summarize(1, iouThr=.75, maxDets=self.params.maxDets[2])
            stats[3] = _summarize(1, areaRng="small", maxDets=self.params.maxDets[2])
            stats[4] = _summarize(1, areaRng="medium", maxDets=self.params.maxDets[2])
            stats[5] = _summarize(1, areaRng="large", maxDets=self.params.maxDets[2])
            stats[6] = _summarize(0, maxDets=self.params.maxDets[0])
            stats[7] = _summarize(0, maxDets=self.params.maxDets[1])
            stats[8] = _summarize(0, maxDets=self.params.maxDets[2])
            stats[9] = _summarize(0, areaRng="small", maxDets=self.params.maxDets[2])
            stats[10] = _summarize(0, areaRng="medium", maxDets=self.params.maxDets[2])
            stats[11] = _summarize(0, areaRng="large", maxDets=self.params.maxDets[2])
            return stats

        def _summarizeKps():
            stats = np.zeros((10,))
            stats[0] = _summarize(1, maxDets=20)
            stats[1] = _summarize(1, maxDets=20, iouThr=.5)
            stats[2] = _summarize(1, maxDets=20, iouThr=.75)
            stats[3] = _summarize(1, maxDets=20, areaRng="medium")
            stats[4] = _summarize(1, maxDets=20, areaRng="large")
            stats[5] = _summarize(0, maxDets=20)
            stats[6] = _summarize(0, maxDets=20, iouThr=.5)
            stats[7] = _summarize(0, maxDets=20, iouThr=.75)
            stats[8] = _summarize(0, maxDets=20, areaRng="medium")
            stats[9] = _summarize(0, maxDets=20, areaRng="large")
            return stats

        if not self.eval:
            raise Exception("Please run accumulate() first")
        iouType = self.params.iouType
        if iouType == "segm" or iouType == "bbox":
            summarize = _summarizeDets
        elif iouType == "keypoints":
            summarize = _summarizeKps
        self.stats = summarize()

    def __str__(self):
        self.summarize()
        return ""


class Params:
    """Evaluation parameters, defaults as pycocotools."""

    def __deepcopy__(self, memo):
        # copy.deepcopy, faster for the long id lists (of immutable scalars) than the generic walk.
        out = Params.__new__(Params)
        memo[id(self)] = out
        for name, value in self.__dict__.items():
            if type(value) == list and all(type(x) in _SCALARS for x in value):
                value = list(value)
            else:
                value = copy.deepcopy(value, memo)
            setattr(out, name, value)
        return out

    def setDetParams(self):
        self.imgIds = []
        self.catIds = []
        self.iouThrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        self.recThrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
        self.maxDets = [1, 10, 100]
        self.areaRng = [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
        self.areaRngLbl = ["all", "small", "medium", "large"]
        self.useCats = 1

    def setKpParams(self):
        self.imgIds = []
        self.catIds = []
        self.iouThrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        self.recThrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
        self.maxDets = [20]
        self.areaRng = [[0 ** 2, 1e5 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
        self.areaRngLbl = ["all", "medium", "large"]
        self.useCats = 1
        self.kpt_oks_sigmas = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07,
                                        1.07, .87, .87, .89, .89]) / 10.0

    def __init__(self, iouType="segm"):
        if iouType == "segm" or iouType == "bbox":
            self.setDetParams()
        elif iouType == "keypoints":
            self.setKpParams()
        else:
            raise Exception("iouType not supported")
        self.iouType = iouType
        self.useSegm = None
