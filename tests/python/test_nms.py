"""nms and batched_nms: identical to torchvision (adapter disabled), edge cases, errors, TorchScript."""
import math

import pytest
import torch
import torchvision
from torchvision.ops import batched_nms, nms

import torchvision_adapter
from conftest import run_torchvision


def random_boxes(n, seed, dtype=torch.float32, scale=800.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * scale
    wh = (4 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 196) * scale / 800
    boxes = torch.cat([xy, xy + wh], 1).to(dtype)
    scores = torch.rand(n, generator=g, dtype=torch.float64).to(dtype)
    return boxes, scores


def assert_same_nms(boxes, scores, thr):
    ours = nms(boxes, scores, thr)
    ref = run_torchvision(nms, boxes, scores, thr)
    assert ours.dtype == torch.int64
    assert torch.equal(ours, ref), (ours[:20], ref[:20])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [1, 2, 10, 383, 385, 1000, 4000])
@pytest.mark.parametrize("thr", [0.0, 0.2, 0.5, 0.7, 1.0])
def test_random_boxes_match_torchvision(dtype, n, thr):
    for seed in range(3):
        boxes, scores = random_boxes(n, seed * 1000 + n, dtype)
        assert_same_nms(boxes, scores, thr)


@pytest.mark.parametrize("threads", [1, 2])
def test_large_input_matches_torchvision_at_each_thread_count(threads):
    torch.set_num_threads(threads)
    boxes, scores = random_boxes(12000, 7)
    assert_same_nms(boxes, scores, 0.5)


def test_dense_clusters_and_quantised_scores():
    # Many near-duplicates (heavy suppression) and many equal scores (tie order matters).
    g = torch.Generator().manual_seed(3)
    centres = torch.rand(40, 2, generator=g) * 500
    pick = torch.randint(0, 40, (3000,), generator=g)
    xy = centres[pick] + torch.randn(3000, 2, generator=g) * 3
    wh = 30 + torch.randn(3000, 2, generator=g).abs() * 5
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.randint(0, 10, (3000,), generator=g).float() / 10
    for thr in [0.1, 0.5, 0.9]:
        assert_same_nms(boxes, scores, thr)


def test_equal_scores_keep_torchvision_tie_order():
    boxes = torch.tensor([[0.0, 0, 10, 10]] * 5 + [[100.0, 100, 110, 110]] * 5)
    scores = torch.tensor([0.5] * 10)
    assert_same_nms(boxes, scores, 0.5)
    boxes, _ = random_boxes(800, 1)
    assert_same_nms(boxes, torch.full((800,), 0.3), 0.5)


def test_all_boxes_identical():
    boxes = torch.tensor([[1.0, 2, 30, 40]]).repeat(1000, 1)
    scores = torch.rand(1000)
    assert_same_nms(boxes, scores, 0.5)
    assert nms(boxes, scores, 0.5).numel() == 1


def test_empty_and_single():
    out = nms(torch.empty(0, 4), torch.empty(0), 0.5)
    assert out.shape == (0,) and out.dtype == torch.int64
    assert nms(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([0.3]), 0.5).tolist() == [0]


def test_iou_exactly_at_threshold_is_kept():
    # IoU of these two boxes is exactly 0.5 in float: 50 / (100 + 50 - 50) ... (10x10 and 10x5 inside it)
    boxes = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 5]])
    scores = torch.tensor([0.9, 0.8])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, 0.49999).tolist() == [0]
    assert_same_nms(boxes, scores, 0.5)


def test_threshold_just_above_a_float_iou():
    # Pairs whose float IoU sits next to a double threshold that is not a float.
    boxes = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 7]])
    scores = torch.tensor([0.9, 0.8])
    for thr in [0.7, math.nextafter(0.7, 0), math.nextafter(0.7, 1), 0.69999999, 0.70000001]:
        assert_same_nms(boxes, scores, thr)


def test_degenerate_negative_and_zero_area_boxes():
    boxes = torch.tensor(
        [
            [0.0, 0, 0, 0],
            [5, 5, 5, 10],  # zero width
            [10, 10, 0, 0],  # inverted
            [-20, -20, -10, -10],
            [-19, -19, -10, -10],
            [0, 0, 10, 10],
        ]
    ).repeat(100, 1)
    scores = torch.rand(600)
    for thr in [0.0, 0.5]:
        assert_same_nms(boxes, scores, thr)


@pytest.mark.parametrize("thr", [-0.5, float("nan"), float("inf"), 2.0])
def test_unusual_thresholds(thr):
    boxes, scores = random_boxes(500, 11)
    assert_same_nms(boxes, scores, thr)


def test_nan_and_inf_scores_and_coordinates_behave_as_torchvision():
    boxes, scores = random_boxes(600, 5)
    scores[::7] = float("nan")
    scores[3::11] = float("inf")
    scores[5::13] = -float("inf")
    assert_same_nms(boxes, scores, 0.5)
    boxes2 = boxes.clone()
    boxes2[::9, 0] = float("nan")
    boxes2[4::17, 3] = float("inf")
    boxes2[6::19, 1] = -float("inf")
    assert_same_nms(boxes2, torch.rand(600), 0.5)


def test_huge_and_tiny_coordinates():
    for scale in [1e-4, 1.0, 1e6]:
        boxes, scores = random_boxes(2000, 9, scale=scale)
        assert_same_nms(boxes, scores, 0.5)
    boxes, scores = random_boxes(1000, 10)
    assert_same_nms(boxes + 1e6, scores, 0.5)  # small boxes far from the origin


def test_non_contiguous_inputs():
    boxes, scores = random_boxes(1500, 12)
    wide = torch.zeros(1500, 8)
    wide[:, ::2] = boxes
    nc_boxes = wide[:, ::2]
    nc_scores = torch.stack([scores, scores], 1)[:, 0]
    assert not nc_boxes.is_contiguous() and not nc_scores.is_contiguous()
    assert torch.equal(nms(nc_boxes, nc_scores, 0.5), run_torchvision(nms, boxes, scores, 0.5))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_equals_torchvision_on_widened_inputs(dtype):
    # torchvision's CPU kernel rejects half and bfloat16; the adapter widens them to float exactly.
    boxes, scores = random_boxes(1000, 13, dtype)
    ours = nms(boxes, scores, 0.5)
    ref = run_torchvision(nms, boxes.float(), scores.float(), 0.5)
    assert torch.equal(ours, ref)


@pytest.mark.parametrize(
    "boxes, scores, message",
    [
        (torch.rand(5, 3), torch.rand(5), "boxes should have 4 elements"),
        (torch.rand(5), torch.rand(5), "boxes should be a 2d tensor"),
        (torch.rand(5, 4), torch.rand(5, 1), "scores should be a 1d tensor"),
        (torch.rand(5, 4), torch.rand(4), "boxes and scores should have same number"),
        (torch.rand(5, 4), torch.rand(5).double(), "same dtype"),
        (torch.randint(0, 5, (5, 4)), torch.randint(0, 5, (5,)), "boxes must be a floating point"),
    ],
)
def test_bad_input_names_the_argument(boxes, scores, message):
    with pytest.raises(RuntimeError, match=message):
        nms(boxes, scores, 0.5)


def test_torchscript_calls_the_switched_kernel():
    @torch.jit.script
    def scripted(b: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return torchvision.ops.nms(b, s, 0.5)

    boxes, scores = random_boxes(2000, 14)
    expected = run_torchvision(nms, boxes, scores, 0.5)
    assert torch.equal(scripted(boxes, scores), expected)
    with torchvision_adapter.disabled():
        assert torch.equal(scripted(boxes, scores), expected)


def test_own_namespace_op_matches():
    boxes, scores = random_boxes(700, 15)
    assert torch.equal(
        torch.ops.torchvision_adapter.nms(boxes, scores, 0.5), run_torchvision(nms, boxes, scores, 0.5)
    )
    assert torch.equal(torchvision_adapter.ops.nms(boxes, scores, 0.5), run_torchvision(nms, boxes, scores, 0.5))


# ---------------------------------------------------------------------------------------- batched_nms


def assert_same_batched(boxes, scores, idxs, thr):
    ours = batched_nms(boxes, scores, idxs, thr)
    ref = run_torchvision(batched_nms, boxes, scores, idxs, thr)
    assert torch.equal(ours, ref), (ours[:20], ref[:20])


@pytest.mark.parametrize("n", [0, 1, 50, 999, 1000, 1001, 5000, 20000])
@pytest.mark.parametrize("classes", [1, 3, 80, 1000])
def test_batched_matches_torchvision(n, classes):
    boxes, scores = random_boxes(n, n + classes)
    idxs = torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(n))
    assert_same_batched(boxes, scores, idxs, 0.5)


def test_batched_ties_in_both_torchvision_paths():
    # <= 1000 boxes: torchvision's offset path; above: its per-class path with an unstable sort.
    for n in [600, 3000]:
        boxes, _ = random_boxes(n, n)
        scores = torch.randint(0, 4, (n,)).float()
        idxs = torch.randint(0, 5, (n,))
        assert_same_batched(boxes, scores, idxs, 0.5)


def test_batched_sparse_and_negative_and_float_category_ids():
    boxes, scores = random_boxes(3000, 21)
    idxs = torch.randint(0, 6, (3000,)) * 1_000_003 - 2_000_000
    assert_same_batched(boxes, scores, idxs, 0.5)
    fidx = torch.randint(0, 6, (3000,)).float() / 3
    assert_same_batched(boxes, scores, fidx, 0.5)


def test_batched_torchscript():
    @torch.jit.script
    def scripted(b: torch.Tensor, s: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        return torchvision.ops.batched_nms(b, s, i, 0.5)

    boxes, scores = random_boxes(3000, 22)
    idxs = torch.randint(0, 10, (3000,))
    assert torch.equal(scripted(boxes, scores, idxs), run_torchvision(batched_nms, boxes, scores, idxs, 0.5))


def test_batched_bad_idxs():
    with pytest.raises(RuntimeError, match="idxs"):
        torch.ops.torchvision_adapter.batched_nms(torch.rand(5, 4), torch.rand(5), torch.zeros(4), 0.5)
    with pytest.raises(RuntimeError, match="idxs"):
        torch.ops.torchvision_adapter.batched_nms(torch.rand(5, 4), torch.rand(5), torch.zeros(5, 1), 0.5)
