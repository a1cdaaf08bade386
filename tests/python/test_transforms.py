"""Native transforms on tensors equal torchvision's tensor path (adapter disabled is the oracle).

uint8 results may differ by one level where torch's float rounding differs from ours at a rounding
tie (resize, blur) or a truncation boundary (contrast's float mean); float results agree within
1e-5 relative and 1e-5 absolute.
"""
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
import torchvision.transforms.functional_tensor as F_t
from torchvision.transforms import InterpolationMode

import torchvision_adapter
from torchvision_adapter.transforms import _tensor
from conftest import run_torchvision

BILINEAR, BICUBIC, NEAREST = InterpolationMode.BILINEAR, InterpolationMode.BICUBIC, InterpolationMode.NEAREST


def image(shape, dtype=torch.uint8, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    return torch.rand(shape, generator=g, dtype=dtype)


def smooth_image(shape, seed=0):
    """A photo-like uint8 image (smooth gradients plus noise), where rounding ties are common."""
    g = torch.Generator().manual_seed(seed)
    h, w = shape[-2:]
    y = torch.linspace(0, 1, h).view(h, 1)
    x = torch.linspace(0, 1, w).view(1, w)
    base = 127 + 100 * torch.sin(6 * x + 3 * y) * torch.cos(4 * y)
    noise = torch.randn(shape, generator=g) * 12
    return (base + noise).round().clamp(0, 255).to(torch.uint8)


def assert_close_to_torchvision(ours, ref, max_level=1, max_fraction=0.01):
    assert type(ours) == type(ref)
    if isinstance(ref, (list, tuple)):
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            assert_close_to_torchvision(a, b, max_level, max_fraction)
        return
    assert ours.shape == ref.shape and ours.dtype == ref.dtype, (ours.shape, ref.shape, ours.dtype, ref.dtype)
    if ref.dtype == torch.uint8:
        diff = (ours.int() - ref.int()).abs()
        assert diff.max().item() <= max_level, f"max difference {diff.max().item()} levels"
        assert (diff > 0).float().mean().item() <= max_fraction, f"{(diff > 0).sum().item()} pixels differ"
    else:
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def check(fn, *args, max_level=1, max_fraction=0.01, **kwargs):
    ours = fn(*args, **kwargs)
    ref = run_torchvision(fn, *args, **kwargs)
    assert_close_to_torchvision(ours, ref, max_level, max_fraction)
    return ours


# ---------------------------------------------------------------- resize

@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize(
    "interpolation, antialias", [(NEAREST, False), (BILINEAR, False), (BILINEAR, True), (BICUBIC, False), (BICUBIC, True)]
)
@pytest.mark.parametrize("size", [[23, 31], [61, 80], [130, 177], [61, 29], [200, 80], [1, 1]])
def test_resize_matches_torchvision(dtype, interpolation, antialias, size):
    img = smooth_image((3, 61, 80)) if dtype == torch.uint8 else image((3, 61, 80), dtype)
    check(F.resize, img, size, interpolation, antialias=antialias)


@pytest.mark.parametrize("interpolation", [NEAREST, BILINEAR, BICUBIC])
def test_resize_batched_int_size_and_max_size(interpolation):
    img = smooth_image((2, 3, 48, 64))
    check(F.resize, img, 32, interpolation)
    check(F.resize, img, 40, interpolation, max_size=50)
    check(F.resize, img[0], [100], interpolation)


def test_resize_non_contiguous_views():
    big = smooth_image((3, 90, 120))
    check(F.resize, big[:, 10:70, 5:100], [33, 47])  # crop view: strided rows
    cl = big.unsqueeze(0).contiguous(memory_format=torch.channels_last)
    check(F.resize, cl, [45, 60], antialias=True)  # channels-last: strided columns
    check(F.resize, big.float()[:, ::2, ::3] / 255, [20, 20], BICUBIC)


@pytest.mark.parametrize("threads", [1, 2])
def test_resize_at_each_thread_count(threads):
    torch.set_num_threads(threads)
    img = smooth_image((3, 240, 320))
    check(F.resize, img, [224, 224], antialias=True)
    check(F.resize, img, [500, 700], BICUBIC)


def test_resize_uses_native_kernel_and_disable_restores(monkeypatch):
    calls = []
    monkeypatch.setattr(_tensor, "_op", _Recorder(calls))
    img = smooth_image((3, 20, 30))
    F.resize(img, [10, 10])
    assert calls == ["resize"]
    with torchvision_adapter.disabled():
        assert F_t.resize is _tensor._orig["resize"]
        F.resize(img, [10, 10])
    assert calls == ["resize"]
    assert F_t.resize is not _tensor._orig["resize"] and F_t.resize.__wrapped__ is _tensor._orig["resize"]


class _Recorder:
    """Stands in for torch.ops.torchvision_adapter and records which native ops are called."""

    def __init__(self, calls):
        self.calls = calls

    def __getattr__(self, name):
        self.calls.append(name)
        return getattr(torch.ops.torchvision_adapter, name)


def test_resize_unsupported_inputs_fall_through_unchanged():
    for img in [image((3, 20, 30), torch.float64), image((3, 20, 30), torch.float16).float().half(),
                torch.randint(0, 100, (3, 20, 30), dtype=torch.int16)]:
        if img.dtype == torch.float16:
            continue  # torch 1.13 has no half upsampling on CPU either way
        check(F.resize, img, [10, 17])
    # Autograd: torchvision's differentiable path runs.
    x = image((1, 3, 16, 16), torch.float32).requires_grad_()
    F.resize(x, [8, 8]).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda x: F.resize(x, [10, 10], NEAREST, antialias=True), ValueError),
        (lambda x: F.resize(x, [10, 10, 10]), ValueError),
        (lambda x: F.resize(x, 10, max_size=5), ValueError),
        (lambda x: F.resize(x[0], [5, 5]), Exception),
    ],
)
def test_resize_errors_are_torchvision_errors(call, exc):
    img = image((3, 20, 30))
    with pytest.raises(exc) as ours:
        call(img)
    with torchvision_adapter.disabled(), pytest.raises(exc) as ref:
        call(img)
    assert type(ours.value) == type(ref.value) and str(ours.value) == str(ref.value)


# ---------------------------------------------------------------- geometry and conversions

@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_flips_crops(dtype):
    img = image((2, 3, 21, 34), dtype)
    check(F.hflip, img)
    check(F.vflip, img)
    check(F.hflip, img[0, :, 3:, 5:])
    check(F.center_crop, img, [11, 20])
    check(F.center_crop, img, [30, 40])  # pads
    check(F.five_crop, img, [10, 10])
    check(F.ten_crop, img, [10, 12], vertical_flip=True)
    check(F.resized_crop, img, 2, 3, 15, 20, [30, 30])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
@pytest.mark.parametrize("padding", [3, [2, 5], [1, 0, 4, 7], [0]])
def test_pad(dtype, mode, padding):
    img = image((3, 9, 11), dtype)
    check(F.pad, img, padding, fill=7 if dtype == torch.uint8 else 0.25, padding_mode=mode)
    check(F.pad, img.unsqueeze(0).expand(2, 3, 9, 11), padding, padding_mode=mode)


def test_pad_unusual_arguments_fall_through():
    img = image((3, 9, 11))
    check(F.pad, img, [-2, 1], padding_mode="constant")
    check(F.pad, img, [20, 1], padding_mode="edge")
    with pytest.raises(RuntimeError):
        F.pad(img, [20, 1], padding_mode="reflect")
    with pytest.raises(ValueError):
        F.pad(img, [1, 2, 3])
    with pytest.raises(ValueError):
        F.pad(img, 2, padding_mode="wrap")


def test_normalize_and_convert_image_dtype():
    x = image((2, 3, 17, 19), torch.float32)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    ours = F.normalize(x, mean, std)
    ref = run_torchvision(F.normalize, x, mean, std)
    assert torch.equal(ours, ref)  # same float operations: bit for bit
    assert torch.equal(F.normalize(x.double(), [0.5], [0.25]), run_torchvision(F.normalize, x.double(), [0.5], [0.25]))
    y = x.clone()
    out = F.normalize(y, mean, std, inplace=True)
    assert out is y and torch.equal(y, ref)
    with pytest.raises(ValueError, match="std evaluated to zero"):
        F.normalize(x, mean, [0.1, 0.0, 0.2])
    with pytest.raises(TypeError, match="float tensor"):
        F.normalize(image((3, 4, 4)), mean, std)
    u = image((3, 17, 19))
    for dtype in [torch.float32, torch.float64]:
        assert torch.equal(F.convert_image_dtype(u, dtype), run_torchvision(F.convert_image_dtype, u, dtype))
        f = F.convert_image_dtype(u, dtype)
        assert torch.equal(F.convert_image_dtype(f, torch.uint8), run_torchvision(F.convert_image_dtype, f, torch.uint8))
    check(F.convert_image_dtype, u, torch.int32)


# ---------------------------------------------------------------- colour

COLOUR_CASES = [
    (F.adjust_brightness, [0.0, 0.4, 1.0, 1.7]),
    (F.adjust_contrast, [0.0, 0.5, 1.0, 1.8]),
    (F.adjust_saturation, [0.0, 0.3, 1.0, 2.5]),
    (F.adjust_hue, [-0.5, -0.13, 0.0, 0.27, 0.5]),
    (F.adjust_gamma, [0.3, 0.5, 1.0, 2.2]),
    (F.adjust_sharpness, [0.0, 0.5, 1.0, 2.0]),
    (F.solarize, [0.3]),
]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("fn, factors", COLOUR_CASES, ids=[c[0].__name__ for c in COLOUR_CASES])
def test_colour_ops(dtype, fn, factors):
    img = smooth_image((2, 3, 23, 29)) if dtype == torch.uint8 else image((2, 3, 23, 29), dtype)
    for factor in factors:
        if fn is F.solarize and dtype == torch.uint8:
            factor = 128
        check(fn, img, factor)
        check(fn, img[0], factor)
        check(fn, img[0, :1], factor)  # one channel


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_parameterless_colour_ops(dtype):
    img = smooth_image((2, 3, 23, 29)) if dtype == torch.uint8 else image((2, 3, 23, 29), dtype)
    for fn in [F.invert, F.autocontrast, lambda x: F.rgb_to_grayscale(x, 1), lambda x: F.rgb_to_grayscale(x, 3)]:
        check(fn, img)
        check(fn, img[0])
    flat = torch.full((3, 8, 8), 77, dtype=dtype) if dtype == torch.uint8 else torch.full((3, 8, 8), 0.3)
    check(F.autocontrast, flat)
    if dtype == torch.uint8:
        for bits in [0, 1, 4, 8]:
            check(F.posterize, img, bits)
        check(F.equalize, img)
        check(F.equalize, img[0])
        check(F.equalize, torch.full((1, 5, 5), 9, dtype=torch.uint8))
        check(F.equalize, torch.tensor([[[0, 0, 255, 255]]], dtype=torch.uint8))


def test_gaussian_blur():
    for img in [smooth_image((3, 30, 41)), image((2, 3, 30, 41), torch.float32)]:
        check(F.gaussian_blur, img, [5, 5], [1.5, 1.5])
        check(F.gaussian_blur, img, [3, 9], [0.8, 2.0])
        check(F.gaussian_blur, img, 7)
    # A kernel taller than the image falls through to torchvision, which raises.
    with pytest.raises(RuntimeError) as ours:
        F.gaussian_blur(smooth_image((3, 4, 41)), [3, 11])
    with torchvision_adapter.disabled(), pytest.raises(RuntimeError) as ref:
        F.gaussian_blur(smooth_image((3, 4, 41)), [3, 11])
    assert str(ours.value) == str(ref.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: F.adjust_brightness(x, -1.0),
        lambda x: F.adjust_hue(x, 0.7),
        lambda x: F.adjust_saturation(x[:2], 0.5),
        lambda x: F.solarize(x, 300),
        lambda x: F.posterize(x.float(), 3),
        lambda x: F.adjust_gamma(x, -1.0),
        lambda x: F.rgb_to_grayscale(x, 2),
        lambda x: F.equalize(x.float()),
    ],
)
def test_colour_errors_are_torchvision_errors(call):
    img = image((3, 10, 10))
    with pytest.raises(Exception) as ours:
        call(img)
    with torchvision_adapter.disabled(), pytest.raises(Exception) as ref:
        call(img)
    assert type(ours.value) == type(ref.value) and str(ours.value) == str(ref.value)


# ---------------------------------------------------------------- pipelines

def test_seeded_random_pipeline_draws_the_same_parameters():
    pipeline = T.Compose(
        [
            T.RandomResizedCrop(64, antialias=True),
            T.RandomHorizontalFlip(),
            T.ColorJitter(0.4, 0.4, 0.4, 0.1),
            T.RandomGrayscale(0.3),
            T.RandomAutocontrast(),
            T.ConvertImageDtype(torch.float32),
            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    img = smooth_image((3, 90, 120))
    for seed in range(4):
        torch.manual_seed(seed)
        ours = pipeline(img)
        after_ours = torch.rand(3)
        torch.manual_seed(seed)
        ref = run_torchvision(pipeline, img)
        after_ref = torch.rand(3)
        assert torch.equal(after_ours, after_ref)  # the same random draws were made
        assert ours.shape == ref.shape
        # One uint8 level (1/255) normalized by std ~0.22 is at most ~0.018.
        assert (ours - ref).abs().max().item() < 0.02


def test_imagenet_pipeline_runs_on_uint8_tensors():
    from PIL import Image

    img = smooth_image((3, 70, 90))
    pil = Image.fromarray(img.permute(1, 2, 0).numpy())
    assert torch.equal(F.to_tensor(img), run_torchvision(F.to_tensor, pil))
    assert F.pil_to_tensor(img) is img
    assert torch.equal(T.PILToTensor()(img), run_torchvision(F.pil_to_tensor, pil))
    train = T.Compose(
        [T.RandomResizedCrop(48), T.RandomHorizontalFlip(), T.ToTensor(),
         T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
    )
    torch.manual_seed(0)
    out = train(img)
    assert out.shape == (3, 48, 48) and out.dtype == torch.float32
    with torchvision_adapter.disabled(), pytest.raises(TypeError):
        F.to_tensor(img)


def test_numpy_hwc_inputs_follow_the_tensor_path():
    import numpy as np

    t = smooth_image((3, 40, 52))
    a = np.ascontiguousarray(t.permute(1, 2, 0).numpy())
    for fn, args in [
        (F.resize, ([20, 30],)),
        (F.resize, ([20, 30], BICUBIC, None, True)),
        (F.hflip, ()),
        (F.adjust_brightness, (1.4,)),
        (F.adjust_hue, (0.2,)),
        (F.center_crop, ([20, 20],)),
        (F.pad, ([2, 3], 0, "reflect")),
        (F.gaussian_blur, ([5, 5],)),
    ]:
        out = fn(a, *args)
        assert isinstance(out, np.ndarray) and out.flags.c_contiguous
        assert np.array_equal(out, fn(t, *args).permute(1, 2, 0).numpy())
    assert F.get_dimensions(a) == [3, 40, 52]
    crops = F.five_crop(a, [10, 10])
    assert isinstance(crops, tuple) and all(c.shape == (10, 10, 3) for c in crops)
    bgr_view = a[:, :, ::-1]  # negative strides, as OpenCV code makes them
    assert np.array_equal(F.vflip(bgr_view), F.vflip(t.flip(0)).permute(1, 2, 0).numpy())
    torch.manual_seed(0)
    out = T.RandomResizedCrop(24)(a)
    assert isinstance(out, np.ndarray) and out.shape == (24, 24, 3)


# ---------------------------------------------------------------- grid transforms

@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("interpolation", [NEAREST, BILINEAR])
@pytest.mark.parametrize("fill", [None, 0, [10, 200, 30], [0.5]])
def test_rotate_affine_perspective(dtype, interpolation, fill):
    img = smooth_image((3, 37, 52)) if dtype == torch.uint8 else image((3, 37, 52), dtype)
    if dtype == torch.float32 and isinstance(fill, list) and fill[0] > 1:
        fill = [0.1, 0.9, 0.3]
    check(F.rotate, img, 33.0, interpolation, fill=fill)
    check(F.rotate, img, -71.5, interpolation, expand=True, center=[10, 5], fill=fill)
    check(F.affine, img, 12.0, [3, -4], 1.15, [5.0, -2.0], interpolation, fill=fill)
    start = [[0, 0], [51, 0], [51, 36], [0, 36]]
    end = [[3, 2], [47, 5], [50, 33], [1, 30]]
    check(F.perspective, img, start, end, interpolation, fill=fill)
    check(F.rotate, img.unsqueeze(0).expand(2, 3, 37, 52), 90.0, interpolation, fill=fill)


def test_elastic_transform_and_random_geometry_classes():
    img = smooth_image((3, 30, 40))
    g = torch.Generator().manual_seed(0)
    displacement = torch.randn(1, 30, 40, 2, generator=g) * 0.05
    check(F.elastic_transform, img, displacement, BILINEAR, fill=[5, 6, 7])
    check(F.elastic_transform, img, displacement, NEAREST)
    for seed in range(3):
        for t in [T.RandomRotation(40, fill=3), T.RandomAffine(20, (0.1, 0.1), (0.8, 1.2), 10),
                  T.RandomPerspective(p=1.0), T.ElasticTransform(30.0)]:
            torch.manual_seed(seed)
            ours = t(img)
            torch.manual_seed(seed)
            ref = run_torchvision(t, img)
            assert_close_to_torchvision(ours, ref)


def test_grid_transform_errors_and_fallbacks():
    img = smooth_image((3, 20, 20))
    with pytest.raises(ValueError, match="cannot broadcast"):
        F.rotate(img, 10.0, fill=[1, 2])
    check(F.rotate, img, 10.0, fill=[300, 0, 0])  # out-of-range uint8 fill: torchvision's own path
    check(F.rotate, img.double() / 255, 10.0)  # float64: torchvision's own path


def test_torchscript_compiles_torchvisions_own_code():
    def make():
        return torch.nn.Sequential(
            T.Resize([32], antialias=True), T.CenterCrop(30), T.ColorJitter(0.3, 0.3, 0.3, 0.1),
            T.RandomRotation(10.0), T.ConvertImageDtype(torch.float), T.Normalize([0.5] * 3, [0.2] * 3),
        )

    img = smooth_image((3, 40, 50))
    scripted = torch.jit.script(make())
    torch.manual_seed(0)
    ours = scripted(img)
    with torchvision_adapter.disabled():
        scripted_ref = torch.jit.script(make())
        torch.manual_seed(0)
        ref = scripted_ref(img)
    assert torch.equal(ours, ref)


@pytest.mark.parametrize(
    "call, op",
    [
        (lambda x: F.resize(x, [10, 12], antialias=True), "resize"),
        (lambda x: F.normalize(x.float(), [0.5] * 3, [0.2] * 3), "normalize"),
        (lambda x: F.convert_image_dtype(x, torch.float32), "convert_image_dtype"),
        (lambda x: F.hflip(x), "hflip"),
        (lambda x: F.vflip(x), "vflip"),
        (lambda x: F.pad(x, [1, 2], padding_mode="symmetric"), "pad"),
        (lambda x: F.rgb_to_grayscale(x), "rgb_to_grayscale"),
        (lambda x: F.adjust_brightness(x, 1.2), "adjust_brightness"),
        (lambda x: F.adjust_contrast(x, 1.2), "adjust_contrast"),
        (lambda x: F.adjust_saturation(x, 1.2), "adjust_saturation"),
        (lambda x: F.adjust_hue(x, 0.2), "adjust_hue"),
        (lambda x: F.adjust_gamma(x, 1.2), "adjust_gamma"),
        (lambda x: F.adjust_sharpness(x, 1.2), "adjust_sharpness"),
        (lambda x: F.invert(x), "invert"),
        (lambda x: F.posterize(x, 3), "posterize"),
        (lambda x: F.solarize(x, 100), "solarize"),
        (lambda x: F.autocontrast(x), "autocontrast"),
        (lambda x: F.equalize(x), "equalize"),
        (lambda x: F.gaussian_blur(x, [3, 3]), "gaussian_blur"),
        (lambda x: F.rotate(x, 10.0), "projective_transform"),
        (lambda x: F.perspective(x, [[0, 0], [9, 0], [9, 9], [0, 9]], [[1, 0], [9, 1], [8, 9], [0, 8]]), "projective_transform"),
    ],
)
def test_each_op_reaches_its_native_kernel(monkeypatch, call, op):
    calls = []
    recorder = _Recorder(calls)
    monkeypatch.setattr(_tensor, "_op", recorder)
    for attribute, name in _tensor.DIRECT_OPS.items():  # operators held without the namespace
        monkeypatch.setattr(_tensor, attribute, lambda *args, _name=name: getattr(recorder, _name)(*args))
    call(smooth_image((3, 12, 14)))
    assert calls == [op]


def test_pil_images_take_torchvisions_pil_path_unchanged():
    from PIL import Image

    pil = Image.fromarray(smooth_image((3, 40, 52)).permute(1, 2, 0).numpy())
    pipeline = T.Compose([T.RandomResizedCrop(24), T.RandomHorizontalFlip(), T.ColorJitter(0.3, 0.3, 0.3, 0.1),
                          T.RandomRotation(15), T.ToTensor()])
    torch.manual_seed(3)
    ours = pipeline(pil)
    torch.manual_seed(3)
    ref = run_torchvision(pipeline, pil)
    assert torch.equal(ours, ref)


# ---------------------------------------------------------------- fast paths of the single ops

@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("interpolation", [BILINEAR, BICUBIC])
@pytest.mark.parametrize("in_w, out_w", [(1, 5), (2, 7), (3, 2), (5, 17), (37, 11), (64, 63), (97, 300), (640, 224), (301, 23)])
def test_resize_uint8_rows_sampled_from_bytes(interpolation, antialias, in_w, out_w):
    # uint8 rows are sampled straight from their bytes (edge pixels repeated on both sides): down- and
    # upscales, tiny widths, edges where taps are clamped.
    # upscales, tiny widths, edges where taps are clamped. Tiny outputs hold few pixels: one rounding
    # tie (torch's fused multiply-adds) may be more than 1% of them.
    img = smooth_image((3, 9, in_w), seed=in_w)
    check(F.resize, img, [7, out_w], interpolation, antialias=antialias, max_fraction=0.05)
    check(F.resize, img, [13, out_w], interpolation, antialias=antialias, max_fraction=0.05)


@pytest.mark.parametrize("in_w, out_w", [(1, 3), (3, 1), (4, 9), (5, 2), (7, 7), (67, 130), (640, 224), (130, 67)])
def test_resize_uint8_nearest_reads_stay_in_the_tensor(in_w, out_w):
    # Nearest reads contiguous uint8 rows with 4-byte gathers where they stay inside the row; the
    # last pixels of the tensor's last row are copied one by one. Indices are exact: equal outputs.
    img = image((2, 3, 5, in_w), seed=in_w)
    for x in (img, img[:, :, 1:, :], img[1]):
        for size in ([5, out_w], [3, out_w], [11, out_w]):
            ours = F.resize(x, size, NEAREST)
            assert torch.equal(ours, run_torchvision(F.resize, x, size, NEAREST))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("size", [[224, 224], [37, 300], [479, 97], [1, 641]])
def test_resize_uint8_bilinear_rows_shared_between_outputs(threads, size):
    # Each task resamples the input rows its output rows read once and keeps them while adjacent rows
    # read them; the split between tasks (two threads) must not change any value.
    torch.set_num_threads(threads)
    img = smooth_image((2, 3, 240, 320), seed=size[0])
    ref = run_torchvision(F.resize, img, size, BILINEAR)
    assert_close_to_torchvision(F.resize(img, size, BILINEAR), ref)
    torch.set_num_threads(1)
    single = F.resize(img, size, BILINEAR)
    torch.set_num_threads(2)
    assert torch.equal(F.resize(img, size, BILINEAR), single)


@pytest.mark.parametrize("interpolation", [BILINEAR, BICUBIC])
def test_resize_uint8_batched_strided_and_channels_last(interpolation):
    big = smooth_image((2, 3, 41, 77))
    check(F.resize, big, [19, 31], interpolation)
    check(F.resize, big, [19, 31], interpolation, antialias=True)
    check(F.resize, big[..., ::2], [11, 17], interpolation, antialias=True)
    check(F.resize, big[..., ::2], [19, 31], interpolation)  # strided columns
    check(F.resize, big[0, :, 3:38, 5:70], [50, 101], interpolation)  # crop view
    check(F.resize, big.contiguous(memory_format=torch.channels_last), [23, 59], interpolation)


def test_convert_image_dtype_every_uint8_value_and_recycled_outputs():
    every = torch.arange(256, dtype=torch.uint8).view(1, 16, 16)
    for dtype in [torch.float32, torch.float64]:
        assert torch.equal(F.convert_image_dtype(every, dtype), run_torchvision(F.convert_image_dtype, every, dtype))
    # Outputs above a megabyte reuse freed buffers: results stay right, and a live output is never
    # handed out again.
    img = smooth_image((3, 301, 407))
    ref = run_torchvision(F.convert_image_dtype, img, torch.float32)
    first = F.convert_image_dtype(img, torch.float32)
    for _ in range(3):
        again = F.convert_image_dtype(img, torch.float32)
        assert torch.equal(again, ref)
        assert again.data_ptr() != first.data_ptr()
        del again
    assert torch.equal(first, ref)
    assert torch.equal(F.to_tensor(img), ref)
    # A recycled output behaves like any tensor: it can grow (resize_, out=) and be shared.
    grown = F.convert_image_dtype(img, torch.float32)
    grown.resize_(4, 301, 407)
    assert torch.equal(grown[:3], ref)
    out = F.convert_image_dtype(img, torch.float32)
    torch.cat([ref, ref], out=out)
    assert out.shape == (6, 301, 407) and torch.equal(out[3:], ref)
    shared = F.convert_image_dtype(img, torch.float32).share_memory_()
    assert shared.is_shared() and torch.equal(shared, ref)
    cl = smooth_image((2, 3, 200, 333)).contiguous(memory_format=torch.channels_last)
    assert torch.equal(F.convert_image_dtype(cl, torch.float32), run_torchvision(F.convert_image_dtype, cl, torch.float32))
    strided = img[:, ::2, 1::3]
    assert torch.equal(F.convert_image_dtype(strided, torch.float32), run_torchvision(F.convert_image_dtype, strided, torch.float32))


def test_normalize_large_batched_and_non_contiguous():
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    x = image((2, 3, 211, 317), torch.float32)  # above a megabyte: recycled output buffers
    ref = run_torchvision(F.normalize, x, mean, std)
    keep = F.normalize(x, mean, std)
    for _ in range(3):
        assert torch.equal(F.normalize(x, mean, std), ref)
    assert torch.equal(keep, ref)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(F.normalize(cl, mean, std), run_torchvision(F.normalize, cl, mean, std))
    view = x[:, :, 1::2, :300]
    assert torch.equal(F.normalize(view, mean, std), run_torchvision(F.normalize, view, mean, std))
    wide = image((3, 33, 35), torch.float32) * 1e6 - 3e5  # values far from [0, 1]
    assert torch.equal(F.normalize(wide, [1e5, -7.5, 0.1], [3.3, 1e-3, 7e4]),
                       run_torchvision(F.normalize, wide, [1e5, -7.5, 0.1], [3.3, 1e-3, 7e4]))


@pytest.mark.parametrize("threshold", [-1, 0, 0.5, 100.2, 128, 254.9, 255])
def test_uint8_byte_maps(threshold):
    img = image((2, 3, 37, 53))  # odd sizes: vector tails
    for x in [img, img[0], img[:, :, ::2, 1:], img.contiguous(memory_format=torch.channels_last)]:
        check(F.solarize, x, threshold, max_level=0)
        check(F.invert, x, max_level=0)
        check(F.autocontrast, x, max_level=0)
        check(F.autocontrast, x // 7 + 100, max_level=0)  # a narrow range, stretched
        for bits in [0, 3, 7]:
            check(F.posterize, x, bits, max_level=0)


def test_contrast_uint8_mean_over_large_and_batched_images():
    for img in [smooth_image((3, 67, 129)), smooth_image((2, 3, 71, 97)), image((3, 5, 7))]:
        for factor in [0.3, 1.0, 1.7]:
            check(F.adjust_contrast, img, factor)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("interpolation", [NEAREST, BILINEAR])
def test_warps_on_strided_channels_last_tiny_and_one_channel_images(dtype, interpolation):
    img = smooth_image((2, 3, 29, 45)) if dtype == torch.uint8 else image((2, 3, 29, 45), dtype)
    fill = [7, 100, 250] if dtype == torch.uint8 else [0.2, 0.5, 0.9]
    for x in [img, img.contiguous(memory_format=torch.channels_last), img[:, :, 2:27:2, 1:44], img[0, :1]]:
        f = fill[: x.shape[-3]]
        check(F.rotate, x, 17.0, interpolation, fill=f)
        check(F.affine, x, -8.0, [2, 3], 0.9, [4.0, 1.0], interpolation)
        h, w = x.shape[-2:]
        check(F.perspective, x, [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]],
              [[1, 2], [w - 3, 0], [w - 2, h - 3], [2, h - 1]], interpolation, fill=f)
    for tiny in [img[0, :1, :1, :3], img[0, :, :2, :2]]:  # fewer than 4 bytes: the scalar sampler
        check(F.rotate, tiny, 45.0, interpolation, max_fraction=1.0)


def test_normalize_is_bit_exact_across_magnitudes_and_hard_divisors():
    # The quotient is computed without a divide where that is exact (see sub_div): check bit patterns
    # (signed zeros included) over many magnitudes and divisors whose reciprocals round badly.
    g = torch.Generator().manual_seed(5)
    mant = torch.rand(3, 256, 257, generator=g) + 1
    expo = torch.randint(-75, 75, (3, 256, 257), generator=g).float()
    sign = torch.randint(0, 2, (3, 256, 257), generator=g).float() * 2 - 1
    x = sign * mant * torch.pow(2.0, expo)
    x[0, 0, :8] = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-45, -3e38, 0.25])
    divisors = [0.229, 0.99999994, 1.9999999, 3.0, 0.1, 7.000001e-3, 1e-19, 2e18, -0.6, 255.0]
    for k in range(0, len(divisors), 3):
        std = (divisors[k: k + 3] + [1.0, 1.0])[:3]
        for mean in ([0.0, 0.0, 0.0], [0.485, -0.456, 0.25]):
            ours = F.normalize(x, mean, std)
            ref = run_torchvision(F.normalize, x, mean, std)
            assert torch.equal(ours.view(torch.int32), ref.view(torch.int32)), (mean, std)
    img = torch.arange(256, dtype=torch.uint8).view(1, 16, 16).expand(3, 16, 16)
    u = F.convert_image_dtype(img, torch.float32)
    for mean, std in [([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]), ([0.5] * 3, [0.5] * 3)]:
        assert torch.equal(F.normalize(u, mean, std).view(torch.int32), run_torchvision(F.normalize, u, mean, std).view(torch.int32))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_elastic_transform_grid_computed_on_the_fly(dtype):
    img = smooth_image((2, 3, 31, 43)) if dtype == torch.uint8 else image((2, 3, 31, 43), dtype)
    g = torch.Generator().manual_seed(3)
    displacement = (torch.randn(1, 43, 31, 2, generator=g) * 0.1).transpose(1, 2)  # not contiguous
    for interpolation, fill in [(BILINEAR, None), (BILINEAR, [1, 2, 3]), (NEAREST, [9])]:
        check(F.elastic_transform, img, displacement, interpolation, fill=fill)
    # The explicit-grid operator samples the same materialised grid identically.
    grid = F_t._create_identity_grid([31, 43]) + displacement
    explicit = torch.ops.torchvision_adapter.grid_transform(img, grid, "bilinear", [], False)
    assert torch.equal(explicit, F.elastic_transform(img, displacement, BILINEAR))
