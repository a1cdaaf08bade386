"""End to end: a torchvision Faster R-CNN (random weights, nothing downloaded) on real photos gives
the same detections with the adapter on and off, eagerly and under TorchScript, and one training
step gives the same gradients."""
import glob

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision.models.detection import fasterrcnn_resnet50_fpn

from conftest import run_adapter, run_torchvision

PHOTOS = sorted(glob.glob("/usr/share/backgrounds/mate/nature/*.jpg"))[:2]


def load_images():
    """Two real photos (Debian's mate-backgrounds, or skimage's samples), as float [3, H, W]."""
    arrays = []
    for path in PHOTOS:
        img = Image.open(path)
        img.draft("RGB", (480, 360))  # decode at reduced size: the model resizes to 320 anyway
        img = img.convert("RGB")
        img.thumbnail((480, 480))
        arrays.append(np.asarray(img))
    if len(arrays) < 2:
        import skimage.data

        arrays = [skimage.data.astronaut(), skimage.data.coffee()]
    return [torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255 for a in arrays]


@pytest.fixture(scope="module")
def images():
    return load_images()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=320, max_size=480, box_score_thresh=0.0,
        box_detections_per_img=50,
    )
    return m.eval()


def assert_same_detections(ours, ref):
    assert len(ours) == len(ref)
    total = 0
    for a, b in zip(ours, ref):
        assert torch.equal(a["labels"], b["labels"])
        torch.testing.assert_close(a["boxes"], b["boxes"], rtol=1e-5, atol=1e-3)
        torch.testing.assert_close(a["scores"], b["scores"], rtol=1e-5, atol=1e-6)
        total += len(a["boxes"])
    assert total > 0, "nothing detected: the comparison would be empty"


def test_eval_detections_equal_eager_and_scripted(model, images):
    with torch.no_grad():
        ref = run_torchvision(model, images)
        ours = run_adapter(model, images)
        assert_same_detections(ours, ref)
        scripted = torch.jit.script(model)
        _, ours_scripted = run_adapter(scripted, images)
        _, ref_scripted = run_torchvision(scripted, images)
    assert_same_detections(ours_scripted, ref_scripted)
    assert_same_detections(ours_scripted, ref)


def test_training_step_gradients_equal(images):
    torch.manual_seed(1)
    m = fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=320, max_size=480, num_classes=5
    )
    for p in m.backbone.body.parameters():  # keep the step short: FPN, RPN and heads train
        p.requires_grad_(False)
    m.train()
    imgs = images[:1]
    h, w = imgs[0].shape[1:]
    targets = [{"boxes": torch.tensor([[10.0, 20.0, w / 2, h / 2], [w / 3, h / 4, w - 5.0, h - 8.0]]),
                "labels": torch.tensor([1, 3])}]

    def step():
        torch.manual_seed(2)  # the proposal sampler draws random numbers
        m.zero_grad()
        losses = m(imgs, targets)
        sum(losses.values()).backward()
        return {k: v.detach() for k, v in losses.items()}, {
            n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None
        }

    ref_losses, ref_grads = run_torchvision(step)
    losses, grads = run_adapter(step)
    assert ref_grads.keys() == grads.keys() and len(grads) > 0
    for k in ref_losses:
        torch.testing.assert_close(losses[k], ref_losses[k], rtol=1e-5, atol=1e-6)
    for n in ref_grads:
        scale = ref_grads[n].abs().max().item() + 1e-12
        torch.testing.assert_close(grads[n], ref_grads[n], rtol=1e-4, atol=1e-5 * scale, msg=n)
