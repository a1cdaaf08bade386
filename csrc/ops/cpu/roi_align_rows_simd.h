// The row sampler of roi_align forward: reads the channel planes of a float32 NCHW map in place
// (unit column stride), without gathering channel blocks. For each sample row of a RoI (bin row ph,
// sample iy) the x-samples sit in vector lanes in torchvision's order (bin column pw, then sample
// ix). The vectors of pixels the lanes read from the two pixel rows are interpolated along y
// (hy * top + ly * bottom), then each lane picks its left and right pixel by a lane permutation and
// interpolates along x (hx * left + right * lx); the two samples of a bin are adjacent lanes, summed
// over the bin's sample rows, then added by even/odd lane concatenation.
//
// That is torchvision's bilinear sample regrouped (its w1 v1 + w2 v2 + w3 v3 + w4 v4 with w1 = hy hx
// and so on), with fused multiply-adds where the target has them: results differ from torchvision's
// by a few float roundings (about 1e-7 relative to the magnitude of the pixels sampled), not bit for
// bit. Non-finite pixels give torchvision's non-finite results: a zero weight times an infinite
// pixel is NaN in both, as each of torchvision's weights that is zero has a factor here that is
// (unless it is a product of two nonzero factors that underflows, below 1e-38).
#pragma once

#include <cstdint>

#include "ops/cpu/roi_simd.h"

namespace tva {
namespace simd {

// Bytes of RoI g's table (64-byte aligned); 0 if the sampler cannot take a RoI of g's shape.
int64_t roi_align_rows_table_bytes(const AlignGrid<float>& g);

// Lays out RoI g's table for planes of row stride row_stride and returns the sampler's work for
// the RoI per channel, in units of one vector of x-samples on one sample row (a unit costs about
// 1 + the vectors of pixels it picks from); or 0 if the sampler cannot take the RoI: a grid other
// than 2 x 2 samples per bin, more output columns than a vector has lanes, a sample outside the
// map, or x-samples of one vector spanning more than four vectors of pixels.
int64_t roi_align_rows_table(const AlignGrid<float>& g, int64_t row_stride, void* table);

// One RoI's output for `channels` planes (plane c at img + c * channel_stride):
// out[c * bins + bin], bins = pooled_h * pooled_w. With stream, the outputs are written with stores
// that bypass the caches (for large outputs written once, by pool_simd.h's stream_words); call
// stream_fence() on the same thread before they are read by another.
void roi_align_forward_rows(
    const void* table, const float* img, int64_t channel_stride, int64_t channels, float* out,
    bool stream);

} // namespace simd
} // namespace tva
