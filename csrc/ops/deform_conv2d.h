// Deformable convolution (DCNv1 without mask, DCNv2 with mask): the public C++ entry points.
// Schemas live in ops/deform_conv2d.cpp; the CPU kernels in ops/cpu/deform_conv2d_kernel.cpp.
#pragma once

#include <tuple>

#include <ATen/ATen.h>

namespace tva {
namespace ops {

// The non-tensor arguments of deform_conv2d and its backward, in schema order.
struct DeformConv2dParams {
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;
  int64_t dilation_h, dilation_w;
  int64_t groups;
  int64_t offset_groups;
  bool use_mask;
};

// torchvision::deform_conv2d semantics.
//   input  [B, C, H, W]
//   weight [O, C / groups, kh, kw]
//   offset [B, 2 * offset_groups * kh * kw, out_h, out_w], (dy, dx) pairs per kernel tap
//   mask   [B, offset_groups * kh * kw, out_h, out_w] when use_mask, otherwise ignored
//   bias   [O]
// Returns [B, O, out_h, out_w].
at::Tensor deform_conv2d(
    const at::Tensor& input, const at::Tensor& weight, const at::Tensor& offset,
    const at::Tensor& mask, const at::Tensor& bias, const DeformConv2dParams& p);

// torchvision::_deform_conv2d_backward semantics: gradients of input, weight, offset, mask, bias.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> deform_conv2d_backward(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& weight,
    const at::Tensor& offset, const at::Tensor& mask, const at::Tensor& bias,
    const DeformConv2dParams& p);

} // namespace ops
} // namespace tva
