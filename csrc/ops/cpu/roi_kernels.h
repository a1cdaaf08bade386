// CPU kernels of the RoI operators, with torchvision 0.14's semantics (schemas in ops/roi_align.cpp,
// ops/roi_pool.cpp, ops/ps_roi_align.cpp, ops/ps_roi_pool.cpp). Inputs may have any strides
// (channels-last feature maps are read in place); outputs are contiguous like torchvision's.
// float16 and bfloat16 are computed in float.
#pragma once

#include <tuple>

#include <ATen/ATen.h>

namespace tva {
namespace ops {

at::Tensor roi_align_forward(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio, bool aligned);

at::Tensor roi_align_backward(
    const at::Tensor& grad, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t batch_size, int64_t channels, int64_t height, int64_t width,
    int64_t sampling_ratio, bool aligned);

// Returns (output, argmax): argmax (int32) is the pixel index h * W + w of each bin's maximum in its
// channel plane, -1 for an empty bin.
std::tuple<at::Tensor, at::Tensor> roi_pool_forward(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width);

at::Tensor roi_pool_backward(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& argmax, double spatial_scale,
    int64_t pooled_height, int64_t pooled_width, int64_t batch_size, int64_t channels,
    int64_t height, int64_t width);

// Returns (output, channel_mapping): channel_mapping (int32) is the input channel each output reads.
std::tuple<at::Tensor, at::Tensor> ps_roi_align_forward(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width, int64_t sampling_ratio);

at::Tensor ps_roi_align_backward(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& channel_mapping,
    double spatial_scale, int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio,
    int64_t batch_size, int64_t channels, int64_t height, int64_t width);

std::tuple<at::Tensor, at::Tensor> ps_roi_pool_forward(
    const at::Tensor& input, const at::Tensor& rois, double spatial_scale, int64_t pooled_height,
    int64_t pooled_width);

at::Tensor ps_roi_pool_backward(
    const at::Tensor& grad, const at::Tensor& rois, const at::Tensor& channel_mapping,
    double spatial_scale, int64_t pooled_height, int64_t pooled_width, int64_t batch_size,
    int64_t channels, int64_t height, int64_t width);

} // namespace ops
} // namespace tva
