"""Deformable convolution (DCNv1 and DCNv2) on this project's kernel.

``torchvision.ops.deform_conv2d`` and ``torchvision.ops.DeformConv2d`` already run on it while the
adapter is enabled (the kernels of ``torchvision::deform_conv2d`` and
``torchvision::_deform_conv2d_backward`` are replaced at the dispatcher); the function here calls
``torch.ops.torchvision_adapter.deform_conv2d`` directly, whatever the switch says.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn.modules.utils import _pair


def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: Tuple[int, int] = (1, 1),
    padding: Tuple[int, int] = (0, 0),
    dilation: Tuple[int, int] = (1, 1),
    mask: Optional[Tensor] = None,
) -> Tensor:
    """Deformable convolution, same arguments and results as ``torchvision.ops.deform_conv2d``.

    Args:
        input (Tensor[batch_size, in_channels, in_height, in_width]): input tensor.
        offset (Tensor[batch_size, 2 * offset_groups * kernel_height * kernel_width, out_height, out_width]):
            (dy, dx) offsets of every kernel tap at every output position.
        weight (Tensor[out_channels, in_channels // groups, kernel_height, kernel_width]): weights.
        bias (Tensor[out_channels], optional): bias. Default: None.
        stride, padding, dilation (int or Tuple[int, int]): as for ``conv2d``.
        mask (Tensor[batch_size, offset_groups * kernel_height * kernel_width, out_height, out_width], optional):
            modulation of every kernel tap (DCNv2); None gives DCNv1.

    Returns:
        Tensor[batch_size, out_channels, out_height, out_width]. Differentiable with respect to
        input, offset, weight, bias and mask. float32 and float64 as torchvision; float16 and
        bfloat16 (which torchvision's CPU kernel rejects) are computed in float32.
    """
    out_channels = weight.shape[0]
    use_mask = mask is not None
    if mask is None:
        mask = torch.zeros((input.shape[0], 0), device=input.device, dtype=input.dtype)
    if bias is None:
        bias = torch.zeros(out_channels, device=input.device, dtype=input.dtype)
    stride_h, stride_w = _pair(stride)
    pad_h, pad_w = _pair(padding)
    dil_h, dil_w = _pair(dilation)
    weights_h, weights_w = weight.shape[-2:]
    if input.dim() != 4:
        raise RuntimeError(
            f"input should be a 4d tensor of shape [batch, in_channels, height, width], got {input.dim()}D"
        )
    if weight.shape[1] == 0:
        raise RuntimeError(f"weight should have at least one input channel, got shape {list(weight.shape)}")
    n_in_channels = input.shape[1]
    n_offset_grps = offset.shape[1] // (2 * weights_h * weights_w)
    n_weight_grps = n_in_channels // weight.shape[1]
    if n_offset_grps == 0:
        raise RuntimeError(
            "offset should have a multiple of 2 * kernel_height * kernel_width = "
            f"{2 * weights_h * weights_w} channels in dimension 1, got offset.shape[1]={offset.shape[1]}"
        )
    return torch.ops.torchvision_adapter.deform_conv2d(
        input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
        n_weight_grps, n_offset_grps, use_mask,
    )
