"""ImageFolder / DatasetFolder / DataLoader follow the image backend."""
import os

import numpy as np
import pytest
import torch
import torchvision
import torchvision.datasets as tv_datasets
import torchvision.datasets.folder as tv_folder
from PIL import Image
from torch.utils.data import DataLoader

import torchvision_adapter
from torchvision_adapter import backends
from torchvision_adapter.datasets import default_loader

from io_samples import smooth_rgb

H, W = 24, 32


@pytest.fixture(autouse=True)
def _restore_backend():
    before = torchvision.get_image_backend()
    yield
    torchvision.set_image_backend(before)
    os.environ.pop(backends.ENV_VAR, None)


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory):
    """root/<class>/<n>.<ext>: JPEG, PNG (RGB, gray, palette), BMP and GIF files of one size."""
    root = tmp_path_factory.mktemp("tree")
    for c, cls in enumerate(["cat", "dog"]):
        os.makedirs(root / cls)
        for i in range(6):
            rgb = smooth_rgb(H, W, seed=10 * c + i)
            im = Image.fromarray(rgb)
            kind = i % 6
            if kind == 0:
                im.save(root / cls / f"{i}.jpg", quality=90)
            elif kind == 1:
                im.save(root / cls / f"{i}.jpeg", quality=75, progressive=True)
            elif kind == 2:
                im.save(root / cls / f"{i}.png")
            elif kind == 3:
                im.convert("L").save(root / cls / f"{i}.png")
            elif kind == 4:
                im.convert("P").save(root / cls / f"{i}.bmp")
            else:
                im.save(root / cls / f"{i}.webp", lossless=True)
    return str(root)


def pil_arrays(root):
    ds = tv_datasets.ImageFolder(root, loader=tv_folder.pil_loader)
    return [(np.array(img), target) for img, target in ds]


def test_imagefolder_default_argument_is_patched():
    assert tv_datasets.ImageFolder.__init__.__defaults__[2] is default_loader
    assert tv_folder.default_loader is default_loader
    import torchvision.datasets.places365 as places

    assert places.default_loader is default_loader
    assert places.Places365.__init__.__defaults__[-1] is default_loader
    with torchvision_adapter.disabled():
        original = tv_folder.default_loader
        assert original is not default_loader
        assert tv_datasets.ImageFolder.__init__.__defaults__[2] is original
        assert places.Places365.__init__.__defaults__[-1] is original
    assert tv_datasets.ImageFolder.__init__.__defaults__[2] is default_loader


@pytest.mark.parametrize("backend", ["PIL", "native", "cv2"])
def test_imagefolder_items_equal_pil(image_tree, backend):
    expected = pil_arrays(image_tree)
    ds = tv_datasets.ImageFolder(image_tree)  # made before the choice: the loader decides per call
    torchvision.set_image_backend(backend)
    assert len(ds) == len(expected) == 12
    for (img, target), (want, want_target) in zip(ds, expected):
        assert target == want_target
        if backend == "PIL":
            assert isinstance(img, Image.Image)
            img = np.array(img)
        elif backend == "native":
            assert isinstance(img, torch.Tensor) and img.shape == (3, H, W)
            img = img.permute(1, 2, 0).numpy()
        else:
            assert isinstance(img, np.ndarray) and img.shape == (H, W, 3)
            # OpenCV decodes JPEG and PNG itself; its pixels may differ from PIL's for some files.
            assert np.abs(img.astype(int) - want).mean() < 2
            continue
        assert np.array_equal(img, want)


def test_datasetfolder_with_default_loader(image_tree):
    torchvision.set_image_backend("native")
    ds = tv_datasets.DatasetFolder(image_tree, tv_folder.default_loader, extensions=(".png",))
    assert len(ds) == 4
    for img, _ in ds:
        assert isinstance(img, torch.Tensor) and img.shape == (3, H, W)


class _ThreadsSeen(torch.utils.data.Dataset):
    def __init__(self, inner):
        self.inner = inner

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, i):
        img, target = self.inner[i]
        return img, target, torch.get_num_threads()


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_dataloader_workers_fork(image_tree, workers):
    expected = pil_arrays(image_tree)
    torch.set_num_threads(2)
    torchvision.set_image_backend("native")  # chosen in the parent, reaches forked workers
    ds = _ThreadsSeen(tv_datasets.ImageFolder(image_tree))
    loader = DataLoader(ds, batch_size=4, num_workers=workers, multiprocessing_context="fork" if workers else None)
    seen = []
    for epoch in range(2):
        got = []
        for images, targets, threads in loader:
            assert images.dtype == torch.uint8 and images.shape[1:] == (3, H, W)
            got += [(img.permute(1, 2, 0).numpy(), int(t)) for img, t in zip(images, targets)]
            seen += threads.tolist()
        assert len(got) == len(expected)
        for (img, t), (want, want_t) in zip(got, expected):
            assert t == want_t and np.array_equal(img, want)
    # Workers run torch (and so the decoders' at::parallel_for) on one thread: no oversubscription.
    assert set(seen) == ({2} if workers == 0 else {1})


def test_dataloader_spawned_worker_gets_backend(image_tree):
    torchvision.set_image_backend("native")
    ds = tv_datasets.ImageFolder(image_tree)
    loader = DataLoader(ds, batch_size=12, num_workers=1, multiprocessing_context="spawn")
    images, targets = next(iter(loader))
    assert images.shape == (12, 3, H, W) and images.dtype == torch.uint8
    expected = pil_arrays(image_tree)
    assert all(np.array_equal(img.permute(1, 2, 0).numpy(), want) for img, (want, _) in zip(images, expected))
