"""The demo's detector: torchvision's Faster R-CNN on a small ResNet-like backbone with an FPN.

Nothing is downloaded: every weight starts from torchvision's default initialisation under a fixed
seed. The backbone is sized for 256-pixel images of a few simple objects, so it trains from scratch in
minutes on two CPU cores.
"""
from collections import OrderedDict
from typing import Dict, List

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class _Block(nn.Module):
    """A basic residual block (two 3x3 convolutions) that may halve the resolution."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        return torch.relu(self.conv2(self.conv1(x)) + self.skip(x))


class TinyResNetFPN(nn.Module):
    """Strides 4..32 of a small ResNet, fused by an FPN into maps at strides 8, 16, 32 and 64."""

    def __init__(self, widths=(16, 24, 48, 64, 96), fpn_channels: int = 48):
        super().__init__()
        w = widths
        self.stem = nn.Sequential(_conv_bn(3, w[0], 2), _conv_bn(w[0], w[1], 2))  # stride 4
        self.layer2 = _Block(w[1], w[2], 2)  # stride 8
        self.layer3 = _Block(w[2], w[3], 2)  # stride 16
        self.layer4 = _Block(w[3], w[4], 2)  # stride 32
        self.fpn = FeaturePyramidNetwork([w[2], w[3], w[4]], fpn_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = fpn_channels

    def forward(self, x) -> Dict[str, torch.Tensor]:
        c2 = self.stem(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return self.fpn(OrderedDict([("0", c3), ("1", c4), ("2", c5)]))


def build_detector(num_classes: int, image_size: int = 256, seed: int = 0, **overrides) -> FasterRCNN:
    """Faster R-CNN for ``num_classes`` object categories (background is added here)."""
    torch.manual_seed(seed)
    backbone = TinyResNetFPN()
    # Objects are 20-110 px: two anchor sizes per level and three aspect ratios.
    anchors = AnchorGenerator(
        sizes=((16, 24), (32, 48), (64, 96), (128, 192)), aspect_ratios=((0.5, 1.0, 2.0),) * 4
    )
    roi_pool = MultiScaleRoIAlign(featmap_names=["0", "1", "2"], output_size=7, sampling_ratio=2)
    head = TwoMLPHead(backbone.out_channels * 7 * 7, 256)
    kwargs = dict(
        min_size=image_size,
        max_size=image_size,
        rpn_anchor_generator=anchors,
        box_roi_pool=roi_pool,
        box_head=head,
        box_predictor=FastRCNNPredictor(256, num_classes + 1),
        rpn_pre_nms_top_n_train=600,
        rpn_post_nms_top_n_train=300,
        rpn_pre_nms_top_n_test=300,
        rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=128,
        box_batch_size_per_image=128,
        box_detections_per_img=50,
        box_score_thresh=0.01,
    )
    kwargs.update(overrides)
    return FasterRCNN(backbone, **kwargs)
