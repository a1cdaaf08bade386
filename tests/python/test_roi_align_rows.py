"""roi_align forward on float32 NCHW maps with sampling_ratio 2 and RoIs inside the map: the row
sampler (pixel rows interpolated along y, taps picked by lane permutations, then interpolated along
x, with fused multiply-adds). torchvision's output within 1e-5 relative to its magnitude, with
non-finite values where torchvision has them, at the map's borders, for RoIs that span up to four
vectors of pixels and wider, for every output width up to a vector's lanes and beyond, on strided
maps and with non-finite pixels."""
import pytest
import torch
from torchvision import ops

from conftest import run_torchvision


def make_map(n, c, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, h, w, generator=g)


def inside_rois(k, batch, h, w, seed, max_side):
    """Tensor[K, 5] of boxes within an h x w map (scale 1), every fourth touching the right or
    bottom border, where the last column's and row's taps are clamped."""
    g = torch.Generator().manual_seed(seed)
    side = 1 + torch.rand(k, 2, generator=g) * (max_side - 1)
    side = torch.minimum(side, torch.tensor([w - 1.0, h - 1.0]))
    xy = torch.rand(k, 2, generator=g) * (torch.tensor([w, h]) - side)
    rois = torch.cat([torch.randint(0, batch, (k, 1), generator=g).float(), xy, xy + side], 1)
    rois[::4, 3] = w - 0.5 + 0.49 * torch.rand(len(rois[::4]), generator=g)
    rois[1::4, 4] = h - 0.5 + 0.49 * torch.rand(len(rois[1::4]), generator=g)
    return rois


def assert_close_to_torchvision(out, ref):
    """float32 within 1e-5 of torchvision's output relative to its magnitude (the largest finite
    output), NaN and infinities where torchvision has them."""
    finite = ref.isfinite()
    scale = ref[finite].abs().max().item() if finite.any() else 0.0
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * scale, equal_nan=True)


def same_as_torchvision(x, rois, size, aligned):
    fn = lambda: ops.roi_align(x, rois, size, 1.0, 2, aligned)  # noqa: E731
    out = fn()
    ref = run_torchvision(fn)
    assert_close_to_torchvision(out, ref)
    return out, ref


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("size", [(7, 7), (14, 14), (16, 16), (17, 9), (3, 5), (1, 1), (5, 2)])
def test_rows_equal_torchvision(size, aligned):
    x = make_map(2, 37, 40, 90, seed=1)
    rois = inside_rois(9, 2, 40, 90, seed=size[0] * 31 + size[1], max_side=40)
    same_as_torchvision(x, rois, size, aligned)


@pytest.mark.parametrize("max_side", [8, 30, 60, 89])
def test_rows_wide_rois(max_side):
    # The x-samples of one vector span up to four vectors of pixels in the sampler; wider RoIs
    # send the call to the channel-block path. Both must give torchvision's output.
    x = make_map(1, 20, 30, 100, seed=2)
    rois = inside_rois(6, 1, 30, 100, seed=max_side, max_side=max_side)
    for size in [(7, 7), (14, 14)]:
        same_as_torchvision(x, rois, size, True)


@pytest.mark.parametrize("layout", ["row_strided", "batch_strided", "narrow"])
def test_rows_layouts(layout):
    if layout == "row_strided":
        x = make_map(2, 19, 40, 120, seed=3)[..., 10:100]  # rows 120 apart, 90 wide
    elif layout == "batch_strided":
        x = make_map(4, 19, 40, 90, seed=3)[::2]
    else:
        x = make_map(2, 19, 40, 12, seed=3)  # narrower than a vector: channel blocks
    h, w = x.shape[2], x.shape[3]
    rois = inside_rois(8, 2, h, w, seed=4, max_side=30)
    for size in [(7, 7), (14, 14)]:
        same_as_torchvision(x, rois, size, False)


def test_rows_non_finite_pixels():
    # A tap with weight 0 still reads its pixel (0 * inf is NaN), as torchvision's loop does.
    x = make_map(1, 16, 24, 64, seed=5)
    x[0, :, 5, 7] = float("inf")
    x[0, :, 10, :] = float("-inf")
    x[0, 3, 12, 20] = float("nan")
    x[0, :, :, 63] = float("inf")  # the last column, where x_lo = x_hi
    rois = torch.tensor(
        [
            [0, 3.0, 2.0, 17.0, 15.0],  # integer sample positions: weights of exactly 0
            [0, 0.0, 0.0, 30.0, 23.0],
            [0, 40.0, 4.0, 63.9, 20.0],  # up to the last column
            [0, 18.0, 11.0, 25.0, 13.0],
        ]
    )
    out, ref = same_as_torchvision(x, rois, (7, 7), False)
    assert out.isnan().any() and out.isfinite().any()
    assert torch.equal(out.isnan(), ref.isnan()) and torch.equal(out.isinf(), ref.isinf())
    same_as_torchvision(x, rois, (14, 14), True)


def test_rows_two_threads_equal_one():
    x = make_map(1, 64, 50, 80, seed=6)
    rois = inside_rois(20, 1, 50, 80, seed=7, max_side=40)
    one, _ = same_as_torchvision(x, rois, (14, 14), False)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two = ops.roi_align(x, rois, (14, 14), 1.0, 2, False)
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(one, two)


def test_rows_sampler_is_taken():
    # The channel-block path repeats torchvision's arithmetic bit for bit; the row sampler regroups
    # it, so outputs that are close but not all equal show that these calls reach the sampler.
    x = make_map(1, 32, 60, 96, seed=8)
    rois = inside_rois(10, 1, 60, 96, seed=9, max_side=30)
    # At most 30 pixels wide (inside_rois stretches some to the right border): within the x-samples
    # the sampler takes for a 7 x 7 output, so that no RoI sends the call to the channel blocks.
    rois[:, 1] = torch.maximum(rois[:, 1], rois[:, 3] - 30)
    for size, aligned in [((7, 7), True), ((14, 14), False)]:
        out, ref = same_as_torchvision(x, rois, size, aligned)
        assert not torch.equal(out, ref)
