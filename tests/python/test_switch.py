"""The adapter switch: import enables, disable() restores torchvision exactly, no warning spam."""
import subprocess
import sys

import pytest
import torch
import torchvision

import torchvision_adapter
from conftest import run_torchvision

PY = sys.executable



def test_import_enables_and_reports_version():
    assert torchvision_adapter.is_enabled()
    assert isinstance(torchvision_adapter.__version__, str) and torchvision_adapter.__version__
    assert "nms" in torchvision_adapter.overridden_ops()


def test_disable_enable_round_trips_many_times():
    boxes = torch.rand(300, 4) * 100
    boxes[:, 2:] += boxes[:, :2]
    scores = torch.rand(300)
    expected = run_torchvision(torchvision.ops.nms, boxes, scores, 0.4)
    for _ in range(200):
        torchvision_adapter.disable()
        assert not torchvision_adapter.is_enabled()
        assert torch.equal(torchvision.ops.nms(boxes, scores, 0.4), expected)
        torchvision_adapter.enable()
        assert torchvision_adapter.is_enabled()
        assert torch.equal(torchvision.ops.nms(boxes, scores, 0.4), expected)


def test_disabled_context_restores_previous_state():
    with torchvision_adapter.disabled():
        assert not torchvision_adapter.is_enabled()
        with torchvision_adapter.disabled():
            assert not torchvision_adapter.is_enabled()
        assert not torchvision_adapter.is_enabled()
        with torchvision_adapter.enabled():
            assert torchvision_adapter.is_enabled()
        assert not torchvision_adapter.is_enabled()
    assert torchvision_adapter.is_enabled()


def test_disabled_context_restores_state_after_exception():
    with pytest.raises(ZeroDivisionError):
        with torchvision_adapter.disabled():
            1 / 0
    assert torchvision_adapter.is_enabled()


def test_enable_is_idempotent():
    torchvision_adapter.enable()
    torchvision_adapter.enable()
    assert torchvision_adapter.is_enabled()
    torchvision_adapter.disable()
    torchvision_adapter.disable()
    assert not torchvision_adapter.is_enabled()
    torchvision_adapter.enable()


def test_disable_restores_pure_python_functions():
    import torchvision.ops.boxes as tv_boxes

    patched = tv_boxes.batched_nms
    torchvision_adapter.disable()
    try:
        assert tv_boxes.batched_nms is not patched
        assert tv_boxes.batched_nms.__module__ == "torchvision.ops.boxes"
        assert torchvision.ops.batched_nms is tv_boxes.batched_nms
    finally:
        torchvision_adapter.enable()
    assert tv_boxes.batched_nms is patched


def _run(code):
    return subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")


def test_import_prints_nothing_and_torchvision_is_untouched():
    r = _run(
        "import torchvision, torchvision_adapter as t; t.disable(); t.enable(); "
        "assert torchvision.__name__ == 'torchvision'; print('ok')"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
    assert r.stderr == "", r.stderr


def test_import_before_torchvision_works():
    r = _run(
        "import torchvision_adapter, torch, torchvision\n"
        "b = torch.tensor([[0., 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])\n"
        "s = torch.tensor([0.9, 0.8, 0.7])\n"
        "assert torchvision.ops.nms(b, s, 0.5).tolist() == [0, 2]\n"
        "assert torchvision_adapter.is_enabled()\nprint('ok')"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok" and r.stderr == ""


def test_own_namespace_works_while_disabled():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10]])
    scores = torch.tensor([0.9, 0.8])
    with torchvision_adapter.disabled():
        assert torch.ops.torchvision_adapter.nms(boxes, scores, 0.5).tolist() == [0]


def test_switch_does_not_leak():
    import resource

    boxes = torch.rand(50, 4)
    scores = torch.rand(50)
    for _ in range(300):
        torchvision_adapter.disable()
        torchvision_adapter.enable()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(3000):
        torchvision_adapter.disable()
        torchvision_adapter.enable()
        torchvision.ops.nms(boxes, scores, 0.5)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 20_000, f"max RSS grew by {after - before} kB over 3000 switches"
