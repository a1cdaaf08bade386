"""Post-processing ops: box utilities against torchvision (adapter disabled), soft_nms against a
float64 port of mmcv's softnms_cpu, matrix_nms against mmdet's mask_matrix_nms written out with
torch ops, multiclass_nms against torchvision's RetinaNet post-processing loop."""
import math

import pytest
import torch
import torchvision

import torchvision_adapter
from conftest import run_torchvision
from torchvision_adapter.ops import matrix_nms, multiclass_nms, soft_nms


def random_boxes(n, seed, dtype=torch.float32, scale=100.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * scale
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * scale / 2
    return torch.cat([xy, xy + wh], 1).to(dtype)


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.nan_to_num(-7.0), b.nan_to_num(-7.0))


# ---- box utilities ------------------------------------------------------------------------------

BOX_FNS = ["box_iou", "generalized_box_iou"]


@pytest.mark.parametrize("name", BOX_FNS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_box_iou_family_matches_torchvision(name, dtype):
    fn = getattr(torchvision.ops, name)
    a, b = random_boxes(37, 1, dtype), random_boxes(53, 2, dtype)
    a[5] = a[6]  # duplicates
    a[7, 2:] = a[7, :2]  # degenerate (zero area)
    b[3, 0] = float("nan")
    b[4, 2] = float("inf")
    assert same(fn(a, b), run_torchvision(fn, a, b))


@pytest.mark.parametrize("name", BOX_FNS)
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.int16, torch.uint8])
def test_box_iou_family_integer_boxes_match_torchvision(name, dtype):
    a, b = random_boxes(20, 3).to(dtype), random_boxes(25, 4).to(dtype)
    ours = getattr(torch.ops.torchvision_adapter, name)(a, b)
    assert same(ours, run_torchvision(getattr(torchvision.ops, name), a, b))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.int64, torch.uint8])
def test_box_area_matches_torchvision(dtype):
    a = random_boxes(40, 5).to(dtype)
    assert same(torch.ops.torchvision_adapter.box_area(a), run_torchvision(torchvision.ops.box_area, a))


def test_box_ops_empty_noncontiguous_and_threads():
    e = torch.empty(0, 4)
    b = random_boxes(10, 6)
    for name in BOX_FNS:
        fn = getattr(torchvision.ops, name)
        assert same(fn(e, b), run_torchvision(fn, e, b))
        assert same(fn(b, e), run_torchvision(fn, b, e))
    big = random_boxes(300, 7, torch.float64).t().contiguous().t()  # non-contiguous
    assert not big.is_contiguous()
    for threads in [1, 2]:
        torch.set_num_threads(threads)
        for name in BOX_FNS:
            fn = getattr(torchvision.ops, name)
            assert same(fn(big, big[::2]), run_torchvision(fn, big, big[::2]))


def test_box_iou_keeps_autograd_through_torchvision():
    a = random_boxes(5, 8).requires_grad_()
    b = random_boxes(6, 9)
    torchvision.ops.generalized_box_iou(a, b).sum().backward()
    assert a.grad is not None and a.grad.shape == a.shape


def test_box_iou_is_patched_only_while_enabled():
    assert torchvision.ops.box_iou is torchvision_adapter.ops.box_iou
    with torchvision_adapter.disabled():
        assert torchvision.ops.box_iou is not torchvision_adapter.ops.box_iou


def test_box_ops_bad_input_errors_name_argument():
    with pytest.raises(RuntimeError, match="boxes1"):
        torch.ops.torchvision_adapter.box_iou(torch.rand(3, 5), torch.rand(2, 4))
    with pytest.raises(RuntimeError, match="same dtype"):
        torch.ops.torchvision_adapter.box_iou(torch.rand(3, 4), torch.rand(2, 4).double())
    with pytest.raises(RuntimeError, match="boxes"):
        torch.ops.torchvision_adapter.box_area(torch.rand(4))


def test_box_ops_torchscript():
    @torch.jit.script
    def f(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.ops.torchvision_adapter.generalized_box_iou(a, b) + torch.ops.torchvision_adapter.box_iou(a, b)

    a, b = random_boxes(7, 10), random_boxes(9, 11)
    expected = run_torchvision(lambda: torchvision.ops.generalized_box_iou(a, b) + torchvision.ops.box_iou(a, b))
    assert torch.equal(f(a, b), expected)


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.float32, torch.int64])
def test_masks_to_boxes_matches_torchvision(dtype):
    g = torch.Generator().manual_seed(12)
    m = torch.rand(9, 31, 47, generator=g) > 0.97
    m[0] = False
    m[0, 5, 7] = True  # a single pixel
    m[1] = True
    masks = m.to(dtype)
    assert same(torchvision.ops.masks_to_boxes(masks), run_torchvision(torchvision.ops.masks_to_boxes, masks))
    assert torchvision.ops.masks_to_boxes(torch.zeros(0, 4, 4)).shape == (0, 4)


def test_masks_to_boxes_empty_mask_is_an_error():
    with pytest.raises(RuntimeError, match="mask 1"):
        torch.ops.torchvision_adapter.masks_to_boxes(torch.tensor([[[1, 0]], [[0, 0]]]))


# ---- soft_nms -----------------------------------------------------------------------------------


def soft_nms_reference(boxes, scores, iou_threshold, sigma, min_score, method, offset=0):
    """mmcv's softnms_cpu, statement by statement, in Python floats (float64)."""
    b = [list(map(float, r)) for r in boxes.tolist()]
    x1 = [r[0] for r in b]
    y1 = [r[1] for r in b]
    x2 = [r[2] for r in b]
    y2 = [r[3] for r in b]
    sc = [float(s) for s in scores.tolist()]
    areas = [(x2[i] - x1[i] + offset) * (y2[i] - y1[i] + offset) for i in range(len(b))]
    inds = list(range(len(b)))
    n = len(b)
    i = 0
    while i < n:
        max_pos = i
        for pos in range(i + 1, n):
            if sc[max_pos] < sc[pos]:
                max_pos = pos
        for arr in (x1, y1, x2, y2, sc, areas, inds):
            arr[i], arr[max_pos] = arr[max_pos], arr[i]
        pos = i + 1
        while pos < n:
            w = max(0.0, min(x2[i], x2[pos]) - max(x1[i], x1[pos]) + offset)
            h = max(0.0, min(y2[i], y2[pos]) - max(y1[i], y1[pos]) + offset)
            inter = w * h
            ovr = inter / (areas[i] + areas[pos] - inter)
            weight = 1.0
            if method == "naive":
                weight = 0.0 if ovr >= iou_threshold else 1.0
            elif method == "linear":
                weight = 1 - ovr if ovr >= iou_threshold else 1.0
            else:
                weight = math.exp(-(ovr * ovr) / sigma)
            sc[pos] *= weight
            if sc[pos] < min_score:
                for arr in (x1, y1, x2, y2, sc, areas, inds):
                    arr[pos] = arr[n - 1]
                n -= 1
                pos -= 1
            pos += 1
        i += 1
    return inds[:n], sc[:n]


@pytest.mark.parametrize("method", ["linear", "gaussian", "naive"])
@pytest.mark.parametrize("n", [1, 2, 30, 300])
def test_soft_nms_float64_equals_reference(method, n):
    boxes = random_boxes(n, n + 13, torch.float64)
    scores = torch.rand(n, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    for min_score in [1e-3, 0.3]:
        keep, s = soft_nms(boxes, scores, 0.3, 0.5, min_score, method)
        ref_keep, ref_s = soft_nms_reference(boxes, scores, 0.3, 0.5, min_score, method)
        assert keep.tolist() == ref_keep
        assert s.tolist() == ref_s
        assert keep.dtype == torch.int64 and s.dtype == torch.float64


@pytest.mark.parametrize("method", ["linear", "gaussian"])
def test_soft_nms_float32_close_to_float64_reference(method):
    boxes = random_boxes(200, 21, torch.float64)
    scores = torch.rand(200, generator=torch.Generator().manual_seed(22), dtype=torch.float64)
    keep, s = soft_nms(boxes.float(), scores.float(), 0.5, 0.5, 1e-3, method)
    ref_keep, ref_s = soft_nms_reference(boxes.float().double(), scores.float().double(), 0.5, 0.5, 1e-3, method)
    assert keep.tolist() == ref_keep
    torch.testing.assert_close(s.double(), torch.tensor(ref_s, dtype=torch.float64), rtol=1e-5, atol=1e-6)


def test_soft_nms_ties_offset_and_half():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30], [1, 1, 10, 10]])
    scores = torch.tensor([0.5, 0.5, 0.5, 0.9])
    for offset in [0, 1]:
        keep, s = soft_nms(boxes.double(), scores.double(), 0.3, 0.5, 1e-3, "linear", offset)
        ref_keep, ref_s = soft_nms_reference(boxes, scores.double(), 0.3, 0.5, 1e-3, "linear", offset)
        assert keep.tolist() == ref_keep and s.tolist() == ref_s
    keep, s = soft_nms(boxes.half(), scores.half(), 0.3, 0.5, 1e-3, "linear")
    assert s.dtype == torch.float16 and keep.tolist() == soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "linear")[0].tolist()
    keep, s = soft_nms(torch.empty(0, 4), torch.empty(0))
    assert keep.shape == (0,) and s.shape == (0,)


def test_soft_nms_errors_and_torchscript():
    with pytest.raises(RuntimeError, match="method"):
        soft_nms(torch.rand(3, 4), torch.rand(3), method="cubic")
    with pytest.raises(RuntimeError, match="boxes"):
        soft_nms(torch.rand(3, 3), torch.rand(3))
    with pytest.raises(RuntimeError, match="same number"):
        soft_nms(torch.rand(3, 4), torch.rand(2))
    with pytest.raises(RuntimeError, match="dtype"):
        soft_nms(torch.rand(3, 4), torch.rand(3).double())

    @torch.jit.script
    def f(b: torch.Tensor, s: torch.Tensor):
        return torch.ops.torchvision_adapter.soft_nms(b, s, 0.3, 0.5, 0.001, "gaussian", 0)

    b = random_boxes(20, 30)
    s = torch.rand(20, generator=torch.Generator().manual_seed(31))
    k1, s1 = f(b, s)
    k2, s2 = soft_nms(b, s, 0.3, 0.5, 0.001, "gaussian")
    assert torch.equal(k1, k2) and torch.equal(s1, s2)


# ---- matrix_nms ---------------------------------------------------------------------------------


def mmdet_matrix_nms(masks, labels, scores, filter_thr=-1, nms_pre=-1, max_num=-1, kernel="gaussian", sigma=2.0,
                     mask_area=None, boxes=False):
    """mmdet's mask_matrix_nms, line by line (with a box IoU when boxes=True)."""
    if len(labels) == 0:
        return scores.new_zeros(0), labels.new_zeros(0), masks.new_zeros(0, *masks.shape[1:]), labels.new_zeros(0)
    if mask_area is None:
        mask_area = torchvision.ops.box_area(masks) if boxes else masks.sum((1, 2)).float()
    scores, sort_inds = torch.sort(scores, descending=True)
    keep_inds = sort_inds
    if nms_pre > 0 and len(sort_inds) > nms_pre:
        sort_inds = sort_inds[:nms_pre]
        keep_inds = keep_inds[:nms_pre]
        scores = scores[:nms_pre]
    masks = masks[sort_inds]
    mask_area = mask_area[sort_inds]
    labels = labels[sort_inds]
    num_masks = len(labels)
    if boxes:
        b = masks.float()
        lt = torch.max(b[:, None, :2], b[:, :2])
        rb = torch.min(b[:, None, 2:], b[:, 2:])
        wh = (rb - lt).clamp(min=0)
        inter_matrix = wh[:, :, 0] * wh[:, :, 1]
    else:
        flatten_masks = masks.reshape(num_masks, -1).float()
        inter_matrix = torch.mm(flatten_masks, flatten_masks.transpose(1, 0))
    expanded_mask_area = mask_area.expand(num_masks, num_masks)
    iou_matrix = (inter_matrix / (expanded_mask_area + expanded_mask_area.transpose(1, 0) - inter_matrix)).triu(
        diagonal=1)
    expanded_labels = labels.expand(num_masks, num_masks)
    label_matrix = (expanded_labels == expanded_labels.transpose(1, 0)).triu(diagonal=1)
    compensate_iou, _ = (iou_matrix * label_matrix).max(0)
    compensate_iou = compensate_iou.expand(num_masks, num_masks).transpose(1, 0)
    decay_iou = iou_matrix * label_matrix
    if kernel == "gaussian":
        decay_matrix = torch.exp(-1 * sigma * (decay_iou ** 2))
        compensate_matrix = torch.exp(-1 * sigma * (compensate_iou ** 2))
        decay_coefficient, _ = (decay_matrix / compensate_matrix).min(0)
    else:
        decay_matrix = (1 - decay_iou) / (1 - compensate_iou)
        decay_coefficient, _ = decay_matrix.min(0)
    scores = scores * decay_coefficient
    if filter_thr > 0:
        keep = scores >= filter_thr
        keep_inds = keep_inds[keep]
        if not keep.any():
            return scores.new_zeros(0), labels.new_zeros(0), masks.new_zeros(0, *masks.shape[1:]), labels.new_zeros(0)
        masks = masks[keep]
        scores = scores[keep]
        labels = labels[keep]
    scores, sort_inds = torch.sort(scores, descending=True)
    keep_inds = keep_inds[sort_inds]
    if max_num > 0 and len(sort_inds) > max_num:
        sort_inds = sort_inds[:max_num]
        keep_inds = keep_inds[:max_num]
        scores = scores[:max_num]
    masks = masks[sort_inds]
    labels = labels[sort_inds]
    return scores, labels, masks, keep_inds


def blob_masks(n, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    c = torch.rand(n, 2, generator=g) * torch.tensor([h, w])
    r = 2 + torch.rand(n, generator=g) * min(h, w) / 3
    return ((yy[None] - c[:, 0, None, None]) ** 2 + (xx[None] - c[:, 1, None, None]) ** 2) < r[:, None, None] ** 2


@pytest.mark.parametrize("kernel", ["gaussian", "linear"])
@pytest.mark.parametrize("mask_dtype", [torch.bool, torch.uint8, torch.float32])
def test_matrix_nms_equals_mmdet_exactly_and_float64_closely(kernel, mask_dtype):
    masks = blob_masks(60, 24, 32, 40).to(mask_dtype)
    g = torch.Generator().manual_seed(41)
    labels = torch.randint(0, 4, (60,), generator=g)
    scores = torch.rand(60, generator=g)
    for kw in [{}, {"filter_thr": 0.2, "nms_pre": 40, "max_num": 15}, {"sigma": 0.5, "max_num": 5}]:
        ours = matrix_nms(masks, labels, scores, kernel=kernel, **kw)
        ref = mmdet_matrix_nms(masks, labels, scores, kernel=kernel, **kw)
        for a, b in zip(ours, ref):
            assert same(a, b)
        ref64 = mmdet_matrix_nms(masks.double(), labels, scores.double(), kernel=kernel, **kw,
                                 mask_area=masks.double().sum((1, 2)))
        torch.testing.assert_close(ours[0].double(), ref64[0], rtol=1e-5, atol=1e-6)
        assert torch.equal(ours[3], ref64[3])


def test_matrix_nms_boxes_soft_masks_and_mask_area():
    boxes = random_boxes(50, 50)
    g = torch.Generator().manual_seed(51)
    labels = torch.randint(0, 3, (50,), generator=g)
    scores = torch.rand(50, generator=g)
    ours = matrix_nms(boxes, labels, scores, filter_thr=0.1)
    ref = mmdet_matrix_nms(boxes, labels, scores, filter_thr=0.1, boxes=True)
    for a, b in zip(ours, ref):
        assert same(a, b)
    soft = torch.rand(20, 8, 8, generator=g)  # non-binary masks take mmdet's matrix product
    lab = torch.zeros(20, dtype=torch.long)
    sc = torch.rand(20, generator=g)
    area = soft.sum((1, 2)) * 1.5
    for a, b in zip(matrix_nms(soft, lab, sc, mask_area=area), mmdet_matrix_nms(soft, lab, sc, mask_area=area)):
        assert same(a, b)


def test_matrix_nms_empty_masks_propagate_nan_like_mmdet():
    masks = blob_masks(6, 12, 12, 61)
    masks[1] = False
    masks[4] = False  # two empty masks: 0 / 0 IoU, NaN even across labels in mmdet
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    scores = torch.tensor([0.9, 0.85, 0.8, 0.7, 0.6, 0.5])
    for kernel in ["gaussian", "linear"]:
        for a, b in zip(matrix_nms(masks, labels, scores, kernel=kernel),
                        mmdet_matrix_nms(masks, labels, scores, kernel=kernel)):
            assert same(a, b)


def test_matrix_nms_empty_filtered_and_errors():
    out = matrix_nms(torch.zeros(0, 5, 6, dtype=torch.bool), torch.zeros(0, dtype=torch.long), torch.zeros(0))
    assert out[2].shape == (0, 5, 6) and out[3].shape == (0,)
    m = blob_masks(5, 10, 10, 60)
    out = matrix_nms(m, torch.zeros(5, dtype=torch.long), torch.full((5,), 0.1), filter_thr=0.5)
    assert all(t.shape[0] == 0 for t in out)
    with pytest.raises(RuntimeError, match="kernel"):
        matrix_nms(m, torch.zeros(5, dtype=torch.long), torch.rand(5), kernel="box")
    with pytest.raises(RuntimeError, match="same length"):
        matrix_nms(m, torch.zeros(4, dtype=torch.long), torch.rand(5))


# ---- multiclass_nms -----------------------------------------------------------------------------


def retinanet_reference(boxes, scores, score_thresh, iou_threshold, topk, max_det):
    """torchvision RetinaNet.postprocess_detections for one level, image by image."""
    out_b, out_s, out_l, out_i = [], [], [], []
    for i in range(scores.shape[0]):
        C = scores.shape[2]
        s = scores[i].flatten()
        keep = s > score_thresh
        s = s[keep]
        idxs = torch.where(keep)[0]
        num = min(topk, idxs.size(0)) if topk > 0 else idxs.size(0)
        s, order = s.topk(num)
        idxs = idxs[order]
        anchors = torch.div(idxs, C, rounding_mode="floor")
        labels = idxs % C
        b = boxes[i][anchors, labels] if boxes.dim() == 4 else boxes[i][anchors]
        k = torchvision.ops.batched_nms(b, s, labels, iou_threshold)
        if max_det > 0:
            k = k[:max_det]
        out_b.append(b[k])
        out_s.append(s[k])
        out_l.append(labels[k])
        out_i.append(torch.full((len(k),), i, dtype=torch.long))
    return torch.cat(out_b), torch.cat(out_s), torch.cat(out_l), torch.cat(out_i)


@pytest.mark.parametrize("per_class", [False, True])
@pytest.mark.parametrize("n", [50, 1500])
def test_multiclass_nms_matches_retinanet_reference(per_class, n):
    g = torch.Generator().manual_seed(n)
    B, C = 3, 6
    xy = torch.rand(B, n, 1, 2, generator=g) * 300
    wh = 10 + torch.rand(B, n, C if per_class else 1, 2, generator=g) * 60
    boxes = torch.cat([xy.expand_as(wh), xy + wh], -1)
    if not per_class:
        boxes = boxes[:, :, 0]
    scores = torch.rand(B, n, C, generator=g)
    scores[1] = (scores[1] * 10).round() / 10  # many ties
    scores[2] = 0.01  # nothing above the threshold
    for topk, max_det in [(1000, 100), (-1, -1), (10, 5)]:
        ours = multiclass_nms(boxes, scores, 0.05, 0.5, topk, max_det)
        ref = run_torchvision(retinanet_reference, boxes, scores, 0.05, 0.5, topk, max_det)
        for a, b in zip(ours, ref):
            assert same(a, b)
    torch.set_num_threads(2)
    ours = multiclass_nms(boxes, scores, 0.05, 0.5, 1000, 100)
    ref = run_torchvision(retinanet_reference, boxes, scores, 0.05, 0.5, 1000, 100)
    assert all(same(a, b) for a, b in zip(ours, ref))


def test_multiclass_nms_errors():
    with pytest.raises(RuntimeError, match="scores"):
        multiclass_nms(torch.rand(1, 5, 4), torch.rand(5, 3), 0.1, 0.5)
    with pytest.raises(RuntimeError, match="do not match"):
        multiclass_nms(torch.rand(2, 5, 4), torch.rand(1, 5, 3), 0.1, 0.5)
    out = multiclass_nms(torch.rand(0, 5, 4), torch.rand(0, 5, 3), 0.1, 0.5)
    assert out[0].shape == (0, 4)


def test_patched_box_utilities_script_and_match():
    from torchvision.ops import boxes as box_ops

    @torch.jit.script
    def f(a: torch.Tensor, b: torch.Tensor):
        return box_ops.box_iou(a, b), box_ops.generalized_box_iou(a, b), box_ops.box_area(a)

    a, b = random_boxes(6, 70), random_boxes(8, 71)
    ours = f(a, b)
    ref = run_torchvision(lambda: (torchvision.ops.box_iou(a, b), torchvision.ops.generalized_box_iou(a, b),
                                   torchvision.ops.box_area(a)))
    assert all(same(x, y) for x, y in zip(ours, ref))
