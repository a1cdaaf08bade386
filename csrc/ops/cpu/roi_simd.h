// SIMD cores of the RoI operators. They work on a *channel block*: kRoiChannelBlock channels of one
// image laid out channels-last (pixel p's channels at img + p * pixel_stride), so that one vector
// holds the same sampling point in several channels and every channel gets exactly the scalar
// arithmetic of torchvision's kernels, lane by lane, in the same order. Runtime dispatch picks the
// widest instruction set the CPU has.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tva {
namespace simd {

// Channels processed together by the SIMD cores (a multiple of every vector width).
constexpr int64_t kRoiChannelBlock = 16;

// One bilinear sampling coordinate along one axis, as torchvision computes it: the two neighbouring
// pixel rows (or columns) `lo` and `hi`, the fractional weights `l` (towards hi) and `h = 1 - l`
// (towards lo), and whether the coordinate lies in [-1, size] (a sample with an invalid coordinate
// contributes zero weight in the forward pass and nothing in the backward pass).
template <typename T>
struct AxisTap {
  int32_t lo;
  int32_t hi;
  T l;
  T h;
  bool valid;
};

// One RoI's sampling grid for roi_align: the y coordinates of bin row ph are ys[ph * grid_h + iy],
// the x coordinates of bin column pw are xs[pw * grid_w + ix].
template <typename T>
struct AlignGrid {
  const AxisTap<T>* ys;
  const AxisTap<T>* xs;
  int64_t pooled_h;
  int64_t pooled_w;
  int64_t grid_h;
  int64_t grid_w;
  int64_t width; // of the feature map, in pixels
  T count; // divisor of the average
};

// One sampling point with its four taps resolved: pixel indices and bilinear weights. A point outside
// the map has all weights zero and all indices 0 (what torchvision's precomputed table holds; a valid
// point always has a weight of at least 1/4).
template <typename T>
struct SamplePoint {
  int32_t p[4];
  T w[4];
};

// One RoI's sampling points in torchvision's order (bin row, bin column, iy, ix).
template <typename T>
struct AlignSamples {
  const SamplePoint<T>* points;
  int64_t bins;
  int64_t per_bin;
  T count;
};

// roi_align forward for one RoI and one channel block. tile: [pooled_h * pooled_w][kRoiChannelBlock].
void roi_align_forward_block(
    const AlignSamples<float>& s, const float* img, int64_t pixel_stride, float* tile);
void roi_align_forward_block(
    const AlignSamples<double>& s, const double* img, int64_t pixel_stride, double* tile);
void roi_align_backward_block(const AlignSamples<float>& s, const float* grad_tile, float* acc);
void roi_align_backward_block(const AlignSamples<double>& s, const double* grad_tile, double* acc);

// Up to kRoiMaxBlocks channel blocks at once (block g at img + g * block_stride), sharing the
// per-sample work (indices, weights) between them. tile: [num_blocks][bins][kRoiChannelBlock].
constexpr int64_t kRoiMaxBlocks = 4;
void roi_align_forward_blocks(
    const AlignSamples<float>& s, const float* img, int64_t pixel_stride, int64_t block_stride,
    int64_t num_blocks, float* tile);
void roi_align_forward_blocks(
    const AlignSamples<double>& s, const double* img, int64_t pixel_stride, int64_t block_stride,
    int64_t num_blocks, double* tile);

void roi_align_forward_block(
    const AlignGrid<float>& g, const float* img, int64_t pixel_stride, float* tile);
void roi_align_forward_block(
    const AlignGrid<double>& g, const double* img, int64_t pixel_stride, double* tile);

// roi_align backward for one RoI and one channel block: scatters grad_tile
// ([pooled_h * pooled_w][kRoiChannelBlock]) into acc ([pixels][kRoiChannelBlock]), contribution by
// contribution in torchvision's order.
void roi_align_backward_block(const AlignGrid<float>& g, const float* grad_tile, float* acc);
void roi_align_backward_block(const AlignGrid<double>& g, const double* grad_tile, double* acc);

} // namespace simd
} // namespace tva
