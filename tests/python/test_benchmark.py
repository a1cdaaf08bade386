"""torchvision_adapter.benchmark, the Python twin of tva_runner: same inputs, same output names, same
summary; --compare runs torchvision's kernels and ours on the same model and checks they agree."""
import json
import subprocess
from pathlib import Path
from typing import List

import numpy as np
import pytest
import torch
from PIL import Image

from torchvision_adapter import benchmark

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "build" / "bin" / "tva_runner"
TINY = "torchvision_adapter.tools.models.tiny_retinanet"


def test_compare_detection_model(tmp_path, capsys):
    rc = benchmark.main(["--model", TINY, "--model-kwargs", '{"min_size": 128, "max_size": 128}',
                         "--input-shape", "3,96,128", "--batch-size", "2", "--warmup", "0",
                         "--loop", "2", "--compare", "-o", str(tmp_path)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "adapter off" in printed and "adapter on" in printed and "throughput x" in printed
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["outputs_equal"] is True and s["max_abs_diff"] == 0.0
    for run in (s["adapter_off"], s["adapter_on"]):
        assert run["batches"] == 2 and run["images"] == 4
        assert run["throughput"] == pytest.approx(2000.0 / run["compute_time"]["mean"])
    assert s["adapter_off"]["adapter"] == "off" and s["adapter_on"]["adapter"] == "on"
    assert s["throughput_ratio"] == pytest.approx(
        s["adapter_on"]["throughput"] / s["adapter_off"]["throughput"])


def test_output_names_follow_the_runner():
    dets = [{"boxes": torch.zeros(2, 4), "labels": torch.ones(2, dtype=torch.int64)},
            {"boxes": torch.zeros(1, 4), "labels": torch.ones(1, dtype=torch.int64)}]
    flat = benchmark.flatten_outputs(({}, dets), batch=2, list_input=True)
    assert [(k, i) for k, i, _ in flat] == [("1_boxes", 0), ("1_labels", 0), ("1_boxes", 1), ("1_labels", 1)]
    flat = benchmark.flatten_outputs([torch.zeros(3, 5), 7], batch=3, list_input=False)
    assert [(k, i, tuple(t.shape)) for k, i, t in flat] == [
        ("0", 0, (1, 5)), ("0", 1, (1, 5)), ("0", 2, (1, 5)), ("1", -1, ())]


class Identity(torch.nn.Module):
    def forward(self, images: List[torch.Tensor]):
        return images


def test_image_preprocessing_equals_the_runner(tmp_path):
    """Decoding, resize and normalisation give the same tensors in C++ and in Python."""
    assert RUNNER.is_file(), f"{RUNNER} is missing: run `make build`"
    model = tmp_path / "identity.pt"
    torch.jit.script(Identity()).save(str(model))
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)).save(images / "p.png")
    Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)).save(images / "q.jpg", quality=85)
    Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8)).save(images / "r_gray.png")
    opts = ["--resize", "40,50", "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225", "--bgr",
            "--save-outputs", "--warmup", "0", "-b", "2"]
    subprocess.run([str(RUNNER), "-m", str(model), "-i", str(images), "-o", str(tmp_path / "cpp"), *opts],
                   check=True, capture_output=True)
    assert benchmark.main(["-m", str(model), "-i", str(images), "-o", str(tmp_path / "py"), *opts]) == 0
    names = sorted(p.name for p in (tmp_path / "cpp" / "outputs").iterdir())
    assert names == ["p_0.npy", "q_0.npy", "r_gray_0.npy"]
    assert names == sorted(p.name for p in (tmp_path / "py" / "outputs").iterdir())
    for name in names:
        a = np.load(tmp_path / "cpp" / "outputs" / name)
        b = np.load(tmp_path / "py" / "outputs" / name)
        assert a.shape == (3, 40, 50) and a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_errors(tmp_path, capsys):
    assert benchmark.main(["-m", str(tmp_path / "missing.pt"), "--input-shape", "3"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert benchmark.main(["-m", "no_such_module.build", "--input-shape", "3"]) == 1
    assert "importable" in capsys.readouterr().err
    (tmp_path / "a.bin").write_bytes(b"\0" * 6)
    assert benchmark.main(["-m", TINY, "-i", str(tmp_path / "a.bin"), "--input-shape", "2,2"]) == 1
    assert "6 bytes" in capsys.readouterr().err
    assert benchmark.main(["-m", TINY]) == 1
    assert "--input-shape" in capsys.readouterr().err
