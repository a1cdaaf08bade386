// The direct roi_align forward sampler: reads the channel planes of an NCHW feature map in place
// (any strides), without first bringing channels together. The sampling points of one RoI (pixel
// offsets within a plane and bilinear weights) do not depend on the channel, so they are laid out
// once per RoI and then evaluated on every channel plane with vector gathers, one bin per lane:
// each lane adds its bin's samples one after the other, in torchvision's order and with
// torchvision's arithmetic, so float32 and float64 results equal torchvision's bit for bit.
#pragma once

#include <cstdint>

#include "ops/cpu/roi_simd.h"

namespace tva {
namespace simd {

// Lanes of the widest vector the sampler uses (64 bytes): the table below is grouped by that many
// bins whatever the vector width the CPU has (narrower vectors take a group in several steps).
template <typename T>
constexpr int64_t plane_group() {
  return static_cast<int64_t>(64 / sizeof(T));
}

// One RoI's sampling points. With G = plane_group<T>() and main = bins - bins % G:
// - bins [0, main) in groups of G: the tap q (0..3) of sample i of bin v * G + j is at
//   idx[((v * per_bin + i) * 4 + q) * G + j], its weight at the same place in w;
// - the remaining bins r = main.. one by one: tap q of sample i at
//   idx[main * per_bin * 4 + ((r - main) * per_bin + i) * 4 + q].
// Samples are in torchvision's order (iy, then ix); a sample outside the map has offsets and
// weights 0, as in torchvision's precomputed table. I is the signed integer of T's width.
template <typename T, typename I>
struct PlaneSamples {
  const I* idx;
  const T* w;
  int64_t bins;
  int64_t per_bin;
  T count; // divisor of the average
};

// One RoI's output for `channels` planes (plane c at img + c * channel_stride):
// out[c * bins + bin] (the [C, pooled_h, pooled_w] layout of one RoI's output).
// channel_stride * (plane_group<T>() - 1) plus every offset in s must fit in I.
void roi_align_forward_planes(
    const PlaneSamples<float, int32_t>& s, const float* img, int64_t channel_stride,
    int64_t channels, float* out);
void roi_align_forward_planes(
    const PlaneSamples<double, int64_t>& s, const double* img, int64_t channel_stride,
    int64_t channels, double* out);

// The row sampler, for float32 planes of unit column stride: for each sample row of a RoI, the taps
// are picked by lane permutations from the two pixel rows it reads. It works from a per-RoI table:
// roi_align_rows_table lays it out (roi_align_rows_table_bytes(g) bytes, 64-byte aligned, for
// planes of the given row stride) and returns false if the RoI has a sample outside the map or is
// too wide for the sampler (roi_align_forward_planes takes any RoI). roi_align_forward_rows then
// writes the RoI's output for `channels` planes as roi_align_forward_planes does.
int64_t roi_align_rows_table_bytes(const AlignGrid<float>& g);
bool roi_align_rows_table(const AlignGrid<float>& g, int64_t row_stride, void* table);
void roi_align_forward_rows(
    const void* table, const float* img, int64_t channel_stride, int64_t channels, float* out);

} // namespace simd
} // namespace tva
