"""RoI operators on this project's kernels: roi_align, roi_pool, ps_roi_align, ps_roi_pool.

While the adapter is enabled, ``torchvision.ops.roi_align`` (and ``RoIAlign``, ``MultiScaleRoIAlign``,
``torch.ops.torchvision.roi_align``, TorchScript models) already run on these kernels: they replace
torchvision's CPU kernels of the forward ops and of the private backward ops at the dispatcher. The
functions below call the kernels directly (``torch.ops.torchvision_adapter.*``, with their own
autograd) whatever the switch says, and take the same arguments as torchvision's functions.
"""
from typing import List, Tuple, Union

import torch
from torch import Tensor
from torch.nn.modules.utils import _pair
from torchvision.ops._utils import check_roi_boxes_shape, convert_boxes_to_roi_format

BoxesType = Union[Tensor, List[Tensor]]


def _rois(input: Tensor, boxes: BoxesType) -> Tensor:
    check_roi_boxes_shape(boxes)
    rois = boxes
    if not isinstance(rois, torch.Tensor):
        rois = convert_boxes_to_roi_format(rois)
    return rois


def roi_align(
    input: Tensor,
    boxes: BoxesType,
    output_size: Union[int, Tuple[int, int]],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """RoI Align (Mask R-CNN): average of bilinear samples in each output bin.

    Args:
        input (Tensor[N, C, H, W]): feature maps, float16/bfloat16/float32/float64, any strides
            (channels-last maps are read in place).
        boxes (Tensor[K, 5] or List[Tensor[L, 4]]): boxes ``(x1, y1, x2, y2)`` in input-image
            coordinates; as Tensor[K, 5] the first column is the image index in [0, N).
        output_size (int or Tuple[int, int]): (pooled height, pooled width).
        spatial_scale (float): factor from box coordinates to feature-map coordinates.
        sampling_ratio (int): samples per bin side; <= 0 means ceil(roi size / output size).
        aligned (bool): shift boxes by -0.5 pixel (pixel-centre alignment).

    Returns:
        Tensor[K, C, pooled height, pooled width], equal to ``torchvision.ops.roi_align``.
    """
    rois = _rois(input, boxes)
    h, w = _pair(output_size)
    return torch.ops.torchvision_adapter.roi_align(
        input, rois, spatial_scale, h, w, sampling_ratio, aligned
    )


def roi_pool(
    input: Tensor,
    boxes: BoxesType,
    output_size: Union[int, Tuple[int, int]],
    spatial_scale: float = 1.0,
) -> Tensor:
    """RoI max pooling (Fast R-CNN).

    Args:
        input (Tensor[N, C, H, W]): feature maps.
        boxes (Tensor[K, 5] or List[Tensor[L, 4]]): boxes, as for :func:`roi_align`.
        output_size (int or Tuple[int, int]): (pooled height, pooled width).
        spatial_scale (float): factor from box coordinates to feature-map coordinates.

    Returns:
        Tensor[K, C, pooled height, pooled width]: the maximum of each bin (0 for an empty bin),
        the same elements (ties included) as ``torchvision.ops.roi_pool``.
    """
    rois = _rois(input, boxes)
    h, w = _pair(output_size)
    output, _ = torch.ops.torchvision_adapter.roi_pool(input, rois, spatial_scale, h, w)
    return output


def ps_roi_align(
    input: Tensor,
    boxes: BoxesType,
    output_size: Union[int, Tuple[int, int]],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
) -> Tensor:
    """Position-sensitive RoI Align (R-FCN): output channel c, bin (i, j) averages bilinear samples
    of input channel ``(c * pooled_h + i) * pooled_w + j``.

    Args:
        input (Tensor[N, C, H, W]): feature maps; C must be a multiple of pooled_h * pooled_w.
        boxes (Tensor[K, 5] or List[Tensor[L, 4]]): boxes, as for :func:`roi_align`.
        output_size (int or Tuple[int, int]): (pooled_h, pooled_w).
        spatial_scale (float): factor from box coordinates to feature-map coordinates.
        sampling_ratio (int): samples per bin side; <= 0 means adaptive.

    Returns:
        Tensor[K, C / (pooled_h * pooled_w), pooled_h, pooled_w].
    """
    rois = _rois(input, boxes)
    h, w = _pair(output_size)
    output, _ = torch.ops.torchvision_adapter.ps_roi_align(
        input, rois, spatial_scale, h, w, sampling_ratio
    )
    return output


def ps_roi_pool(
    input: Tensor,
    boxes: BoxesType,
    output_size: Union[int, Tuple[int, int]],
    spatial_scale: float = 1.0,
) -> Tensor:
    """Position-sensitive RoI average pooling (R-FCN).

    Args:
        input (Tensor[N, C, H, W]): feature maps; C must be a multiple of pooled_h * pooled_w.
        boxes (Tensor[K, 5] or List[Tensor[L, 4]]): boxes, as for :func:`roi_align`.
        output_size (int or Tuple[int, int]): (pooled_h, pooled_w).
        spatial_scale (float): factor from box coordinates to feature-map coordinates.

    Returns:
        Tensor[K, C / (pooled_h * pooled_w), pooled_h, pooled_w].
    """
    rois = _rois(input, boxes)
    h, w = _pair(output_size)
    output, _ = torch.ops.torchvision_adapter.ps_roi_pool(input, rois, spatial_scale, h, w)
    return output
