"""roi_pool and ps_roi_pool: the vectorised paths (one RoI per lane for ps_roi_pool in float32,
channel blocks for roi_pool) against torchvision's own kernels on RoIs of every size, batches,
layouts, non-finite values and ties; and maps without rows or columns, as torchvision treats them."""
import pytest
import torch

from conftest import run_torchvision

TV = torch.ops.torchvision


def rois_of_all_sizes(k, batch, extent, seed, max_side):
    """Boxes from 0 to max_side pixels a side, some partly or wholly outside, in every image."""
    g = torch.Generator().manual_seed(seed)
    wh = torch.rand(k, 2, generator=g) * max_side
    xy = torch.rand(k, 2, generator=g) * (extent + 2 * max_side) - max_side
    b = torch.randint(0, batch, (k, 1), generator=g).float()
    return torch.cat([b, xy, xy + wh], 1)


def features(n, c, h, w, seed):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


@pytest.mark.parametrize("pooled", [(7, 7), (3, 5), (1, 1)])
def test_ps_roi_pool_float_lanes_match_torchvision(pooled):
    # 70 RoIs (not a multiple of the lane count), bins from empty to 12 pixels a side (more than
    # one group of four columns), three images (one without RoIs), scale 1/2.
    ph, pw = pooled
    x = features(3, 2 * ph * pw, 31, 45, 1)
    rois = rois_of_all_sizes(70, 3, 90.0, 2, max_side=12.0 * 2 * max(ph, pw))
    rois[rois[:, 0] == 1, 0] = 2
    y, mapping = TV.ps_roi_pool(x, rois, 0.5, ph, pw)
    y_ref, mapping_ref = run_torchvision(TV.ps_roi_pool, x, rois, 0.5, ph, pw)
    assert same(y, y_ref) and same(mapping, mapping_ref)
    # The same map in other layouts reads the same pixels.
    for xl in (x.contiguous(memory_format=torch.channels_last),
               features(3, 2 * ph * pw, 31, 90, 1)[..., ::2].copy_(x)):
        assert same(TV.ps_roi_pool(xl, rois, 0.5, ph, pw)[0], y_ref)


def test_ps_roi_pool_float_lanes_non_finite_values():
    # inf and NaN pixels reach exactly the bins that contain them (a masked-off lane adds 0).
    x = features(2, 18, 16, 17, 3)
    x[0, :, 3, 4] = float("inf")
    x[0, 2:5, 7, :] = float("nan")
    x[1, :, 0, 0] = float("-inf")
    rois = rois_of_all_sizes(40, 2, 17.0, 4, max_side=10.0)
    y, mapping = TV.ps_roi_pool(x, rois, 1.0, 3, 3)
    y_ref, mapping_ref = run_torchvision(TV.ps_roi_pool, x, rois, 1.0, 3, 3)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0, equal_nan=True)
    assert same(mapping, mapping_ref)
    assert y.isnan().any() and y.isinf().any()


@pytest.mark.parametrize("threads", [1, 2])
def test_ps_roi_pool_forward_and_backward_any_thread_count(threads):
    torch.set_num_threads(threads)
    x = features(2, 98, 20, 24, 5)
    rois = rois_of_all_sizes(45, 2, 24.0, 6, max_side=20.0)
    y, mapping = TV.ps_roi_pool(x, rois, 1.0, 7, 7)
    assert same(y, run_torchvision(TV.ps_roi_pool, x, rois, 1.0, 7, 7)[0])
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(7))
    args = (g, rois, mapping, 1.0, 7, 7, 2, 98, 20, 24)
    assert same(TV._ps_roi_pool_backward(*args), run_torchvision(TV._ps_roi_pool_backward, *args))


@pytest.mark.parametrize("threads", [1, 2])
def test_roi_pool_ties_and_non_finite_values(threads):
    # Few distinct values: many equal maxima per bin, and the first in torchvision's scan order
    # must win (the gradient lands on it). NaN is never selected by torchvision's `>`; -inf and
    # -FLT_MAX never beat its starting value, so a bin of only those keeps argmax -1.
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(8)
    x = torch.randint(0, 3, (2, 20, 18, 21), generator=g).float()
    x[0, 1, 2:9, 3:12] = float("nan")
    x[0, 2, :, :] = float("-inf")
    x[1, 3, :, :] = -torch.finfo(torch.float32).max
    x[1, 4, 5:7, :] = float("inf")
    rois = rois_of_all_sizes(50, 2, 21.0, 9, max_side=24.0)
    y, argmax = TV.roi_pool(x, rois, 1.0, 7, 7)
    y_ref, argmax_ref = run_torchvision(TV.roi_pool, x, rois, 1.0, 7, 7)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0, equal_nan=True)
    assert same(argmax, argmax_ref)
    img = rois[:, 0]
    assert (argmax[img == 0, 2] == -1).all() and (argmax[img == 1, 3] == -1).all()
    grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(10))
    args = (grad, rois, argmax, 1.0, 7, 7, 2, 20, 18, 21)
    assert same(TV._roi_pool_backward(*args), run_torchvision(TV._roi_pool_backward, *args))


EMPTY_MAPS = [(1, 9, 0, 5), (1, 9, 5, 0), (2, 9, 0, 0)]
OUTSIDE_ROIS = torch.tensor([[0, 10.0, 10.0, 13.0, 13.0], [0, -10.0, -9.0, -5.0, -4.0]])


@pytest.mark.parametrize("shape", EMPTY_MAPS)
def test_pooling_on_a_map_without_rows_or_columns_matches_torchvision(shape):
    # torchvision's pooling ops clip every bin to the (empty) map: all bins are empty, outputs 0.
    x = torch.rand(shape)
    rois = torch.cat([OUTSIDE_ROIS, torch.tensor([[0, 0.0, 0.0, 3.0, 3.0]])])
    for fn in (lambda: TV.ps_roi_pool(x, rois, 1.0, 3, 3), lambda: TV.roi_pool(x, rois, 1.0, 3, 3)):
        y, idx = fn()
        y_ref, idx_ref = run_torchvision(fn)
        assert same(y, y_ref) and same(idx, idx_ref)
        assert not y.any()


@pytest.mark.parametrize("sampling_ratio", [2, -1])
@pytest.mark.parametrize("shape", EMPTY_MAPS)
def test_ps_roi_align_on_a_map_without_rows_or_columns(shape, sampling_ratio):
    # torchvision gives 0 for samples outside [-1, height] x [-1, width] without reading the map:
    # RoIs all of whose samples lie outside give zeros, as there.
    x = torch.rand(shape)
    y, mapping = TV.ps_roi_align(x, OUTSIDE_ROIS, 1.0, 3, 3, sampling_ratio)
    y_ref, mapping_ref = run_torchvision(TV.ps_roi_align, x, OUTSIDE_ROIS, 1.0, 3, 3, sampling_ratio)
    assert same(y, y_ref) and same(mapping, mapping_ref)
    assert not y.any()
    # A sample inside [-1, height] x [-1, width] would be read from a map that has no pixels
    # (torchvision reads outside its input there): a clear error instead.
    inside = torch.cat([OUTSIDE_ROIS, torch.tensor([[0, 0.0, 0.0, 3.0, 3.0]])])
    with pytest.raises(RuntimeError, match="input has no rows or no columns .* RoI 2 has samples"):
        TV.ps_roi_align(x, inside, 1.0, 3, 3, sampling_ratio)
    # No RoIs at all: an empty result.
    y, _ = TV.ps_roi_align(x, torch.zeros(0, 5), 1.0, 3, 3, sampling_ratio)
    assert y.shape == (0, 1, 3, 3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_roi_pool_odd_output_rows_in_every_dtype(dtype):
    # 17 channels (a last channel block of one) and 3 x 3 bins: output rows of an odd number of
    # half-precision elements, at odd offsets, are copied element by element.
    x = features(2, 17, 14, 15, 11).to(dtype)
    rois = rois_of_all_sizes(23, 2, 15.0, 12, max_side=16.0).to(dtype)
    y, argmax = TV.roi_pool(x, rois, 1.0, 3, 3)
    if dtype == torch.float64:
        y_ref, argmax_ref = run_torchvision(TV.roi_pool, x, rois, 1.0, 3, 3)
        assert same(y, y_ref)
    else:
        # Compared in float: the maximum of half values is one of them, exactly representable.
        y_ref, argmax_ref = run_torchvision(TV.roi_pool, x.float(), rois.float(), 1.0, 3, 3)
        assert same(y, y_ref.to(dtype))
    assert same(argmax, argmax_ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layout", ["contiguous", "padded rows", "every other column"])
def test_roi_pool_row_band_on_a_tall_map(dtype, layout):
    # A map much taller than its RoIs: the channel block keeps only a band of rows as tall as the
    # tallest RoI, its slots reused as the RoIs move down (many times round here); RoIs sharing a
    # top edge, RoIs of one row, tall ones next to short ones, RoIs below the map.
    if layout == "contiguous":
        x = features(2, 33, 90, 11, 21).to(dtype)
    elif layout == "padded rows":
        x = features(2, 33, 90, 14, 21).to(dtype)[..., :11]
    else:
        x = features(2, 33, 90, 22, 21).to(dtype)[..., ::2]
    rois = rois_of_all_sizes(60, 2, 11.0, 22, max_side=6.0).to(dtype)
    rois[:, 2] = torch.rand(60, generator=torch.Generator().manual_seed(23)).to(dtype) * 95 - 3
    rois[:, 4] = rois[:, 2] + torch.rand(60, generator=torch.Generator().manual_seed(24)).to(dtype) * 7
    rois[5, 2], rois[5, 4] = 10.0, 40.0  # one tall RoI among short ones
    rois[6, 2], rois[6, 4] = 10.0, 10.0
    y, argmax = TV.roi_pool(x, rois, 1.0, 3, 2)
    y_ref, argmax_ref = run_torchvision(TV.roi_pool, x, rois, 1.0, 3, 2)
    assert same(y, y_ref) and same(argmax, argmax_ref)


def test_roi_pool_rows_of_valid_rois_with_a_nan_box_in_the_image():
    # A NaN top edge sorts anywhere: the other RoIs of its image must still read the right rows.
    x = features(1, 16, 60, 9, 25)
    rois = rois_of_all_sizes(40, 1, 9.0, 26, max_side=5.0)
    rois[:, 2] = torch.linspace(0, 55, 40)[torch.randperm(40, generator=torch.Generator().manual_seed(27))]
    rois[:, 4] = rois[:, 2] + 4
    with_nan = torch.cat([rois[:20], torch.tensor([[0.0, 1.0, float("nan"), 5.0, 3.0]]), rois[20:]])
    y, argmax = TV.roi_pool(x, with_nan, 1.0, 2, 2)
    y_ref, argmax_ref = run_torchvision(TV.roi_pool, x, rois, 1.0, 2, 2)
    keep = torch.arange(41) != 20
    assert same(y[keep], y_ref) and same(argmax[keep], argmax_ref)
