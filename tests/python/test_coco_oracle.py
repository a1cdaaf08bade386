"""A plain, slow, float64 re-statement of pycocotools' COCOeval and mask code, used only as the test
oracle (pycocotools itself cannot be installed here). It follows cocoeval.py line by line on dicts
and numpy arrays; masks are decoded to dense numpy arrays and compared pixel by pixel, so the RLE
arithmetic under test is not reused."""
import copy
import math
from collections import defaultdict

import numpy as np

# ---- RLE, independently in Python ---------------------------------------------------------------


def rle_string(counts):
    out = []
    for i, c in enumerate(counts):
        x = int(c)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out).encode("ascii")


def rle_counts(s):
    if isinstance(s, str):
        s = s.encode("ascii")
    counts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = s[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x & 0xFFFFFFFF)
    return counts


def mask_from_counts(counts, h, w):
    flat = np.zeros(h * w, dtype=np.uint8)
    pos, v = 0, 0
    for c in counts:
        flat[pos:pos + c] = v
        pos += c
        v = 1 - v
    return flat.reshape(w, h).T  # column-major


def counts_from_mask(m):
    flat = np.asarray(m, dtype=np.uint8).T.reshape(-1)
    counts, p, c = [], 0, 0
    for v in flat:
        if v != p:
            counts.append(c)
            c = 0
            p = v
        c += 1
    counts.append(c)
    return counts


def _cint(v):
    # C's (int) cast on x86 (truncation; NaN/out of range -> INT_MIN).
    if not (-2147483649.0 < v < 2147483648.0):
        return -2147483648
    return int(v)


def poly_mask(xy, h, w):
    """maskApi's rleFrPoly, literally, returning a dense mask."""
    k = len(xy) // 2
    scale = 5.0
    x = [_cint(scale * xy[2 * j] + .5) for j in range(k)]
    y = [_cint(scale * xy[2 * j + 1] + .5) for j in range(k)]
    x.append(x[0])
    y.append(y[0])
    u, v = [], []
    for j in range(k):
        xs, xe, ys, ye = x[j], x[j + 1], y[j], y[j + 1]
        dx, dy = abs(xe - xs), abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe = xe, xs
            ys, ye = ye, ys
        if dx >= dy:
            s = (ye - ys) / dx if dx else math.nan
            for d in range(dx + 1):
                t = dx - d if flip else d
                u.append(t + xs)
                v.append(_cint(ys + s * t + .5))
        else:
            s = (xe - xs) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v.append(t + ys)
                u.append(_cint(xs + s * t + .5))
    a = []
    for j in range(1, len(u)):
        if u[j] == u[j - 1]:
            continue
        xd = float(u[j] if u[j] < u[j - 1] else u[j] - 1)
        xd = (xd + .5) / scale - .5
        if math.floor(xd) != xd or xd < 0 or xd > w - 1:
            continue
        yd = float(v[j] if v[j] < v[j - 1] else v[j - 1])
        yd = (yd + .5) / scale - .5
        yd = 0 if yd < 0 else (h if yd > h else yd)
        yd = math.ceil(yd)
        a.append((int(xd) * h + int(yd)) & 0xFFFFFFFF)
    a.append(h * w)
    a.sort()
    diffs, p = [], 0
    for t in a:
        diffs.append(t - p)
        p = t
    b = [diffs[0]]
    j = 1
    while j < len(diffs):
        if diffs[j] > 0:
            b.append(diffs[j])
            j += 1
        else:
            j += 1
            if j < len(diffs):
                b[-1] += diffs[j]
                j += 1
    return mask_from_counts(b, h, w)


def segm_mask(segm, h, w):
    """annToRLE as a dense mask."""
    if isinstance(segm, list):
        m = np.zeros((h, w), dtype=np.uint8)
        for poly in segm:
            if len(poly) == 4:
                x0, y0, bw, bh = poly
                poly = [x0, y0, x0, y0 + bh, x0 + bw, y0 + bh, x0 + bw, y0]
            m |= poly_mask(poly, h, w)
        return m
    hh, ww = segm["size"]
    counts = segm["counts"] if isinstance(segm["counts"], list) else rle_counts(segm["counts"])
    return mask_from_counts(counts, hh, ww)


def mask_bbox(m):
    ys, xs = np.nonzero(m)
    if len(xs) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def box_iou(d, g, crowd):
    w = min(d[2] + d[0], g[2] + g[0]) - max(d[0], g[0])
    if w <= 0:
        return 0.0
    h = min(d[3] + d[1], g[3] + g[1]) - max(d[1], g[1])
    if h <= 0:
        return 0.0
    i = w * h
    u = d[2] * d[3] if crowd else d[2] * d[3] + g[2] * g[3] - i
    return i / u


def mask_iou(dm, gm, crowd):
    if box_iou(mask_bbox(dm), mask_bbox(gm), crowd) <= 0:
        return 0.0
    if dm.shape != gm.shape:
        return -1.0
    i = int(np.count_nonzero(dm & gm))
    if i == 0:
        return 0.0
    u = int(np.count_nonzero(dm)) if crowd else int(np.count_nonzero(dm | gm))
    return i / u


# ---- cocoeval, straight ------------------------------------------------------------------------


class OracleParams:
    def __init__(self):
        self.imgIds, self.catIds = [], []
        self.iouThrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        self.recThrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
        self.maxDets = [1, 10, 100]
        self.areaRng = [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
        self.areaRngLbl = ["all", "small", "medium", "large"]
        self.useCats = 1


class OracleKpParams(OracleParams):
    def __init__(self):
        super().__init__()
        self.maxDets = [20]
        self.areaRng = [[0 ** 2, 1e5 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
        self.areaRngLbl = ["all", "medium", "large"]
        self.kpt_oks_sigmas = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07,
                                        1.07, .87, .87, .89, .89]) / 10.0


def compute_oks(dts, gts, sigmas):
    """cocoeval.computeOks on lists of annotation dicts (dts already sorted and cut), statement by
    statement."""
    if len(gts) == 0 or len(dts) == 0:
        return []
    ious = np.zeros((len(dts), len(gts)))
    sigmas = np.asarray(sigmas, dtype=np.float64)
    vars = (sigmas * 2) ** 2
    k = len(sigmas)
    for j, gt in enumerate(gts):
        g = np.array(gt["keypoints"], dtype=np.float64)
        xg = g[0::3]
        yg = g[1::3]
        vg = g[2::3]
        k1 = np.count_nonzero(vg > 0)
        bb = gt["bbox"]
        x0 = bb[0] - bb[2]
        x1 = bb[0] + bb[2] * 2
        y0 = bb[1] - bb[3]
        y1 = bb[1] + bb[3] * 2
        for i, dt in enumerate(dts):
            d = np.array(dt["keypoints"], dtype=np.float64)
            xd = d[0::3]
            yd = d[1::3]
            if k1 > 0:
                dx = xd - xg
                dy = yd - yg
            else:
                z = np.zeros((k))
                dx = np.max((z, x0 - xd), axis=0) + np.max((z, xd - x1), axis=0)
                dy = np.max((z, y0 - yd), axis=0) + np.max((z, yd - y1), axis=0)
            e = (dx ** 2 + dy ** 2) / vars / (gt["area"] + np.spacing(1)) / 2
            if k1 > 0:
                e = e[vg > 0]
            ious[i, j] = np.sum(np.exp(-e)) / e.shape[0]
    return ious


def load_results(gt_dataset, dets, iou_type):
    """loadRes for lists of dicts (bbox, segm or keypoints results)."""
    anns = copy.deepcopy(dets)
    imgs = {im["id"]: im for im in gt_dataset["images"]}
    for j, ann in enumerate(anns):
        if iou_type == "keypoints":
            s = ann["keypoints"]
            x, y = s[0::3], s[1::3]
            x0, x1, y0, y1 = np.min(x), np.max(x), np.min(y), np.max(y)
            ann["area"] = (x1 - x0) * (y1 - y0)
            ann["id"] = j + 1
            ann["bbox"] = [x0, y0, x1 - x0, y1 - y0]
            continue
        if iou_type == "bbox":
            bb = ann["bbox"]
            ann["area"] = bb[2] * bb[3]
        else:
            s = ann["segmentation"]
            m = segm_mask(s, *s["size"])
            ann["area"] = int(np.count_nonzero(m))
            if "bbox" not in ann:
                ann["bbox"] = mask_bbox(m)
        ann["id"] = j + 1
        ann["iscrowd"] = 0
    return anns


def oracle_eval(gt_dataset, dt_anns, iou_type, params=None, use_cats=True):
    """Runs cocoeval's evaluate + accumulate + the 12 summary stats on plain dicts.
    dt_anns must already carry loadRes' fields (use load_results)."""
    p = params or (OracleKpParams() if iou_type == "keypoints" else OracleParams())
    if not p.imgIds:
        p.imgIds = sorted(im["id"] for im in gt_dataset["images"])
    if not p.catIds:
        p.catIds = sorted(c["id"] for c in gt_dataset["categories"])
    p.useCats = 1 if use_cats else 0
    p.imgIds = list(np.unique(p.imgIds))
    if p.useCats:
        p.catIds = list(np.unique(p.catIds))
    p.maxDets = sorted(p.maxDets)
    imgs = {im["id"]: im for im in gt_dataset["images"]}
    anns_by_id = {}
    for a in gt_dataset["annotations"]:
        anns_by_id[a["id"]] = a
    gts_all = [anns_by_id[a["id"]] for a in gt_dataset["annotations"]]
    setI = set(p.imgIds)
    setC = set(p.catIds)
    gts = [copy.copy(g) for g in gts_all if g["image_id"] in setI and (not p.useCats or g["category_id"] in setC)]
    dts = [copy.copy(d) for d in dt_anns if d["image_id"] in setI and (not p.useCats or d["category_id"] in setC)]
    # annotation order per image (cocoeval gathers image by image)
    order = {i: n for n, i in enumerate(p.imgIds)}
    gts.sort(key=lambda a: order[a["image_id"]])
    dts.sort(key=lambda a: order[a["image_id"]])
    for g in gts:
        g["ignore"] = "iscrowd" in g and g["iscrowd"]
        if iou_type == "keypoints":
            g["ignore"] = (g["num_keypoints"] == 0) or g["ignore"]
    _gts, _dts = defaultdict(list), defaultdict(list)
    for g in gts:
        _gts[g["image_id"], g["category_id"]].append(g)
    for d in dts:
        _dts[d["image_id"], d["category_id"]].append(d)
    masks = {}

    def mask_of(a, is_gt):
        key = (is_gt, id(a))
        if key not in masks:
            s = a["segmentation"]
            if isinstance(s, list):
                im = imgs[a["image_id"]]
                masks[key] = segm_mask(s, im["height"], im["width"])
            else:
                masks[key] = segm_mask(s, *s["size"])
        return masks[key]

    def gather(imgId, catId):
        if p.useCats:
            return _gts[imgId, catId], _dts[imgId, catId]
        return ([g for c in p.catIds for g in _gts[imgId, c]], [d for c in p.catIds for d in _dts[imgId, c]])

    def compute_iou(imgId, catId):
        if iou_type == "keypoints":
            # computeOks reads _gts/_dts[imgId, catId] directly (catId -1 when useCats is 0).
            dts = _dts[imgId, catId]
            inds = np.argsort([-d["score"] for d in dts], kind="mergesort")
            dts = [dts[i] for i in inds][:p.maxDets[-1]]
            return compute_oks(dts, _gts[imgId, catId], p.kpt_oks_sigmas)
        gt, dt = gather(imgId, catId)
        if len(gt) == 0 and len(dt) == 0:
            return []
        inds = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in inds][:p.maxDets[-1]]
        if len(gt) == 0 or len(dt) == 0:
            return []
        ious = np.zeros((len(dt), len(gt)))
        for i, d in enumerate(dt):
            for j, g in enumerate(gt):
                crowd = int(g["iscrowd"])
                if iou_type == "bbox":
                    ious[i, j] = box_iou(d["bbox"], g["bbox"], crowd)
                else:
                    ious[i, j] = mask_iou(mask_of(d, False), mask_of(g, True), crowd)
        return ious

    catIds = p.catIds if p.useCats else [-1]
    all_ious = {(i, c): compute_iou(i, c) for i in p.imgIds for c in catIds}

    def evaluate_img(imgId, catId, aRng, maxDet):
        gt, dt = gather(imgId, catId)
        if len(gt) == 0 and len(dt) == 0:
            return None
        ig = [1 if (g["ignore"] or g["area"] < aRng[0] or g["area"] > aRng[1]) else 0 for g in gt]
        gtind = np.argsort(ig, kind="mergesort")
        gt = [gt[i] for i in gtind]
        gtIg = np.array([ig[i] for i in gtind])
        dtind = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in dtind[0:maxDet]]
        iscrowd = [int(o["iscrowd"]) for o in gt]
        ious = all_ious[imgId, catId]
        ious = ious[:, gtind] if len(ious) > 0 else ious
        T, G, D = len(p.iouThrs), len(gt), len(dt)
        gtm, dtm, dtIg = np.zeros((T, G)), np.zeros((T, D)), np.zeros((T, D))
        if not len(ious) == 0:
            for tind, t in enumerate(p.iouThrs):
                for dind, d in enumerate(dt):
                    iou = min([t, 1 - 1e-10])
                    m = -1
                    for gind, g in enumerate(gt):
                        if gtm[tind, gind] > 0 and not iscrowd[gind]:
                            continue
                        if m > -1 and gtIg[m] == 0 and gtIg[gind] == 1:
                            break
                        if ious[dind, gind] < iou:
                            continue
                        iou = ious[dind, gind]
                        m = gind
                    if m == -1:
                        continue
                    dtIg[tind, dind] = gtIg[m]
                    dtm[tind, dind] = gt[m]["id"]
                    gtm[tind, m] = d["id"]
        a = np.array([d["area"] < aRng[0] or d["area"] > aRng[1] for d in dt]).reshape((1, len(dt)))
        dtIg = np.logical_or(dtIg, np.logical_and(dtm == 0, np.repeat(a, T, 0)))
        return {"dtIds": [d["id"] for d in dt], "gtIds": [g["id"] for g in gt], "dtMatches": dtm,
                "gtMatches": gtm, "dtScores": [d["score"] for d in dt], "gtIgnore": gtIg, "dtIgnore": dtIg}

    evalImgs = [evaluate_img(i, c, a, p.maxDets[-1]) for c in catIds for a in p.areaRng for i in p.imgIds]
    T, R = len(p.iouThrs), len(p.recThrs)
    K, A, M = len(catIds), len(p.areaRng), len(p.maxDets)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    scores = -np.ones((T, R, K, A, M))
    I0, A0 = len(p.imgIds), len(p.areaRng)
    for k in range(K):
        for a in range(A):
            for m, maxDet in enumerate(p.maxDets):
                E = [evalImgs[k * A0 * I0 + a * I0 + i] for i in range(I0)]
                E = [e for e in E if e is not None]
                if len(E) == 0:
                    continue
                dtScores = np.concatenate([e["dtScores"][0:maxDet] for e in E])
                inds = np.argsort(-dtScores, kind="mergesort")
                dtScoresSorted = dtScores[inds]
                dtm = np.concatenate([e["dtMatches"][:, 0:maxDet] for e in E], axis=1)[:, inds]
                dtIg = np.concatenate([e["dtIgnore"][:, 0:maxDet] for e in E], axis=1)[:, inds]
                gtIg = np.concatenate([e["gtIgnore"] for e in E])
                npig = np.count_nonzero(gtIg == 0)
                if npig == 0:
                    continue
                tps = np.logical_and(dtm, np.logical_not(dtIg))
                fps = np.logical_and(np.logical_not(dtm), np.logical_not(dtIg))
                tp_sum = np.cumsum(tps, axis=1).astype(dtype=np.float64)
                fp_sum = np.cumsum(fps, axis=1).astype(dtype=np.float64)
                for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
                    nd = len(tp)
                    rc = tp / npig
                    pr = tp / (fp + tp + np.spacing(1))
                    q = np.zeros((R,))
                    ss = np.zeros((R,))
                    recall[t, k, a, m] = rc[-1] if nd else 0
                    pr = pr.tolist()
                    q = q.tolist()
                    for i in range(nd - 1, 0, -1):
                        if pr[i] > pr[i - 1]:
                            pr[i - 1] = pr[i]
                    inds2 = np.searchsorted(rc, p.recThrs, side="left")
                    try:
                        for ri, pi in enumerate(inds2):
                            q[ri] = pr[pi]
                            ss[ri] = dtScoresSorted[pi]
                    except IndexError:
                        pass
                    precision[t, :, k, a, m] = np.array(q)
                    scores[t, :, k, a, m] = np.array(ss)

    def summ(ap=1, iouThr=None, areaRng="all", maxDets=100):
        aind = [i for i, l in enumerate(p.areaRngLbl) if l == areaRng]
        mind = [i for i, d in enumerate(p.maxDets) if d == maxDets]
        s = precision if ap == 1 else recall
        if iouThr is not None:
            s = s[np.where(iouThr == p.iouThrs)[0]]
        s = s[:, :, :, aind, mind] if ap == 1 else s[:, :, aind, mind]
        return -1 if len(s[s > -1]) == 0 else np.mean(s[s > -1])

    md = p.maxDets
    if iou_type == "keypoints":
        stats = np.array([
            summ(1, maxDets=20), summ(1, .5, maxDets=20), summ(1, .75, maxDets=20),
            summ(1, areaRng="medium", maxDets=20), summ(1, areaRng="large", maxDets=20),
            summ(0, maxDets=20), summ(0, .5, maxDets=20), summ(0, .75, maxDets=20),
            summ(0, areaRng="medium", maxDets=20), summ(0, areaRng="large", maxDets=20),
        ])
        return {"precision": precision, "recall": recall, "scores": scores, "stats": stats, "evalImgs": evalImgs}
    stats = np.array([
        summ(1), summ(1, .5, maxDets=md[2]), summ(1, .75, maxDets=md[2]),
        summ(1, areaRng="small", maxDets=md[2]), summ(1, areaRng="medium", maxDets=md[2]),
        summ(1, areaRng="large", maxDets=md[2]), summ(0, maxDets=md[0]), summ(0, maxDets=md[1]),
        summ(0, maxDets=md[2]), summ(0, areaRng="small", maxDets=md[2]),
        summ(0, areaRng="medium", maxDets=md[2]), summ(0, areaRng="large", maxDets=md[2]),
    ]) if len(md) >= 3 else None
    return {"precision": precision, "recall": recall, "scores": scores, "stats": stats, "evalImgs": evalImgs}
