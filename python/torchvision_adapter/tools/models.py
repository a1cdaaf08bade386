"""Small detection models with random weights, for tests, examples and benchmarks of the tools.

Nothing is downloaded: the models are torchvision's own classes built with ``weights=None``.
"""
from collections import OrderedDict

import torch
import torchvision
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelP6P7


def tiny_retinanet(num_classes: int = 5, min_size: int = 256, max_size: int = 256,
                   width: int = 64, seed: int = 0, score_thresh: float = 0.05) -> RetinaNet:
    """torchvision's RetinaNet on a ResNet-18 FPN of ``width`` channels, random weights, eval mode.

    The heads are re-initialised with a wider spread than torchvision's (whose prior makes every
    score about 0.01), so that random weights still give distinct scores above the default score
    threshold and the post-processing (top-k, batched NMS) does real work.
    """
    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(seed)
        resnet = torchvision.models.resnet18(weights=None)
        backbone = BackboneWithFPN(
            resnet,
            return_layers=OrderedDict(layer2="0", layer3="1", layer4="2"),
            in_channels_list=[128, 256, 512],
            out_channels=width,
            extra_blocks=LastLevelP6P7(width, width),
        )
        model = RetinaNet(backbone, num_classes=num_classes, min_size=min_size, max_size=max_size,
                          score_thresh=score_thresh)
        for head in (model.head.classification_head, model.head.regression_head):
            for layer in head.modules():
                if isinstance(layer, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        cls = model.head.classification_head.cls_logits
        torch.nn.init.normal_(cls.weight, std=0.01)
        torch.nn.init.constant_(cls.bias, -5.0)
        reg = model.head.regression_head.bbox_reg
        torch.nn.init.normal_(reg.weight, std=0.002)
    return model.eval()


def scripted(model: torch.nn.Module, path: str) -> str:
    """Scripts ``model`` and saves it to ``path`` (written under a temporary name, then renamed)."""
    import os
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "RetinaNet always returns a (Losses, Detections) tuple"
        module = torch.jit.script(model)
    tmp = f"{path}.tmp{os.getpid()}"
    module.save(tmp)
    os.replace(tmp, path)
    return path
