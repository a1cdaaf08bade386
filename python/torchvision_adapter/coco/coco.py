"""The COCO annotation API (pycocotools.coco.COCO): loading, indexing, querying, results."""
import copy
import itertools
import json
import time
from collections import defaultdict
from operator import itemgetter

import numpy as np

from . import mask as maskUtils

__all__ = ["COCO"]


def _isArrayLike(obj):
    return hasattr(obj, "__iter__") and hasattr(obj, "__len__")


class COCO:
    """COCO annotations: ``COCO(path)``, ``COCO(dict)`` or ``COCO()`` (empty).

    Same attributes and methods as pycocotools.coco.COCO: ``dataset``, ``anns``, ``imgs``, ``cats``,
    ``imgToAnns``, ``catToImgs``, ``getAnnIds``, ``getCatIds``, ``getImgIds``, ``loadAnns``,
    ``loadCats``, ``loadImgs``, ``loadRes``, ``loadNumpyAnnotations``, ``annToRLE``, ``annToMask``.

    Evaluation reads the annotations once into columns (cached); call ``createIndex()`` after
    changing annotations in place so the next evaluation sees the change.
    """

    def __init__(self, annotation_file=None):
        self.dataset, self.anns, self.cats, self.imgs = dict(), dict(), dict(), dict()
        self.imgToAnns, self.catToImgs = defaultdict(list), defaultdict(list)
        self._cache = {}
        if annotation_file is not None:
            if isinstance(annotation_file, dict):
                dataset = annotation_file
            else:
                print("loading annotations into memory...")
                tic = time.time()
                with open(annotation_file, "r") as f:
                    dataset = json.load(f)
                print("Done (t={:0.2f}s)".format(time.time() - tic))
            assert type(dataset) == dict, "annotation file format {} not supported".format(type(dataset))
            self.dataset = dataset
            self.createIndex()

    def createIndex(self):
        print("creating index...")
        anns, cats, imgs = {}, {}, {}
        imgToAnns, catToImgs = defaultdict(list), defaultdict(list)
        if "annotations" in self.dataset:
            for ann in self.dataset["annotations"]:
                imgToAnns[ann["image_id"]].append(ann)
                anns[ann["id"]] = ann
        if "images" in self.dataset:
            for img in self.dataset["images"]:
                imgs[img["id"]] = img
        if "categories" in self.dataset:
            for cat in self.dataset["categories"]:
                cats[cat["id"]] = cat
        if "annotations" in self.dataset and "categories" in self.dataset:
            for ann in self.dataset["annotations"]:
                catToImgs[ann["category_id"]].append(ann["image_id"])
        print("index created!")
        self.anns, self.imgs, self.cats = anns, imgs, cats
        self.imgToAnns, self.catToImgs = imgToAnns, catToImgs
        self._cache = {}

    def info(self):
        for key, value in self.dataset["info"].items():
            print("{}: {}".format(key, value))

    def getAnnIds(self, imgIds=[], catIds=[], areaRng=[], iscrowd=None):
        imgIds = imgIds if _isArrayLike(imgIds) else [imgIds]
        catIds = catIds if _isArrayLike(catIds) else [catIds]
        if len(imgIds) == len(catIds) == len(areaRng) == 0:
            anns = self.dataset["annotations"]
        else:
            if not len(imgIds) == 0:
                lists = [self.imgToAnns[imgId] for imgId in imgIds if imgId in self.imgToAnns]
                anns = list(itertools.chain.from_iterable(lists))
            else:
                anns = self.dataset["annotations"]
            anns = anns if len(catIds) == 0 else [ann for ann in anns if ann["category_id"] in catIds]
            anns = anns if len(areaRng) == 0 else [
                ann for ann in anns if ann["area"] > areaRng[0] and ann["area"] < areaRng[1]]
        if iscrowd is not None:
            ids = [ann["id"] for ann in anns if ann["iscrowd"] == iscrowd]
        else:
            ids = [ann["id"] for ann in anns]
        return ids

    def getCatIds(self, catNms=[], supNms=[], catIds=[]):
        catNms = catNms if _isArrayLike(catNms) else [catNms]
        supNms = supNms if _isArrayLike(supNms) else [supNms]
        catIds = catIds if _isArrayLike(catIds) else [catIds]
        if len(catNms) == len(supNms) == len(catIds) == 0:
            cats = self.dataset["categories"]
        else:
            cats = self.dataset["categories"]
            cats = cats if len(catNms) == 0 else [cat for cat in cats if cat["name"] in catNms]
            cats = cats if len(supNms) == 0 else [cat for cat in cats if cat["supercategory"] in supNms]
            cats = cats if len(catIds) == 0 else [cat for cat in cats if cat["id"] in catIds]
        return [cat["id"] for cat in cats]

    def getImgIds(self, imgIds=[], catIds=[]):
        imgIds = imgIds if _isArrayLike(imgIds) else [imgIds]
        catIds = catIds if _isArrayLike(catIds) else [catIds]
        if len(imgIds) == len(catIds) == 0:
            ids = self.imgs.keys()
        else:
            ids = set(imgIds)
            for i, catId in enumerate(catIds):
                if i == 0 and len(ids) == 0:
                    ids = set(self.catToImgs[catId])
                else:
                    ids &= set(self.catToImgs[catId])
        return list(ids)

    def loadAnns(self, ids=[]):
        if _isArrayLike(ids):
            return [self.anns[id] for id in ids]
        elif type(ids) == int:
            return [self.anns[ids]]

    def loadCats(self, ids=[]):
        if _isArrayLike(ids):
            return [self.cats[id] for id in ids]
        elif type(ids) == int:
            return [self.cats[ids]]

    def loadImgs(self, ids=[]):
        if _isArrayLike(ids):
            return [self.imgs[id] for id in ids]
        elif type(ids) == int:
            return [self.imgs[ids]]

    def showAnns(self, anns, draw_bbox=False):
        raise NotImplementedError("showAnns (matplotlib drawing) is not provided")

    def loadRes(self, resFile):
        """Detection results as a COCO object: from a JSON path, a list of dicts or an [N, 7] array
        (image_id, x, y, w, h, score, category_id). Adds area, id (1..N), iscrowd and, for boxes, the box
        polygon as segmentation; for masks the area and the bbox of the RLE, as pycocotools does."""
        res = COCO()
        res.dataset["images"] = [img for img in self.dataset["images"]]
        print("Loading and preparing results...")
        tic = time.time()
        packed = None  # segmentation results as one RLE batch, kept for evaluation
        if isinstance(resFile, str):
            with open(resFile) as f:
                anns = json.load(f)
        elif type(resFile) == np.ndarray:
            anns = self.loadNumpyAnnotations(resFile)
        else:
            anns = resFile
        assert type(anns) == list, "results in not an array of objects"
        annsImgIds = [ann["image_id"] for ann in anns]
        assert set(annsImgIds) == (set(annsImgIds) & set(self.getImgIds())), \
            "Results do not correspond to current coco set"
        if len(anns) == 0:
            res.dataset["categories"] = copy.deepcopy(self.dataset.get("categories", []))
        elif "caption" in anns[0]:
            imgIds = set([img["id"] for img in res.dataset["images"]]) & set([ann["image_id"] for ann in anns])
            res.dataset["images"] = [img for img in res.dataset["images"] if img["id"] in imgIds]
            for id, ann in enumerate(anns):
                ann["id"] = id + 1
        elif "bbox" in anns[0] and not anns[0]["bbox"] == []:
            res.dataset["categories"] = copy.deepcopy(self.dataset["categories"])
            for id, ann in enumerate(anns):
                bb = ann["bbox"]
                x1, x2, y1, y2 = [bb[0], bb[0] + bb[2], bb[1], bb[1] + bb[3]]
                if "segmentation" not in ann:
                    ann["segmentation"] = [[x1, y1, x1, y2, x2, y2, x2, y1]]
                ann["area"] = bb[2] * bb[3]
                ann["id"] = id + 1
                ann["iscrowd"] = 0
        elif "segmentation" in anns[0]:
            res.dataset["categories"] = copy.deepcopy(self.dataset["categories"])
            # One native call for all masks instead of one per annotation.
            segs = [ann["segmentation"] for ann in anns]
            packed = maskUtils._pack(segs)
            area_t, box_t = maskUtils._ops.coco_rle_area_bbox(*packed)
            areas = area_t.tolist()
            need_box = [j for j, ann in enumerate(anns) if "bbox" not in ann]
            boxes = box_t.numpy()[need_box].tolist() if need_box else []
            for j, b in zip(need_box, boxes):
                anns[j]["bbox"] = b
            for id, ann in enumerate(anns):
                ann["area"] = areas[id]
                ann["id"] = id + 1
                ann["iscrowd"] = 0
        elif "keypoints" in anns[0]:
            res.dataset["categories"] = copy.deepcopy(self.dataset["categories"])
            for id, ann in enumerate(anns):
                s = ann["keypoints"]
                x = s[0::3]
                y = s[1::3]
                x0, x1, y0, y1 = np.min(x), np.max(x), np.min(y), np.max(y)
                ann["area"] = (x1 - x0) * (y1 - y0)
                ann["id"] = id + 1
                ann["bbox"] = [x0, y0, x1 - x0, y1 - y0]
        print("DONE (t={:0.2f}s)".format(time.time() - tic))
        res.dataset["annotations"] = anns
        res.createIndex()
        # Read the results into columns now, as part of loading, so evaluation starts from arrays.
        if len(anns) and "score" in anns[0] and "bbox" in anns[0]:
            try:
                res._columns(True)
                res._bbox_column()
                if packed is not None:
                    res._cache["rle"] = packed
            except (KeyError, TypeError, ValueError):
                res._cache = {}
        return res

    def download(self, tarDir=None, imgIds=[]):
        raise NotImplementedError("download is not provided")

    def loadNumpyAnnotations(self, data):
        """[N, 7] array (image_id, x1, y1, w, h, score, category_id) -> list of result dicts."""
        print("Converting ndarray to lists...")
        assert type(data) == np.ndarray
        print(data.shape)
        assert data.shape[1] == 7
        N = data.shape[0]
        ann = []
        for i in range(N):
            if i % 1000000 == 0:
                print("{}/{}".format(i, N))
            ann += [{
                "image_id": int(data[i, 0]),
                "bbox": [data[i, 1], data[i, 2], data[i, 3], data[i, 4]],
                "score": data[i, 5],
                "category_id": int(data[i, 6]),
            }]
        return ann

    def annToRLE(self, ann):
        """The annotation's segmentation (polygons, uncompressed or compressed RLE) as a compressed RLE."""
        t = self.imgs[ann["image_id"]]
        h, w = t["height"], t["width"]
        segm = ann["segmentation"]
        if type(segm) == list:
            rles = maskUtils.frPyObjects(segm, h, w)
            rle = maskUtils.merge(rles)
        elif type(segm["counts"]) == list:
            rle = maskUtils.frPyObjects(segm, h, w)
        else:
            rle = ann["segmentation"]
        return rle

    def annToMask(self, ann):
        return maskUtils.decode(self.annToRLE(ann))

    # ---- columns for the native evaluator -------------------------------------------------------

    def _eval_anns(self):
        anns = self.dataset.get("annotations", [])
        if len(self.anns) != len(anns):
            # Duplicate ids: cocoeval reaches annotations through self.anns, i.e. the last one per id.
            anns = [self.anns[a["id"]] for a in anns]
        return anns

    def _columns(self, detections):
        """image_id, category_id, id, area, iscrowd, score, bbox of every annotation, as arrays."""
        key = ("columns", detections)
        if key in self._cache:
            return self._cache[key]
        anns = self._eval_anns()
        n = len(anns)

        def ints(field, default=None):
            get = itemgetter(field) if default is None else (lambda a: a.get(field, default))
            vals = list(map(get, anns))
            try:
                return np.fromiter(vals, dtype=np.int64, count=n)
            except (TypeError, ValueError, OverflowError):
                return np.array(vals, dtype=object)

        def floats(field, default=None):
            get = itemgetter(field) if default is None else (lambda a: a.get(field, default))
            return np.fromiter(map(get, anns), dtype=np.float64, count=n)

        cols = {"image_id": ints("image_id"), "category_id": ints("category_id"), "id": ints("id")}
        cols["area"] = floats("area")
        if detections:
            cols["score"] = floats("score")
            cols["iscrowd"] = np.zeros(n, dtype=np.int64)
        else:
            crowd = [a.get("iscrowd", 0) for a in anns]
            cols["iscrowd"] = np.array([int(c) for c in crowd], dtype=np.int64)
            cols["ignore"] = np.array([1 if c else 0 for c in crowd], dtype=np.int64)
        self._cache[key] = cols
        return cols

    def _bbox_column(self):
        if "bbox" not in self._cache:
            anns = self._eval_anns()
            n = len(anns)
            flat = np.fromiter(itertools.chain.from_iterable(map(itemgetter("bbox"), anns)),
                               dtype=np.float64, count=4 * n)
            self._cache["bbox"] = flat.reshape(n, 4)
        return self._cache["bbox"]

    def _num_keypoints_column(self):
        """'num_keypoints' of every annotation (ground truth for keypoint evaluation)."""
        if "num_keypoints" not in self._cache:
            anns = self._eval_anns()
            try:
                vals = [a["num_keypoints"] for a in anns]
            except KeyError:
                raise KeyError("keypoint evaluation needs 'num_keypoints' in every ground-truth annotation") from None
            self._cache["num_keypoints"] = np.array(vals, dtype=np.int64).reshape(-1)
        return self._cache["num_keypoints"]

    def _keypoints_column(self, k):
        """Every annotation's 'keypoints' (k (x, y, v) triplets) as an [N, 3k] float64 array, and a flag per
        annotation telling whether it had them (rows without keypoints are NaN)."""
        key = ("keypoints", k)
        if key not in self._cache:
            anns = self._eval_anns()
            n = len(anns)
            kps = [a.get("keypoints") for a in anns]
            lens = np.fromiter((len(v) if v is not None else -1 for v in kps), dtype=np.int64, count=n)
            has = lens == 3 * k
            if has.all():
                flat = np.fromiter(itertools.chain.from_iterable(kps), dtype=np.float64, count=3 * k * n)
                arr = flat.reshape(n, 3 * k)
            else:
                arr = np.full((n, 3 * k), np.nan)
                for j in np.nonzero(has)[0].tolist():
                    arr[j] = kps[j]
            self._cache[key] = (arr, has)
        return self._cache[key]

    def _rle_column(self):
        """Every annotation's segmentation as a compressed RLE batch [chars, lens, h, w] (annToRLE)."""
        if "rle" in self._cache:
            return self._cache["rle"]
        anns = self._eval_anns()
        segs = [a["segmentation"] for a in anns]
        if all(type(s) == dict and type(s.get("counts")) != list for s in segs):
            packed = maskUtils._pack(segs) if segs else maskUtils._pack([])
        else:
            spec = maskUtils._SegmSpec()
            for a, s in zip(anns, segs):
                if type(s) == list:
                    t = self.imgs[a["image_id"]]
                    boxes = len(s) > 0 and not np.isscalar(s[0]) and len(s[0]) == 4
                    spec.polygons(s, t["height"], t["width"], boxes=boxes)
                elif type(s["counts"]) == list:
                    spec.uncompressed(s)
                else:
                    spec.compressed(s)
            packed = spec.run()
        self._cache["rle"] = packed
        return packed
