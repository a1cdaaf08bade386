"""Outputs of the native transforms: recycled buffers, views and the per-call Python layer.

Outputs of 64 KiB and more reuse the buffers of freed outputs. These tests hold several outputs of
each op alive at once and free others in between, and check that values stay equal to torchvision's
and that a live output's memory is never handed out again.
"""
import gc

import pytest
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

from conftest import run_torchvision


def image(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)


MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

# (name, fn): each output is at least 64 KiB for a 3x120x200 uint8 input (72 KB).
OPS = [
    ("vflip", F.vflip),
    ("hflip", F.hflip),
    ("pad", lambda x: F.pad(x, 5)),
    ("pad reflect", lambda x: F.pad(x, [3, 1, 4, 2], padding_mode="reflect")),
    ("posterize", lambda x: F.posterize(x, 3)),
    ("invert", F.invert),
    ("solarize", lambda x: F.solarize(x, 100)),
    ("adjust_brightness", lambda x: F.adjust_brightness(x, 1.3)),
    ("convert_image_dtype", lambda x: F.convert_image_dtype(x, torch.float32)),
    ("normalize", lambda x: F.normalize(x.float() / 255, MEAN, STD)),
    ("resize up", lambda x: F.resize(x, [150, 260], InterpolationMode.BILINEAR)),
    ("resized_crop", lambda x: F.resized_crop(x, 10, 20, 100, 150, [130, 230])),
    ("gaussian_blur", lambda x: F.gaussian_blur(x, [3, 3], [1.0, 1.0])),
    ("rotate", lambda x: F.rotate(x, 10.0)),
]


@pytest.mark.parametrize("name, fn", OPS, ids=[o[0] for o in OPS])
def test_recycled_outputs_stay_correct_and_distinct(name, fn):
    imgs = [image((3, 120, 200), seed=s) for s in range(3)]
    refs = [run_torchvision(fn, x) for x in imgs]
    assert refs[0].numel() * refs[0].element_size() >= 64 * 1024
    live = []
    for round_ in range(3):
        outs = [fn(x) for x in imgs]
        for out, ref in zip(outs, refs):
            assert out.dtype == ref.dtype and out.shape == ref.shape
            torch.testing.assert_close(out, ref, rtol=1e-5, atol=1 if ref.dtype == torch.uint8 else 1e-5)
        live.append(outs[round_])  # keep one of each round alive, free the others
        del outs
        gc.collect()
    pointers = [o.data_ptr() for o in live]
    assert len(set(pointers)) == len(pointers)
    for k, out in enumerate(live):  # still intact after later calls reused the freed buffers
        torch.testing.assert_close(out, refs[k], rtol=1e-5, atol=1 if out.dtype == torch.uint8 else 1e-5)


def test_recycled_output_grows_shares_and_converts_like_any_tensor():
    img = image((3, 120, 200))
    ref = run_torchvision(F.vflip, img)
    grown = F.vflip(img)
    grown.resize_(4, 120, 200)  # storage grows: moved to a new buffer, values kept
    assert torch.equal(grown[:3], ref)
    out = F.vflip(img).resize_(0)  # kept storage, grown by the out= argument
    torch.cat([ref, ref], out=out)
    assert torch.equal(out[3:], ref)
    shared = F.vflip(img).share_memory_()
    assert shared.is_shared() and torch.equal(shared, ref)
    array = F.vflip(img).numpy()
    assert torch.equal(torch.from_numpy(array), ref)
    batched = image((2, 3, 60, 200))
    assert torch.equal(F.vflip(batched), run_torchvision(F.vflip, batched))


def same_view(ours, ref):
    return (
        ours.shape == ref.shape
        and ours.stride() == ref.stride()
        and ours.data_ptr() == ref.data_ptr()
        and ours.dtype == ref.dtype
        and torch.equal(ours, ref)
    )


@pytest.mark.parametrize("shape", [(3, 21, 34), (2, 3, 21, 34), (21, 34), (1, 2, 1, 21, 34)])
def test_crop_center_crop_get_dimensions_are_torchvisions_views(shape):
    img = image(shape)
    strided = img[..., ::2]
    for x in (img, strided, img.contiguous(memory_format=torch.channels_last) if img.ndim == 4 else img):
        assert F.get_dimensions(x) == run_torchvision(F.get_dimensions, x)
        for args in [(0, 0, 5, 7), (3, 4, 10, 9), (0, 0, 21, x.shape[-1]), (2, 1, 0, 3)]:
            assert same_view(F.crop(x, *args), run_torchvision(F.crop, x, *args))
        for size in [[10, 11], [9], 7, (21, x.shape[-1]), [20, 3], [4, 4]]:
            assert same_view(F.center_crop(x, size), run_torchvision(F.center_crop, x, size))


def test_crop_and_center_crop_outside_the_fast_path_are_torchvisions():
    img = image((3, 21, 34))
    # Windows past the border are padded by torchvision; the values are equal.
    for args in [(-2, 3, 10, 10), (15, 30, 10, 10), (0, 0, 30, 40)]:
        assert torch.equal(F.crop(img, *args), run_torchvision(F.crop, img, *args))
    for size in [[30, 10], 40, [25]]:
        assert torch.equal(F.center_crop(img, size), run_torchvision(F.center_crop, img, size))
    # Non-int arguments: whatever torchvision does (here its slicing raises TypeError).
    with pytest.raises(TypeError):
        F.crop(img, 1.0, 2, 5, 5)
    with pytest.raises(TypeError):
        run_torchvision(F.crop, img, 1.0, 2, 5, 5)
    assert torch.equal(F.center_crop(img, 10.7), run_torchvision(F.center_crop, img, 10.7))
    with pytest.raises(TypeError):
        F.get_dimensions(torch.zeros(5))
    # A crop of a tensor that requires grad is a view in the graph, as torchvision's.
    x = img.float().requires_grad_()
    F.center_crop(x, [5, 6]).sum().backward()
    gx = x.grad.clone()
    ref = img.float().requires_grad_()
    run_torchvision(F.center_crop, ref, [5, 6]).sum().backward()
    assert torch.equal(gx, ref.grad)


def test_convert_image_dtype_uint8_to_float_bit_exact_in_every_vector_lane():
    # Every uint8 value at every position of a vector and in the scalar tails.
    every = torch.arange(256, dtype=torch.uint8).repeat(3)
    for start in range(0, 37, 3):
        x = every[start:].reshape(1, 1, -1)
        for dtype, bits in [(torch.float32, torch.int32), (torch.float64, torch.int64)]:
            ours = F.convert_image_dtype(x, dtype)
            ref = run_torchvision(F.convert_image_dtype, x, dtype)
            assert torch.equal(ours.view(bits), ref.view(bits))


@pytest.mark.parametrize("threads", [1, 2])
def test_uint8_bilinear_rows_equal_the_float_path_rounded(threads):
    # uint8 bilinear rows are sampled by byte shuffles (four outputs within 16 bytes) or gathers
    # (stronger downscales), the float path always by float gathers: the same operations, so the
    # uint8 result is the float result rounded half to even, bit for bit, whatever the sizes, crop
    # offsets (rows read in place up to their end, then from a padded copy) and strides.
    import random

    torch.set_num_threads(threads)
    rng = random.Random(threads)
    g = torch.Generator().manual_seed(threads)
    sizes = [(480, 640, 224, 224), (300, 400, 224, 224), (61, 80, 23, 31), (7, 700, 5, 170), (9, 65, 9, 16)]
    sizes += [(rng.randint(1, 60), rng.randint(1, 700), rng.randint(1, 60), rng.randint(1, 300)) for _ in range(60)]
    for h, w, oh, ow in sizes:
        base = torch.randint(0, 256, (3, h + 2, w + 9), generator=g, dtype=torch.uint8)
        for img in (base[:, 1 : 1 + h, 5 : 5 + w], base[:, :h, :w].contiguous(), base[:, :h, ::2][..., : max(1, w // 2)]):
            ours = F.resize(img, [oh, ow], InterpolationMode.BILINEAR)
            wide = F.resize(img.float(), [oh, ow], InterpolationMode.BILINEAR)
            assert torch.equal(ours, wide.round().clamp(0, 255).to(torch.uint8)), (h, w, oh, ow, img.stride())


@pytest.mark.parametrize("threads", [1, 2])
def test_flips_and_pad_split_between_threads_mid_plane(threads):
    # With two threads the rows are split at row 377 of 753 (3 planes of 251): inside a plane.
    torch.set_num_threads(threads)
    for img in (image((3, 251, 301)), image((2, 3, 97, 301)), image((3, 251, 301))[:, 1:, 3:]):
        for fn in (F.vflip, F.hflip, lambda x: F.pad(x, [3, 1, 4, 2]), lambda x: F.pad(x, 5, padding_mode="reflect"),
                   lambda x: F.pad(x, [2, 7], fill=9), lambda x: F.pad(x, [70, 1, 2, 80], fill=3),
                   lambda x: F.pad(x[..., :40], [1, 2, 3, 4], fill=7), lambda x: F.pad(x.float(), [1, 2, 3, 4], fill=0.5)):
            assert torch.equal(fn(img), run_torchvision(fn, img))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # torchvision's own, on its shape checks
def test_crops_under_jit_trace_are_torchvisions():
    # Traced shapes are values: torchvision's own code runs (and fails where it fails).
    img = image((3, 21, 34))

    def crop(x):
        return F.crop(x, 1, 2, 18, 30).float().mean(0)

    def center(x):
        return F.center_crop(x, [10, 12]).float().mean(0)

    traced = torch.jit.trace(crop, (img,))
    other = image((3, 21, 34), seed=1)
    assert torch.equal(traced(other), run_torchvision(crop, other))
    with pytest.raises(TypeError):
        torch.jit.trace(center, (img,))
    with pytest.raises(TypeError):
        run_torchvision(torch.jit.trace, center, (img,))
