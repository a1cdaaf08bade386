"""Fused pipelines: Pipeline(compose)(file) against decoding natively and applying the Compose to the
tensor with the adapter enabled (and, for the common pipelines, torchvision itself)."""
import io
import pickle

import numpy as np
import pytest
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image
from torchvision.transforms import InterpolationMode as IM

from torchvision_adapter import io as tio
from torchvision_adapter.transforms import Pipeline

from conftest import run_torchvision
from io_samples import jpeg_bytes, smooth_rgb

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def png_bytes(array: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, "PNG")
    return buf.getvalue()


JPEG = jpeg_bytes(smooth_rgb(61, 83, 1), quality=90)  # odd sizes, 4:2:0
JPEG_TALL = jpeg_bytes(smooth_rgb(90, 47, 2), quality=85)
PNG_GRAY = png_bytes(smooth_rgb(37, 52, 3)[:, :, 0], "L")
PNG_RGBA = png_bytes(np.dstack([smooth_rgb(40, 33, 4), np.full((40, 33), 200, np.uint8)]), "RGBA")


def unfused(transforms, data):
    img = tio.decode_image(data)
    for t in transforms:
        img = t(img)
    return img


def assert_close(out, ref, std=STD, rare=0.001):
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if out.dtype == torch.uint8:
        diff = (out.int() - ref.int()).abs()
        assert diff.max() <= 1
    else:
        diff = (out.double() - ref.double()).abs()
        assert diff.max() <= 1 / 255 / min(std) + 1e-5
    # Differences are rare rounding ties, not systematic.
    assert (diff > 1e-6).double().mean() <= rare


def run_both(transforms, data, seed=0, **kw):
    torch.manual_seed(seed)
    out = Pipeline(T.Compose(transforms), **kw)(data)
    after = torch.rand(1)
    torch.manual_seed(seed)
    ref = unfused(transforms, data)
    assert torch.equal(after, torch.rand(1)), "the pipeline drew a different number of random values"
    return out, ref


SINGLE = [
    [T.Resize(20)],
    [T.Resize((30, 41))],
    [T.Resize((33, 20), interpolation=IM.NEAREST)],
    [T.Resize(25, interpolation=IM.BICUBIC)],
    [T.Resize(25, antialias=True)],
    [T.Resize((23, 70), interpolation=IM.BICUBIC, antialias=True)],
    [T.Resize(20, max_size=24)],
    [T.Resize(100)],  # upscaling
    [T.Resize(61)],  # no-op
    [T.CenterCrop(17)],
    [T.CenterCrop((100, 40))],  # larger than the image: zero padding
    [T.CenterCrop((20, 90))],
    [T.RandomCrop(21)],
    [T.RandomCrop((61, 30))],
    [T.RandomResizedCrop(24)],
    [T.RandomResizedCrop((20, 30), interpolation=IM.BICUBIC, antialias=True)],
    [T.RandomHorizontalFlip(p=1.0)],
    [T.RandomVerticalFlip(p=1.0)],
    [T.PILToTensor(), T.ConvertImageDtype(torch.float32)],
    [T.ToTensor()],
    [T.ToTensor(), T.Normalize(MEAN, STD)],
]


@pytest.mark.parametrize("transforms", SINGLE, ids=lambda ts: "+".join(type(t).__name__ for t in ts))
def test_single_transforms(transforms):
    out, ref = run_both(transforms, JPEG)
    assert_close(out, ref)
    out, ref = run_both(transforms + [T.ToTensor(), T.Normalize(MEAN, STD)] if out.dtype == torch.uint8 else transforms, JPEG_TALL)
    assert_close(out, ref)


COMBOS = [
    [T.Resize(32), T.CenterCrop(28), T.ToTensor(), T.Normalize(MEAN, STD)],
    [T.RandomResizedCrop(24), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)],
    [T.RandomCrop(40), T.Resize((21, 30), interpolation=IM.BICUBIC), T.RandomCrop(15), T.RandomVerticalFlip()],
    [T.Resize(40, antialias=True), T.RandomHorizontalFlip(), T.CenterCrop((60, 30)), T.RandomVerticalFlip(),
     T.RandomCrop(25), T.PILToTensor(), T.ConvertImageDtype(torch.float32), T.Normalize((0.5,), (0.25,))],
    [T.CenterCrop(70), T.RandomHorizontalFlip(), T.CenterCrop(30), T.CenterCrop(50)],  # pad, crop, pad again
    [T.Resize(30), T.ToTensor(), T.CenterCrop(20), T.RandomHorizontalFlip(), T.Normalize(MEAN, STD)],
    # integer ratio out of reach of the image: get_params' fallback to the central crop
    [T.RandomResizedCrop(16, scale=[0.5, 1], ratio=(3, 4)), T.ToTensor(), T.Normalize((0.5,), [1])],
]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("transforms", COMBOS, ids=lambda ts: "+".join(type(t).__name__ for t in ts))
def test_combinations_seeded(transforms, seed):
    for data in (JPEG, JPEG_TALL):
        out, ref = run_both(transforms, data, seed)
        assert_close(out, ref)


def test_normalize_values_are_checked_every_time():
    """Normalize's mean/std are validated once per value set; a std that is zero in float32 still ends
    the fused prefix (torchvision raises) however often it is seen, and other values still fuse."""
    for _ in range(2):
        with pytest.raises(ValueError):
            Pipeline([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.2, 1e-50, 0.2))])(JPEG)
        out, ref = run_both([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.2, 0.3, 0.2))], JPEG)
        assert_close(out, ref, std=(0.2,))


def test_patched_get_params_is_used(monkeypatch):
    calls = []
    original = T.RandomResizedCrop.get_params

    def patched(img, scale, ratio):
        calls.append(tuple(img.shape))
        return original(img, scale, ratio)

    monkeypatch.setattr(T.RandomResizedCrop, "get_params", staticmethod(patched))
    out, ref = run_both([T.RandomResizedCrop(24), T.ToTensor()], JPEG)
    assert_close(out, ref)
    assert calls[0] == (3, 61, 83)


def test_common_pipelines_match_torchvision():
    """The oracle above is the adapter's tensor path; torchvision's own (adapter disabled) agrees.
    torchvision's ToTensor takes no tensors: ConvertImageDtype computes the same x / 255."""
    for transforms in COMBOS[:2]:
        tv = [T.ConvertImageDtype(torch.float32) if isinstance(t, T.ToTensor) else t for t in transforms]
        for seed in range(3):
            torch.manual_seed(seed)
            out = Pipeline(transforms)(JPEG)
            torch.manual_seed(seed)
            ref = run_torchvision(T.Compose(tv), tio.decode_image(JPEG))
            # torch's resize sums the taps in another order: ties of its uint8 rounding go either way
            assert_close(out, ref, rare=0.03)


def test_nested_compose_is_flattened():
    inner = T.Compose([T.CenterCrop(40), T.RandomHorizontalFlip()])
    pipe = Pipeline(T.Compose([T.Resize(50), inner, T.ToTensor()]))
    assert pipe.fusable == 4
    for seed in range(3):
        torch.manual_seed(seed)
        out = pipe(JPEG)
        torch.manual_seed(seed)
        assert_close(out, unfused([T.Resize(50), inner, T.ToTensor()], JPEG))


def test_unsupported_transforms_run_unfused_after_the_prefix():
    jitter = T.ColorJitter(0.4, 0.4, 0.4, 0.1)
    for transforms in (
        [T.RandomResizedCrop(24), jitter, T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)],
        [jitter, T.Resize(20), T.ToTensor()],
        [T.RandomHorizontalFlip(1.0), T.Resize(20), T.ToTensor()],  # resize of a flipped image
        [T.Resize(30), T.Resize(20)],  # a second resize
        [T.ToTensor(), T.Resize(20)],  # resize of floats
        [T.Resize(30), T.ToTensor(), T.CenterCrop(40)],  # float padding
        [T.Resize(30), T.Lambda(lambda x: x[:, 1:]), T.ToTensor()],
    ):
        for seed in range(2):
            out, ref = run_both(transforms, JPEG, seed)
            assert_close(out, ref)


def test_inputs_path_bytes_and_tensors(tmp_path):
    transforms = [T.RandomResizedCrop(24), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)]
    path = tmp_path / "x.jpg"
    path.write_bytes(JPEG)
    pipe = Pipeline(transforms)
    torch.manual_seed(5)
    ref = unfused(transforms, JPEG)
    decoded = tio.decode_image(JPEG)
    for src in (str(path), path, JPEG, bytearray(JPEG), memoryview(JPEG), np.frombuffer(JPEG, np.uint8),
                torch.frombuffer(bytearray(JPEG), dtype=torch.uint8), decoded, decoded.contiguous()):
        torch.manual_seed(5)
        assert_close(pipe(src), ref)


def test_grayscale_and_rgba_png_are_decoded_to_rgb():
    transforms = [T.Resize(20), T.CenterCrop(18), T.ToTensor(), T.Normalize(MEAN, STD)]
    for data in (PNG_GRAY, PNG_RGBA):
        out, ref = run_both(transforms, data)
        assert out.shape == (3, 18, 18)
        assert_close(out, ref)


def test_one_channel_tensor():
    img = tio.decode_image(PNG_GRAY, "gray")
    transforms = [T.Resize(21, interpolation=IM.BICUBIC), T.RandomCrop(20), T.ToTensor(), T.Normalize((0.5,), (0.2,))]
    torch.manual_seed(0)
    out = Pipeline(transforms)(img)
    torch.manual_seed(0)
    ref = T.Compose(transforms)(img)
    assert out.shape == (1, 20, 20)
    assert_close(out, ref, std=(0.2,))


def test_two_dimensional_images_keep_torchvisions_shapes():
    img = tio.decode_image(PNG_GRAY, "gray")[0]
    for transforms in ([T.CenterCrop(60), T.RandomHorizontalFlip()], [T.RandomCrop(30), T.ConvertImageDtype(torch.float32)],
                       [T.CenterCrop(20), T.ToTensor(), T.Normalize((0.5,), (0.2,))], [T.CenterCrop(10), T.PILToTensor()],
                       [T.ToTensor(), T.Resize(20)]):
        torch.manual_seed(0)
        out = Pipeline(transforms)(img)
        torch.manual_seed(0)
        ref = T.Compose(transforms)(img)
        assert_close(out, ref, std=(0.2,))
    with pytest.raises(ValueError):  # torchvision's resize takes no [H, W] tensor
        Pipeline([T.Resize(20), T.ToTensor()])(img)


def test_non_contiguous_and_tiny_images():
    big = tio.decode_image(JPEG)
    transforms = [T.Resize((5, 7)), T.CenterCrop(6), T.ToTensor()]
    for img in (big[:, ::2, 1::3], big[:, :1, :1], big[:, :3, :].contiguous(), big.flip(0)):
        out = Pipeline(transforms)(img)
        assert_close(out, T.Compose(transforms)(img))


def test_pil_images_and_other_inputs_go_through_the_transforms():
    transforms = [T.Resize(20), T.ToTensor()]
    im = Image.open(io.BytesIO(JPEG))
    assert torch.equal(Pipeline(transforms)(im), T.Compose(transforms)(im))
    x = torch.rand(3, 30, 30)
    transforms = [T.Resize(20), T.RandomHorizontalFlip(1.0), T.Normalize(MEAN, STD)]
    assert torch.equal(Pipeline(transforms)(x), T.Compose(transforms)(x))


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        Pipeline([T.ToTensor()], mode="quick")
    with pytest.raises(TypeError, match="callables"):
        Pipeline([T.ToTensor(), 3])
    pipe = Pipeline([T.Resize(20), T.ToTensor()])
    missing = tmp_path / "missing.jpg"
    with pytest.raises(tio.ImageDecodeError, match="missing.jpg"):
        pipe(str(missing))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(JPEG[:40])
    with pytest.raises(tio.ImageDecodeError, match="bad.jpg"):
        pipe(bad)
    for data in (b"", b"not an image at all"):
        with pytest.raises(tio.ImageDecodeError):
            pipe(data)
    with pytest.raises(ValueError):  # RandomCrop larger than the image (torchvision's error)
        Pipeline([T.RandomCrop(100)])(JPEG)
    with pytest.raises(TypeError):  # Normalize of uint8 (torchvision's error)
        Pipeline([T.Resize(20), T.Normalize(MEAN, STD)])(JPEG)
    with pytest.raises(RuntimeError, match="src"):
        torch.ops.torchvision_adapter.pipeline(
            tio.decode_image(JPEG), [0, 0, 500, 5], [], "bilinear", False, [], [], False, False, False, [], [])


def test_fast_mode_is_close_and_exact_when_nothing_shrinks():
    y, x = np.mgrid[0:400, 0:520]
    smooth = np.stack([x * 255 / 519, y * 255 / 399, 128 + 100 * np.sin(x / 40.0) * np.cos(y / 30.0)], -1)
    data = jpeg_bytes(smooth.round().clip(0, 255).astype(np.uint8), quality=90)
    eval_tf = [T.Resize(64), T.CenterCrop(56), T.ToTensor()]
    fast = Pipeline(eval_tf, mode="fast")(data)
    exact = Pipeline(eval_tf)(data)
    assert fast.shape == exact.shape == (3, 56, 56)
    mae = (fast - exact).abs().mean() * 255
    assert 0 < mae < 4, mae  # reduced-size decoding ran, and is close
    small = [T.Resize(300), T.ToTensor()]
    assert torch.equal(Pipeline(small, mode="fast")(data), Pipeline(small)(data))


def test_pickle_and_repr():
    pipe = Pipeline(T.Compose([T.RandomResizedCrop(24), T.RandomHorizontalFlip(), T.ToTensor()]), mode="fast")
    copy = pickle.loads(pickle.dumps(pipe))
    assert copy.mode == "fast" and len(copy.transforms) == 3 and copy.fusable == 3
    torch.manual_seed(3)
    a = pipe(JPEG)
    torch.manual_seed(3)
    assert torch.equal(a, copy(JPEG))
    assert "RandomResizedCrop" in repr(pipe)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_with_imagefolder(tmp_path, context):
    for i in range(4):
        cls = tmp_path / f"c{i % 2}"
        cls.mkdir(exist_ok=True)
        (cls / f"{i}.jpg").write_bytes(jpeg_bytes(smooth_rgb(40 + i, 50, i), quality=90))
    transforms = [T.Resize(20), T.CenterCrop(16), T.ToTensor(), T.Normalize(MEAN, STD)]
    ds = torchvision.datasets.ImageFolder(str(tmp_path), loader=Pipeline(transforms))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, multiprocessing_context=context)
    batches = [x for x, _ in loader]
    got = torch.cat(batches)
    want = torch.stack([unfused(transforms, tio.read_file(p)) for p, _ in ds.samples])
    assert got.shape == (4, 3, 16, 16)
    assert_close(got, want)


def test_threads_do_not_change_results():
    data = jpeg_bytes(smooth_rgb(300, 400, 6), quality=90)
    transforms = [T.Resize(120), T.CenterCrop(100), T.ToTensor(), T.Normalize(MEAN, STD)]
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        results.append(Pipeline(transforms)(data))
    assert torch.equal(results[0], results[1])
    assert_close(results[0], unfused(transforms, data))


def test_detection_preprocess_takes_files_and_bytes(tmp_path):
    from torchvision_adapter.transforms import detection_preprocess

    path = tmp_path / "d.jpg"
    path.write_bytes(JPEG)
    ref, meta = detection_preprocess(tio.decode_image(JPEG), scale=(133, 80))
    for src in (str(path), JPEG):
        out, m = detection_preprocess(src, scale=(133, 80))
        assert torch.equal(out, ref) and m == meta


@pytest.mark.parametrize("interpolation,antialias", [("bilinear", False), ("bilinear", True), ("bicubic", False)])
def test_interleaved_pixels_give_the_planar_results_bit_for_bit(interpolation, antialias):
    """Decoded pixels are interleaved (HWC memory); the width pass may read their bytes directly. Every
    value (sign of zero included) equals the one computed from a planar copy, down to the last
    decoded row and column, for encoded and decoded input."""
    data = torch.frombuffer(bytearray(JPEG), dtype=torch.uint8)
    img = tio.decode_image(data)
    assert img.stride(2) == 3
    ops = torch.ops.torchvision_adapter
    g = torch.Generator().manual_seed(0)
    boxes = [[0, 0, 83, 61], [40, 30, 43, 31], [82, 60, 1, 1], [5, 50, 78, 11]]
    for _ in range(12):
        w, h = int(torch.randint(1, 84, (1,), generator=g)), int(torch.randint(1, 62, (1,), generator=g))
        boxes.append([int(torch.randint(0, 84 - w, (1,), generator=g)), int(torch.randint(0, 62 - h, (1,), generator=g)), w, h])
    for i, box in enumerate(boxes):
        for resize in ([24, 24], [box[3] * 2 + 1, max(1, box[2] // 3)], [box[3], box[2] + 7]):
            args = (box, resize, interpolation, antialias, [], [], i % 2 == 0, False, i % 3 != 0,
                    list(MEAN) if i % 3 == 1 else [], list(STD) if i % 3 == 1 else [])
            ref = ops.pipeline(img.contiguous(), *args)
            for out in (ops.pipeline(img, *args), ops.pipeline_encoded(data, *args)):
                if ref.dtype == torch.float32:
                    assert torch.equal(out.view(torch.int32), ref.view(torch.int32)), args
                else:
                    assert torch.equal(out, ref), args
