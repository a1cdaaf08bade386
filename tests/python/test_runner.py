"""tva_runner, the C++ model runner: a scripted torchvision detection model run by the C++ executable
gives the outputs the Python model gives with torchvision's own kernels; inputs of every kind are read
exactly; bad input is a clear error with a non-zero exit and no output presented as complete."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_torchvision
from torchvision_adapter.tools.models import scripted, tiny_retinanet

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "build" / "bin" / "tva_runner"
BACKGROUNDS = Path("/usr/share/backgrounds/mate/nature")


def run_runner(*args, check=True):
    assert RUNNER.is_file(), f"{RUNNER} is missing: run `make build`"
    proc = subprocess.run([str(RUNNER), *map(str, args)], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def photo(index, size):
    """A downscaled Debian background photo (or a smooth synthetic image if none is installed)."""
    files = sorted(BACKGROUNDS.glob("*.jpg")) if BACKGROUNDS.is_dir() else []
    if files:
        im = Image.open(files[index % len(files)]).convert("RGB")
        return im.resize(size, Image.BILINEAR)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    rgb = np.stack([x * 255 // size[0], y * 255 // size[1], (x + y + 40 * index) % 256], -1)
    return Image.fromarray(rgb.astype(np.uint8))


@pytest.fixture(scope="module")
def detection_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "retinanet.pt"
    return scripted(tiny_retinanet(), str(path))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    photo(0, (240, 180)).save(folder / "a_photo.png")
    photo(1, (200, 232)).save(folder / "b_photo.jpg", quality=90)
    photo(2, (256, 160)).save(folder / "c_photo.png")
    np.save(folder / "d_tensor.npy", np.random.default_rng(0).random((3, 150, 210), dtype=np.float32))
    return folder


def load_reference_input(path):
    if path.suffix == ".npy":
        return torch.from_numpy(np.load(path))
    rgb = np.asarray(Image.open(path).convert("RGB"))
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div_(255.0)


def assert_same_detections(ours, ref, what):
    """Same detections: equal count, dtypes and labels; boxes and scores equal up to float rounding.

    The two processes may round convolutions differently in the last bit, so two detections whose
    scores tie to ~1e-6 may come out in either order: each of ours is matched to an unused reference
    detection with the same label, box and score (within tolerance).
    """
    assert ref["boxes"].shape[0] > 0, "the test model should detect something"
    for key in ("boxes", "scores", "labels"):
        assert ours[key].dtype == ref[key].dtype and ours[key].shape == ref[key].shape, (what, key)
    torch.testing.assert_close(ours["scores"], ref["scores"], rtol=0, atol=1e-5)
    unused = set(range(ref["boxes"].shape[0]))
    for i in range(ours["boxes"].shape[0]):
        match = [j for j in sorted(unused)
                 if ref["labels"][j] == ours["labels"][i]
                 and abs(float(ref["scores"][j] - ours["scores"][i])) <= 1e-5
                 and float((ref["boxes"][j] - ours["boxes"][i]).abs().max()) <= 1e-3]
        assert match, f"{what}: detection {i} ({ours['labels'][i]}, {ours['scores'][i]}) has no match"
        unused.remove(match[0])


def test_scripted_detection_model_matches_python(detection_model, inputs, tmp_path):
    out = tmp_path / "result"
    run_runner("--model", detection_model, "--input", inputs, "--batch-size", 2, "--threads", 1,
               "--warmup", 0, "--output", out, "--save-outputs")

    files = sorted(p for p in inputs.iterdir())
    model = torch.jit.load(detection_model)
    torch.set_num_threads(1)
    compared = 0
    for start in range(0, len(files), 2):
        group = files[start:start + 2]
        with torch.no_grad():
            _, detections = run_torchvision(model, [load_reference_input(p) for p in group])
        for path, det in zip(group, detections):
            saved = {k: torch.from_numpy(np.load(out / "outputs" / f"{path.stem}_1_{k}.npy"))
                     for k in ("boxes", "scores", "labels")}
            assert_same_detections(saved, det, path.name)
            compared += 1
    assert compared == 4

    summary = json.loads((out / "summary.json").read_text())
    assert summary["batches"] == 2 and summary["images"] == 4 and summary["batch_size"] == 2
    assert summary["threads"] == 1 and summary["adapter"] == "on"
    for key in ("compute_time", "preprocess_time", "postprocess_time"):
        stats = summary[key]
        assert stats["min"] <= stats["median"] <= stats["max"]
        assert stats["min"] <= stats["mean"] <= stats["max"]
        assert stats["min"] <= stats["percentile(99%)"] <= stats["max"]
    assert summary["throughput"] == pytest.approx(2000.0 / summary["compute_time"]["mean"])
    assert summary["versions"]["torch"].startswith("1.13")


def test_adapter_off_loads_torchvision_kernels(detection_model, inputs, tmp_path):
    image = inputs / "a_photo.png"
    for mode in ("off", "on"):
        run_runner("-m", detection_model, "-i", image, "--adapter", mode, "--warmup", 0,
                   "-o", tmp_path / mode, "--save-outputs", "-t", 1)
        assert json.loads((tmp_path / mode / "summary.json").read_text())["adapter"] == mode
    off = json.loads((tmp_path / "off" / "summary.json").read_text())
    assert off["kernels"].startswith("torchvision")
    load = lambda mode: {k: torch.from_numpy(np.load(tmp_path / mode / "outputs" / f"a_photo_1_{k}.npy"))
                         for k in ("boxes", "scores", "labels")}
    assert_same_detections(load("on"), load("off"), "a_photo.png")


class Doubler(torch.nn.Module):
    def forward(self, x: torch.Tensor):
        return {"twice": x * 2, "sum": x.flatten(1).sum(1)}


@pytest.fixture(scope="module")
def doubler(tmp_path_factory):
    path = tmp_path_factory.mktemp("doubler") / "doubler.pt"
    torch.jit.script(Doubler()).save(str(path))
    return path


@pytest.mark.parametrize("dtype", [np.float64, np.uint8])
def test_npy_and_bin_inputs_read_exactly(doubler, tmp_path, dtype):
    rng = np.random.default_rng(1)
    inputs = tmp_path / "in"
    inputs.mkdir()
    arrays = [(rng.random((2, 3, 4)) * 100).astype(dtype) for _ in range(3)]
    np.save(inputs / "x0.npy", arrays[0])
    np.save(inputs / "x1.npy", np.asfortranarray(arrays[1]))  # Fortran order on disk
    np.save(inputs / "x2.npy", arrays[2])
    run_runner("-m", doubler, "-i", inputs, "-b", 2, "--warmup", 0, "-o", tmp_path / "out", "--save-outputs")
    for i, a in enumerate(arrays):
        twice = np.load(tmp_path / "out" / "outputs" / f"x{i}_twice.npy")
        np.testing.assert_array_equal(twice, (torch.from_numpy(a)[None] * 2).numpy())
        assert twice.shape == (1, 2, 3, 4)  # split per sample, batch dimension kept

    raw = tmp_path / "raw"
    raw.mkdir()
    arrays[0].tofile(raw / "r.bin")
    name = np.dtype(dtype).name
    run_runner("-m", doubler, "-i", raw, "--input-shape", "2,3,4", "--dtype", name, "--warmup", 0,
               "-o", tmp_path / "rawout", "--save-outputs")
    np.testing.assert_array_equal(np.load(tmp_path / "rawout" / "outputs" / "r_twice.npy")[0],
                                  arrays[0] * 2 if dtype != np.uint8 else (arrays[0] * 2).astype(np.uint8))


def test_random_inputs_and_loop(doubler, tmp_path):
    run_runner("-m", doubler, "--input-shape", "3x8x8", "-b", 4, "--loop", 5, "--warmup", 2,
               "-o", tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["batches"] == 5 and summary["images"] == 20
    assert "outputs" not in summary and not (tmp_path / "outputs").exists()


def error_of(*args):
    proc = run_runner(*args, check=False)
    assert proc.returncode != 0
    assert "Segmentation" not in proc.stderr and "terminate called" not in proc.stderr
    return proc.stderr


def test_errors_are_clear_and_nothing_half_written(doubler, tmp_path):
    assert "does not exist" in error_of("-m", tmp_path / "missing.pt", "--input-shape", "3")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    assert "cannot load model" in error_of("-m", junk, "--input-shape", "3")
    assert "does not exist" in error_of("-m", doubler, "-i", tmp_path / "nowhere")

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.bin").write_bytes(b"\0" * 10)
    msg = error_of("-m", doubler, "-i", raw, "--input-shape", "2,2")
    assert "a.bin" in msg and "10 bytes" in msg and "16" in msg
    assert "--input-shape" in error_of("-m", doubler, "-i", raw)
    assert "unknown dtype" in error_of("-m", doubler, "-i", raw, "--input-shape", "2", "--dtype", "complex")

    npy = tmp_path / "npy"
    npy.mkdir()
    np.save(npy / "a.npy", np.zeros((2, 3), np.float32))
    assert "shape [2, 3]" in error_of("-m", doubler, "-i", npy, "--input-shape", "3,2")
    assert "--dtype" in error_of("-m", doubler, "-i", npy, "--dtype", "float64")
    (npy / "b.npy").write_bytes(b"\x93NUMPY garbage")
    out = tmp_path / "out"
    msg = error_of("-m", doubler, "-i", npy, "-o", out, "--save-outputs", "--warmup", 0)
    assert "b.npy" in msg
    # a.npy ran and was saved before b.npy failed: neither outputs/ nor summary.json is presented.
    assert not (out / "summary.json").exists()
    assert not out.exists() or list(out.iterdir()) == []

    images = tmp_path / "images"
    images.mkdir()
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    assert "broken.jpg" in error_of("-m", doubler, "-i", images)
    (images / "broken.jpg").write_bytes(b"plain text")
    assert "neither a JPEG nor a PNG" in error_of("-m", doubler, "-i", images)
    assert "--batch-size" in error_of("-m", doubler, "--input-shape", "3", "-b", 0)
    assert "--model is required" in error_of("--input-shape", "3")
