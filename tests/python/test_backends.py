"""torchvision.set_image_backend / get_image_backend with the "cv2" and "native" backends."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision
import torchvision.datasets.folder as tv_folder
from PIL import Image

import torchvision_adapter
from torchvision_adapter import backends

from io_samples import jpeg_bytes, smooth_rgb


@pytest.fixture(autouse=True)
def _restore_backend():
    before = torchvision.get_image_backend()
    yield
    torchvision.set_image_backend(before)
    os.environ.pop(backends.ENV_VAR, None)


@pytest.fixture
def jpeg_file(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(smooth_rgb(30, 41), quality=90))
    return str(path)


def test_patched_and_exposed():
    assert torchvision.set_image_backend is torchvision_adapter.set_image_backend
    assert torchvision.get_image_backend is torchvision_adapter.get_image_backend
    assert torchvision.get_image_backend() == "PIL"  # the default until the user chooses


@pytest.mark.parametrize("backend", ["PIL", "cv2", "native"])
def test_set_and_get(backend):
    torchvision.set_image_backend(backend)
    assert torchvision.get_image_backend() == backend
    assert torchvision_adapter.get_image_backend() == backend


def test_unknown_backend_lists_options():
    torchvision.set_image_backend("native")
    with pytest.raises(ValueError, match="'PIL', 'accimage', 'cv2' and 'native'"):
        torchvision.set_image_backend("npu")
    assert torchvision.get_image_backend() == "native"  # unchanged


def test_accimage_missing_says_what_to_install():
    try:
        import accimage  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.fail("this test expects accimage not to be installed (it is not in Debian)")
    torchvision.set_image_backend("cv2")
    with pytest.raises(ImportError, match="install"):
        torchvision.set_image_backend("accimage")
    assert torchvision.get_image_backend() == "cv2"  # nothing changed as a side effect


def test_cv2_missing_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` fail
    with pytest.raises(ImportError, match="python3-opencv"):
        torchvision.set_image_backend("cv2")
    assert torchvision.get_image_backend() == "PIL"


def test_default_loader_per_backend(jpeg_file):
    expected = np.array(Image.open(jpeg_file).convert("RGB"))
    img = tv_folder.default_loader(jpeg_file)
    assert isinstance(img, Image.Image) and img.mode == "RGB"

    torchvision.set_image_backend("native")
    img = tv_folder.default_loader(jpeg_file)
    assert isinstance(img, torch.Tensor) and img.dtype == torch.uint8 and img.shape == (3, 30, 41)
    assert np.array_equal(img.permute(1, 2, 0).numpy(), expected)

    torchvision.set_image_backend("cv2")
    img = tv_folder.default_loader(jpeg_file)
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.shape == (30, 41, 3)
    import cv2

    assert np.array_equal(img, cv2.imread(jpeg_file)[:, :, ::-1])  # RGB, not OpenCV's BGR


def test_backend_survives_switch_but_torchvision_is_restored_while_disabled(jpeg_file):
    torchvision.set_image_backend("native")
    with torchvision_adapter.disabled():
        assert torchvision.get_image_backend() == "PIL"  # torchvision's own function and state
        assert isinstance(tv_folder.default_loader(jpeg_file), Image.Image)
    assert torchvision.get_image_backend() == "native"
    assert isinstance(tv_folder.default_loader(jpeg_file), torch.Tensor)


def test_choice_reaches_child_processes(jpeg_file):
    torchvision.set_image_backend("native")
    code = (
        "import torchvision, torchvision_adapter, sys;"
        "print(torchvision.get_image_backend(), type(torchvision.datasets.folder.default_loader(sys.argv[1])).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code, jpeg_file], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["native", "Tensor"]
