"""roi_align, roi_pool, ps_roi_align, ps_roi_pool: forward and backward equal to torchvision's own
kernels (adapter disabled) for every argument, layouts, dtypes, TorchScript, gradcheck and errors."""
import pytest
import torch
import torchvision
from torchvision import ops

import torchvision_adapter
from conftest import run_torchvision

TV = torch.ops.torchvision


def make_rois(k, batch, seed, dtype=torch.float32, extent=64.0, min_side=0.5, max_side=40.0):
    """Tensor[K, 5] of boxes, some partly (a few wholly) outside an extent x extent image."""
    g = torch.Generator().manual_seed(seed)
    wh = min_side + torch.rand(k, 2, generator=g, dtype=torch.float64) * (max_side - min_side)
    xy = torch.rand(k, 2, generator=g, dtype=torch.float64) * (extent + 20) - 10
    b = torch.randint(0, batch, (k, 1), generator=g).to(torch.float64)
    return torch.cat([b, xy, xy + wh], 1).to(dtype)


def make_input(n, c, h, w, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, h, w, generator=g, dtype=torch.float64).to(dtype)


# Each spec: a name and fn(x, rois) -> output through torchvision's public functions.
SPECS = {
    "roi_align_7_sr2": lambda x, r: ops.roi_align(x, r, 7, 0.5, 2, False),
    "roi_align_7_sr2_aligned": lambda x, r: ops.roi_align(x, r, 7, 0.5, 2, True),
    "roi_align_14_adaptive": lambda x, r: ops.roi_align(x, r, 14, 0.25, -1, False),
    "roi_align_5x3_adaptive_aligned": lambda x, r: ops.roi_align(x, r, (5, 3), 1.0, -1, True),
    "roi_align_2x4_sr1_scale1": lambda x, r: ops.roi_align(x, r, (2, 4), 1.0, 1, False),
    "roi_pool_7": lambda x, r: ops.roi_pool(x, r, 7, 0.5),
    "roi_pool_3x5": lambda x, r: ops.roi_pool(x, r, (3, 5), 1.0),
    "ps_roi_align_3_adaptive": lambda x, r: ops.ps_roi_align(x, r, 3, 0.5, -1),
    "ps_roi_align_2x3_sr2": lambda x, r: ops.ps_roi_align(x, r, (2, 3), 1.0, 2),
    "ps_roi_pool_3": lambda x, r: ops.ps_roi_pool(x, r, 3, 0.5),
    "ps_roi_pool_2x3": lambda x, r: ops.ps_roi_pool(x, r, (2, 3), 1.0),
}
CHANNELS = 36  # a multiple of 9 and 6 for the position-sensitive ops; not a multiple of 16

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def forward_backward(fn, x, rois, grad_seed=7, grad_rounded_to=None):
    x = x.detach().clone().requires_grad_()
    y = fn(x, rois)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=torch.float64)
    if grad_rounded_to is not None:
        g = g.to(grad_rounded_to).double()
    (gx,) = torch.autograd.grad(y, x, g.to(y.dtype))
    return y.detach(), gx


def assert_same(a, b, dtype):
    assert a.shape == b.shape and a.dtype == b.dtype
    torch.testing.assert_close(a, b, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spec", sorted(SPECS))
def test_forward_and_backward_match_torchvision(spec, dtype):
    fn = SPECS[spec]
    for seed in range(2):
        x = make_input(2, CHANNELS, 23, 31, seed, dtype)
        rois = make_rois(25, 2, seed + 100, dtype)
        y, gx = forward_backward(fn, x, rois)
        y_ref, gx_ref = run_torchvision(forward_backward, fn, x, rois)
        assert_same(y, y_ref, dtype)
        assert_same(gx, gx_ref, dtype)


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_float32_is_bit_exact(spec):
    # The kernels repeat torchvision's arithmetic in its order, so float32 agrees to the bit. (Not
    # roi_align's row sampler, test_roi_align_rows.py; these RoIs reach outside the map, which sends
    # roi_align to the channel-block path.)
    x = make_input(1, CHANNELS, 17, 20, 3)
    rois = make_rois(30, 1, 4)
    y, gx = forward_backward(SPECS[spec], x, rois)
    y_ref, gx_ref = run_torchvision(forward_backward, SPECS[spec], x, rois)
    assert torch.equal(y, y_ref)
    assert torch.equal(gx, gx_ref)


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_roi_pool_ties_pick_torchvision_argmax(spec):
    # Quantised features make many equal maxima; the gradient shows which element was selected.
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 3, (1, CHANNELS, 15, 15), generator=g).float()
    rois = make_rois(20, 1, 6, extent=15.0)
    y, gx = forward_backward(SPECS[spec], x, rois)
    y_ref, gx_ref = run_torchvision(forward_backward, SPECS[spec], x, rois)
    assert torch.equal(y, y_ref)
    assert torch.equal(gx, gx_ref)
    if spec.startswith("roi_pool"):
        _, argmax = TV.roi_pool(x, rois, 0.5, 7, 7)
        _, argmax_ref = run_torchvision(TV.roi_pool, x, rois, 0.5, 7, 7)
        assert torch.equal(argmax, argmax_ref)


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_rois_as_list_of_boxes(spec):
    x = make_input(3, CHANNELS, 16, 16, 8)
    boxes = [make_rois(n, 1, 10 + n, extent=16.0)[:, 1:] for n in (4, 0, 6)]
    y = SPECS[spec](x, boxes)
    y_ref = run_torchvision(SPECS[spec], x, boxes)
    assert torch.equal(y, y_ref)
    assert y.shape[0] == 10


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_channels_last_and_non_contiguous_inputs(spec):
    fn = SPECS[spec]
    x = make_input(2, CHANNELS, 19, 21, 11)
    rois = make_rois(20, 2, 12)
    y_ref, gx_ref = run_torchvision(forward_backward, fn, x, rois)
    layouts = {
        "channels_last": x.contiguous(memory_format=torch.channels_last),
        "permuted": x.permute(0, 1, 3, 2).contiguous().permute(0, 1, 3, 2),
        "strided": make_input(2, CHANNELS, 19, 42, 11)[..., ::2].copy_(x),
    }
    for name, xl in layouts.items():
        assert torch.equal(xl, x)
        y, gx = forward_backward(fn, xl, rois)
        assert torch.equal(y, y_ref), name
        assert torch.equal(gx, gx_ref), name
    # Non-contiguous rois and gradients too.
    rois_nc = torch.cat([rois, rois], 1)[:, :5]
    assert not rois_nc.is_contiguous()
    assert torch.equal(fn(x, rois_nc), y_ref)


def test_channels_last_with_many_channels_reads_in_place():
    # 48 channels: full 16-channel blocks are read in place from the channels-last map.
    x = make_input(2, 48, 20, 20, 13).contiguous(memory_format=torch.channels_last)
    rois = make_rois(30, 2, 14, extent=20.0)
    for aligned in (False, True):
        fn = lambda a, r: ops.roi_align(a, r, 7, 1.0, 2, aligned)  # noqa: E731
        y, gx = forward_backward(fn, x, rois)
        y_ref, gx_ref = run_torchvision(forward_backward, fn, x, rois)
        assert torch.equal(y, y_ref) and torch.equal(gx, gx_ref)
    y, _ = TV.roi_pool(x, rois, 1.0, 7, 7)
    assert torch.equal(y, run_torchvision(TV.roi_pool, x, rois, 1.0, 7, 7)[0])


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_tiny_huge_degenerate_and_outside_rois(spec):
    x = make_input(2, CHANNELS, 12, 14, 15, torch.float64)
    rois = torch.tensor(
        [
            [0, 3.0, 3.0, 3.0, 3.0],  # zero size
            [1, 5.0, 6.0, 5.01, 6.02],  # tiny
            [0, 8.0, 9.0, 2.0, 1.0],  # inverted
            [1, -40.0, -30.0, -20.0, -25.0],  # wholly outside (top left)
            [0, 40.0, 30.0, 60.0, 45.0],  # wholly outside (bottom right)
            [1, -5.0, -5.0, 60.0, 50.0],  # covers the map and more
            [0, -200.0, -150.0, 300.0, 250.0],  # huge
            [1, 0.0, 0.0, 27.9, 23.9],  # exactly the map at scale 0.5
            [0, 26.0, 22.0, 28.0, 24.0],  # at the bottom-right border
        ],
        dtype=torch.float64,
    )
    y, gx = forward_backward(SPECS[spec], x, rois)
    y_ref, gx_ref = run_torchvision(forward_backward, SPECS[spec], x, rois)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12, equal_nan=True)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_empty_rois_and_batch_of_one(spec):
    x = make_input(1, CHANNELS, 8, 8, 16)
    rois = torch.zeros(0, 5)
    y, gx = forward_backward(SPECS[spec], x, rois)
    y_ref, gx_ref = run_torchvision(forward_backward, SPECS[spec], x, rois)
    assert y.shape == y_ref.shape and y.shape[0] == 0
    assert torch.equal(gx, gx_ref) and not gx.any()


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_counts_give_identical_results(threads):
    torch.set_num_threads(threads)
    x = make_input(2, 64, 25, 30, 17)
    rois = make_rois(60, 2, 18)
    for spec in sorted(SPECS):
        if spec.startswith("ps_"):
            continue
        y, gx = forward_backward(SPECS[spec], x, rois)
        y_ref, gx_ref = run_torchvision(forward_backward, SPECS[spec], x, rois)
        assert torch.equal(y, y_ref), spec
        assert torch.equal(gx, gx_ref), spec
    xp = make_input(2, 45, 25, 30, 19)
    for spec in ("ps_roi_align_3_adaptive", "ps_roi_pool_3"):
        y, gx = forward_backward(SPECS[spec], xp, rois)
        y_ref, gx_ref = run_torchvision(forward_backward, SPECS[spec], xp, rois)
        assert torch.equal(y, y_ref) and torch.equal(gx, gx_ref), spec


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("spec", sorted(SPECS))
def test_half_precision_accumulates_in_float(spec, dtype):
    # Reference: the float64 computation on the same (rounded) inputs; the adapter computes in
    # float and rounds once, so it is within the output dtype's rounding of the exact result.
    fn = SPECS[spec]
    x = make_input(2, CHANNELS, 14, 16, 20).to(dtype)
    rois = make_rois(15, 2, 21, extent=16.0).to(dtype)
    y, gx = forward_backward(fn, x, rois)
    y64, gx64 = run_torchvision(forward_backward, fn, x.double(), rois.double(), grad_rounded_to=dtype)
    assert y.dtype == dtype and gx.dtype == dtype
    tol = dict(rtol=1e-2, atol=1e-2) if dtype == torch.float16 else dict(rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(y.double(), y64, **tol)
    torch.testing.assert_close(gx.double(), gx64, **tol)
    if dtype == torch.float16:  # torchvision accepts float16 but rounds every step to float16
        y_tv, _ = run_torchvision(forward_backward, fn, x, rois)
        torch.testing.assert_close(y.double(), y_tv.double(), rtol=5e-2, atol=5e-2)


GRADCHECK_FNS = {
    "roi_align": lambda x, r: ops.roi_align(x, r, (3, 2), 0.5, 2, False),
    "roi_align_aligned_adaptive": lambda x, r: ops.roi_align(x, r, 2, 0.5, -1, True),
    "roi_pool": lambda x, r: ops.roi_pool(x, r, (2, 3), 0.5),
    "ps_roi_align": lambda x, r: ops.ps_roi_align(x, r, 2, 0.5, 2),
    "ps_roi_pool": lambda x, r: ops.ps_roi_pool(x, r, 2, 0.5),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK_FNS))
def test_gradcheck_float64(name):
    fn = GRADCHECK_FNS[name]
    x = make_input(2, 8, 10, 10, 22, torch.float64).requires_grad_()
    # Boxes inside the map: torchvision's ps_roi_pool forward never pools the last row and column
    # while its backward does, so gradients are only consistent away from that border.
    rois = torch.tensor(
        [[0, 1.0, 1.5, 12.0, 11.0], [1, 3.3, 2.1, 14.7, 16.2], [1, 0.0, 0.0, 6.0, 5.0]],
        dtype=torch.float64,
    )
    assert torch.autograd.gradcheck(lambda a: fn(a, rois), (x,))


def test_own_namespace_matches_and_differentiates():
    x = make_input(2, CHANNELS, 15, 17, 23, torch.float64).requires_grad_()
    rois = make_rois(12, 2, 24, torch.float64, extent=17.0)
    own = torchvision_adapter.ops
    pairs = [
        (own.roi_align(x, rois, 3, 0.5, 2, True), ops.roi_align(x, rois, 3, 0.5, 2, True)),
        (own.roi_pool(x, rois, (2, 3), 0.5), ops.roi_pool(x, rois, (2, 3), 0.5)),
        (own.ps_roi_align(x, rois, 3, 0.5, -1), ops.ps_roi_align(x, rois, 3, 0.5, -1)),
        (own.ps_roi_pool(x, rois, (2, 3), 0.5), ops.ps_roi_pool(x, rois, (2, 3), 0.5)),
    ]
    for ours, ref in pairs:
        assert torch.equal(ours, ref)
        (g1,) = torch.autograd.grad(ours.sum(), x)
        (g2,) = torch.autograd.grad(ref.sum(), x)
        assert torch.equal(g1, g2)
    boxes = [rois[:5, 1:], rois[5:, 1:]]
    assert own.roi_align(x, boxes, 3, 0.5, 2).shape == (12, CHANNELS, 3, 3)
    small = make_input(1, 4, 6, 6, 25, torch.float64).requires_grad_()
    r = torch.tensor([[0, 0.5, 0.5, 4.0, 5.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: own.roi_align(a, r, 2, 1.0, 2, True), (small,))
    assert torch.autograd.gradcheck(lambda a: own.ps_roi_align(a, r, 2, 1.0, 2), (small,))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, r: ops.roi_align(x, r, 2, 1.0, 2),
        lambda x, r: ops.roi_pool(x, r, 2, 1.0),
        lambda x, r: torchvision_adapter.ops.roi_align(x, r, 2, 1.0, 2),
        lambda x, r: torchvision_adapter.ops.ps_roi_pool(x, r, 2, 1.0),
    ],
)
def test_double_backward_raises(fn):
    x = make_input(1, 8, 6, 6, 26, torch.float64).requires_grad_()
    rois = torch.tensor([[0, 0.5, 0.5, 4.0, 5.0]], dtype=torch.float64)
    y = fn(x, rois)
    gy = torch.ones_like(y, requires_grad=True)
    with pytest.raises(RuntimeError, match="double backwards"):
        (gx,) = torch.autograd.grad(y, x, gy, create_graph=True)
        gx.sum().backward()


def test_modules_and_multiscale_roi_align():
    torch.manual_seed(0)
    feats = {"0": torch.randn(2, 16, 32, 32), "1": torch.randn(2, 16, 16, 16), "2": torch.randn(2, 16, 8, 8)}
    boxes = [make_rois(30, 1, 27, extent=128.0, max_side=100.0)[:, 1:], make_rois(20, 1, 28, extent=128.0)[:, 1:]]
    sizes = [(128, 128), (120, 110)]
    pooler = ops.MultiScaleRoIAlign(["0", "1", "2"], 7, 2)
    out = pooler(feats, boxes, sizes)
    ref = run_torchvision(pooler, feats, boxes, sizes)
    assert torch.equal(out, ref)
    for module in (ops.RoIAlign(5, 0.25, -1, True), ops.RoIPool(5, 0.25), ops.PSRoIAlign(2, 0.25, 2), ops.PSRoIPool(2, 0.25)):
        assert torch.equal(module(feats["0"], boxes), run_torchvision(module, feats["0"], boxes))


def test_torchscript_uses_the_switched_kernels():
    @torch.jit.script
    def scripted(x: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return torchvision.ops.roi_align(x, rois, [7, 7], 0.5, 2, True) + torchvision.ops.roi_pool(x, rois, [7, 7], 0.5)

    x = make_input(2, 20, 16, 16, 29)
    rois = make_rois(10, 2, 30, extent=32.0)
    expected = run_torchvision(scripted, x, rois)
    assert torch.equal(scripted(x, rois), expected)
    # A batch index outside the input is caught by our kernel (torchvision reads out of bounds).
    bad = rois.clone()
    bad[0, 0] = 2
    with pytest.raises(RuntimeError, match=r"rois\[:, 0\]"):
        scripted(x, bad)


def test_gradients_through_the_dispatcher_private_backward_ops():
    x = make_input(1, 16, 12, 12, 31)
    rois = make_rois(8, 1, 32, extent=12.0)
    g = torch.randn(8, 16, 7, 7, generator=torch.Generator().manual_seed(33))
    args = (g, rois, 1.0, 7, 7, 1, 16, 12, 12, 2, False)
    assert torch.equal(TV._roi_align_backward(*args), run_torchvision(TV._roi_align_backward, *args))
    _, argmax = TV.roi_pool(x, rois, 1.0, 7, 7)
    args = (g, rois, argmax, 1.0, 7, 7, 1, 16, 12, 12)
    assert torch.equal(TV._roi_pool_backward(*args), run_torchvision(TV._roi_pool_backward, *args))


ERRORS = [
    ("rois of width 4", lambda: TV.roi_align(torch.rand(1, 3, 8, 8), torch.rand(5, 4), 1.0, 2, 2, 2, False), r"rois should have shape \[K, 5\]"),
    ("rois 1d", lambda: TV.roi_pool(torch.rand(1, 3, 8, 8), torch.rand(5), 1.0, 2, 2), r"rois should be a 2d tensor"),
    ("batch index too large", lambda: TV.roi_align(torch.rand(2, 3, 8, 8), torch.tensor([[2.0, 0, 0, 4, 4]]), 1.0, 2, 2, 2, False), r"rois\[:, 0\] must hold batch indices in \[0, 2\)"),
    ("batch index negative", lambda: TV.roi_pool(torch.rand(2, 3, 8, 8), torch.tensor([[-1.0, 0, 0, 4, 4]]), 1.0, 2, 2), r"batch indices"),
    ("batch index nan", lambda: TV.ps_roi_align(torch.rand(1, 4, 8, 8), torch.tensor([[float("nan"), 0, 0, 4, 4]]), 1.0, 2, 2, 2), r"batch indices"),
    ("negative output size", lambda: TV.roi_align(torch.rand(1, 3, 8, 8), torch.tensor([[0.0, 0, 0, 4, 4]]), 1.0, -2, 2, 2, False), r"output_size must be non-negative"),
    ("zero output size ps", lambda: TV.ps_roi_pool(torch.rand(1, 4, 8, 8), torch.tensor([[0.0, 0, 0, 4, 4]]), 1.0, 0, 2), r"output_size must be positive"),
    ("dtype mismatch", lambda: TV.roi_align(torch.rand(1, 3, 8, 8), torch.tensor([[0.0, 0, 0, 4, 4]], dtype=torch.float64), 1.0, 2, 2, 2, False), r"input and rois must have the same dtype"),
    ("integer input", lambda: TV.roi_pool(torch.ones(1, 3, 8, 8, dtype=torch.int32), torch.tensor([[0, 0, 0, 4, 4]], dtype=torch.int32), 1.0, 2, 2), r"input must be a floating point tensor"),
    ("3d input", lambda: TV.roi_align(torch.rand(3, 8, 8), torch.tensor([[0.0, 0, 0, 4, 4]]), 1.0, 2, 2, 2, False), r"input should be a 4d tensor"),
    ("ps channels", lambda: TV.ps_roi_align(torch.rand(1, 5, 8, 8), torch.tensor([[0.0, 0, 0, 4, 4]]), 1.0, 2, 2, 2), r"input channels must be a multiple of"),
    ("grad shape", lambda: TV._roi_align_backward(torch.rand(1, 3, 2, 2), torch.tensor([[0.0, 0, 0, 4, 4]]), 1.0, 2, 2, 1, 4, 8, 8, 2, False), r"grad should have shape"),
    ("backward batch index", lambda: TV._roi_align_backward(torch.rand(1, 3, 2, 2), torch.tensor([[1.0, 0, 0, 4, 4]]), 1.0, 2, 2, 1, 3, 8, 8, 2, False), r"batch indices"),
    ("argmax out of range", lambda: TV._roi_pool_backward(torch.rand(1, 3, 2, 2), torch.tensor([[0.0, 0, 0, 4, 4]]), torch.full((1, 3, 2, 2), 64, dtype=torch.int32), 1.0, 2, 2, 1, 3, 8, 8), r"argmax must hold pixel indices"),
    ("argmax dtype", lambda: TV._roi_pool_backward(torch.rand(1, 3, 2, 2), torch.tensor([[0.0, 0, 0, 4, 4]]), torch.zeros(1, 3, 2, 2, dtype=torch.int64), 1.0, 2, 2, 1, 3, 8, 8), r"argmax must be an int32 tensor"),
    ("channel_mapping out of range", lambda: TV._ps_roi_align_backward(torch.rand(1, 1, 2, 2), torch.tensor([[0.0, 0, 0, 4, 4]]), torch.full((1, 1, 2, 2), 9, dtype=torch.int32), 1.0, 2, 2, 2, 1, 4, 8, 8), r"channel_mapping must hold input channels"),
    ("channel_mapping negative", lambda: TV._ps_roi_pool_backward(torch.rand(1, 1, 2, 2), torch.tensor([[0.0, 0, 0, 4, 4]]), torch.full((1, 1, 2, 2), -3, dtype=torch.int32), 1.0, 2, 2, 1, 4, 8, 8), r"channel_mapping must hold input channels"),
    ("huge adaptive grid", lambda: TV.roi_align(torch.rand(1, 1, 8, 8), torch.tensor([[0.0, 0, 0, 1e30, 1e30]]), 1.0, 2, 2, -1, False), r"too large for adaptive sampling"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_input_raises_a_clear_error(case):
    _, call, message = case
    with pytest.raises(RuntimeError, match=message):
        call()


@pytest.mark.parametrize("spec", sorted(SPECS))
def test_non_finite_box_coordinates_never_read_out_of_bounds(spec):
    # torchvision's kernels cast such coordinates to int (undefined behaviour); ours treat NaN
    # sampling points as outside the map and clamp infinite bins, and always return.
    x = make_input(1, CHANNELS, 9, 9, 34)
    nan, inf = float("nan"), float("inf")
    rois = torch.tensor([[0, nan, 1.0, 5.0, 5.0], [0, 1.0, 1.0, inf, 5.0], [0, -inf, -inf, 3.0, 3.0]])
    if "adaptive" in spec:
        # An infinite box asks for infinitely many samples per bin: a clear error.
        with pytest.raises(RuntimeError, match="too large for adaptive sampling"):
            forward_backward(SPECS[spec], x, rois)
        rois = rois[:1]
    y, gx = forward_backward(SPECS[spec], x, rois)
    assert y.shape[0] == rois.shape[0] and gx.shape == x.shape


def test_backward_with_images_without_rois_and_large_planes():
    # Gradient planes are written plane by plane (zeroed, then summed into): images that no RoI
    # reads must come out zero, and planes too large to group several per work item also work.
    x = make_input(3, 20, 12, 13, 40)
    rois = make_rois(14, 1, 41, extent=13.0)
    rois[7:, 0] = 2  # images 0 and 2 have RoIs, image 1 has none
    for spec in sorted(s for s in SPECS if not s.startswith("ps_")):
        y, gx = forward_backward(SPECS[spec], x, rois)
        y_ref, gx_ref = run_torchvision(forward_backward, SPECS[spec], x, rois)
        assert torch.equal(y, y_ref) and torch.equal(gx, gx_ref), spec
        assert not gx[1].any(), spec
    xp = make_input(3, 18, 12, 13, 42)
    for spec in ("ps_roi_align_3_adaptive", "ps_roi_pool_3", "ps_roi_align_2x3_sr2", "ps_roi_pool_2x3"):
        y, gx = forward_backward(SPECS[spec], xp, rois)
        y_ref, gx_ref = run_torchvision(forward_backward, SPECS[spec], xp, rois)
        assert torch.equal(y, y_ref) and torch.equal(gx, gx_ref), spec
        assert not gx[1].any(), spec
    big = make_input(1, 3, 380, 370, 43)
    rois_big = make_rois(10, 1, 44, extent=370.0, max_side=200.0)
    fn = lambda a, r: ops.roi_pool(a, r, 7, 1.0)  # noqa: E731
    y, gx = forward_backward(fn, big, rois_big)
    y_ref, gx_ref = run_torchvision(forward_backward, fn, big, rois_big)
    assert torch.equal(y, y_ref) and torch.equal(gx, gx_ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("op", ["ps_roi_align", "ps_roi_pool"])
def test_ps_backward_with_any_channel_mapping(op, dtype):
    # The private backward ops accept any in-range channel_mapping, not only the forward's: a
    # permuted one, and one sending several outputs to the same input channel.
    x = make_input(2, 18, 11, 12, 45, dtype)
    rois = make_rois(9, 2, 46, dtype, extent=12.0)
    n, c, h, w = x.shape
    g = torch.randn(9, 2, 3, 3, generator=torch.Generator().manual_seed(47), dtype=dtype)
    if op == "ps_roi_align":
        _, mapping = TV.ps_roi_align(x, rois, 1.0, 3, 3, 2)
        call = lambda m: TV._ps_roi_align_backward(g, rois, m, 1.0, 3, 3, 2, n, c, h, w)  # noqa: E731
    else:
        _, mapping = TV.ps_roi_pool(x, rois, 1.0, 3, 3)
        call = lambda m: TV._ps_roi_pool_backward(g, rois, m, 1.0, 3, 3, n, c, h, w)  # noqa: E731
    perm = torch.randperm(c, generator=torch.Generator().manual_seed(48)).to(torch.int32)
    for m in (mapping, perm[mapping.long()], mapping % 5, mapping.flip(1)):
        m = m.to(torch.int32).contiguous()
        assert torch.equal(call(m), run_torchvision(call, m))
    bad = mapping.clone()
    bad[4, 1, 2, 0] = c
    with pytest.raises(RuntimeError, match="channel_mapping must hold input channels"):
        call(bad)


def test_roi_pool_backward_rejects_bad_argmax_anywhere():
    x = make_input(2, 20, 9, 10, 49)
    rois = make_rois(6, 2, 50, extent=10.0)
    y, argmax = TV.roi_pool(x, rois, 1.0, 3, 3)
    g = torch.ones_like(y)
    for value in (90, -2, 2**31 - 1):
        bad = argmax.clone()
        bad[5, 19, 2, 2] = value
        with pytest.raises(RuntimeError, match="argmax must hold pixel indices"):
            TV._roi_pool_backward(g, rois, bad, 1.0, 3, 3, 2, 20, 9, 10)


ALIGN_SPECS = sorted(s for s in SPECS if s.startswith("roi_align"))


@pytest.mark.parametrize("layout", ["contiguous", "narrow", "strided", "half_channels_last"])
@pytest.mark.parametrize("spec", ALIGN_SPECS)
def test_roi_align_few_rois_on_a_large_map(spec, layout):
    # A few RoIs on a large map (few samples, many pixels never read), through the channel blocks
    # gathered from contiguous, strided and channels-last half-precision maps. RoIs at every
    # border, partly and wholly outside, tiny, batch > 1, 37 channels (not a multiple of the
    # vector width), widths 70 and 7.
    dtype = torch.float16 if layout == "half_channels_last" else torch.float32
    x = make_input(2, 37, 60, 70, 51)
    if layout == "strided":
        x = make_input(2, 37, 60, 140, 51)[..., ::2]
    if layout == "narrow":
        x = make_input(2, 37, 60, 7, 51)
    rois = torch.tensor(
        [
            [0, -6.0, -4.0, 9.0, 7.0],  # top-left corner, partly outside
            [1, 120.0, 100.0, 150.0, 130.0],  # bottom-right corner, partly outside
            [1, 0.0, 50.0, 20.0, 119.9],  # left border to the bottom
            [0, 130.0, 0.0, 139.9, 12.0],  # right border
            [0, 200.0, 10.0, 230.0, 20.0],  # wholly outside
            [1, 40.0, 30.0, 40.5, 30.5],  # tiny
            [0, 60.0, 44.0, 90.0, 70.0],  # inside
        ]
    )
    if dtype == torch.float16:
        x, rois = x.to(dtype).contiguous(memory_format=torch.channels_last), rois.to(dtype)
    y, gx = forward_backward(SPECS[spec], x, rois)
    if dtype == torch.float16:
        # Computed in float and rounded once: torchvision's float32 result, rounded.
        y_ref, gx_ref = run_torchvision(
            forward_backward, SPECS[spec], x.float(), rois.float(), grad_rounded_to=dtype)
        assert torch.equal(y, y_ref.to(dtype)) and torch.equal(gx, gx_ref.to(dtype))
        return
    y_ref, gx_ref = run_torchvision(forward_backward, SPECS[spec], x, rois)
    assert torch.equal(y, y_ref) and torch.equal(gx, gx_ref)


@pytest.mark.parametrize("rois_count", [3, 300])
def test_roi_align_non_finite_corner_pixel_reaches_outside_samples(rois_count):
    # torchvision gives a sample outside the map weight 0 on pixel (0, 0): 0 * inf is NaN; the
    # channel blocks must hold that pixel's value for it.
    x = make_input(1, 20, 40, 40, 53)
    x[0, :5, 0, 0] = float("inf")
    x[0, 5:9, 0, 0] = float("nan")
    rois = torch.cat([torch.tensor([[0, 70.0, 70.0, 90.0, 95.0], [0, 30.0, 30.0, 50.0, 50.0]]),
                      make_rois(rois_count - 2, 1, 54, extent=80.0)])
    for aligned in (False, True):
        y = TV.roi_align(x, rois, 0.5, 7, 7, 2, aligned)
        y_ref = run_torchvision(TV.roi_align, x, rois, 0.5, 7, 7, 2, aligned)
        torch.testing.assert_close(y, y_ref, rtol=0, atol=0, equal_nan=True)
        assert y[0, :9].isnan().any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ps_roi_align_resolved_points_and_huge_grid_fallback(dtype):
    # Ordinary RoIs take the per-bin table of resolved sampling points; a RoI whose adaptive grid
    # is too large for that table (429 x 429 points per bin) sends the call to the on-the-fly taps.
    # Both give torchvision's values bit for bit, samples outside the map included.
    x = make_input(2, 49, 12, 10, 61, dtype)
    rois = make_rois(40, 2, 62, dtype, extent=30.0)
    huge = torch.tensor([[1, -5.0, -3.0, 6000.0, 6000.0]], dtype=dtype)
    for r in (rois, torch.cat([rois, huge])):
        y = TV.ps_roi_align(x, r, 0.5, 7, 7, -1)[0]
        y_ref = run_torchvision(TV.ps_roi_align, x, r, 0.5, 7, 7, -1)[0]
        assert torch.equal(y, y_ref)


LARGE_OUTPUT_SPECS = {
    "roi_align_7_adaptive_aligned": lambda x, r: ops.roi_align(x, r, 7, 0.25, -1, True),
    "roi_align_7_sr2": lambda x, r: ops.roi_align(x, r, 7, 0.25, 2, False),
    "roi_pool_7": lambda x, r: ops.roi_pool(x, r, 7, 0.25),
}


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("spec", sorted(LARGE_OUTPUT_SPECS))
def test_large_outputs_streamed_recycled_and_distinct(spec, dtype, stream, monkeypatch):
    """Large outputs come from recycled buffers, written with streaming stores (roi_align: above a
    quarter of the last-level cache, or TVA_ROI_STREAM_BYTES; roi_pool: always) or ordinary ones:
    results equal torchvision's, a live output's memory is never handed out again, a freed output's
    memory is reused without its old contents showing through, and the outputs resize like any
    tensor."""
    monkeypatch.setenv("TVA_ROI_STREAM_BYTES", "0" if stream else str(1 << 62))
    fn = LARGE_OUTPUT_SPECS[spec]
    xs = [make_input(1, 64, 40, 60, seed=s, dtype=dtype) for s in range(2)]
    rois = make_rois(400, 1, seed=5, dtype=dtype, extent=240.0, min_side=4.0, max_side=200.0)
    refs = [run_torchvision(forward_backward, fn, x, rois, grad_seed=s) for s, x in enumerate(xs)]
    # The row sampler (float32 roi_align with sampling_ratio 2) is within float roundings, not bit
    # for bit; every other path is.
    exact = spec != "roi_align_7_sr2" or dtype == torch.float64
    live = []
    for round_ in range(3):
        outs = [forward_backward(fn, x, rois, grad_seed=s) for s, x in enumerate(xs)]
        assert outs[0][0].numel() * outs[0][0].element_size() >= 4 << 20
        for (y, gx), (ry, rgx) in zip(outs, refs):
            if exact:
                assert torch.equal(y, ry)
            else:
                torch.testing.assert_close(y, ry, rtol=1e-5, atol=1e-5 * ry.abs().max().item())
            torch.testing.assert_close(gx, rgx, **TOL[dtype])
        live.append(outs[round_ % 2][0])
        del outs
    assert len({t.data_ptr() for t in live}) == len(live)
    for k, y in enumerate(live):
        torch.testing.assert_close(y, refs[k % 2][0], rtol=1e-5, atol=1e-5 * refs[k % 2][0].abs().max().item())
    grown = live[0].resize_(live[0].shape[0] + 1, *live[0].shape[1:])
    torch.testing.assert_close(grown[:-1], refs[0][0], rtol=1e-5, atol=1e-5 * refs[0][0].abs().max().item())
