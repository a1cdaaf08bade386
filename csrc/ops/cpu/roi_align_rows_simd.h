// The row sampler of roi_align forward: reads the channel planes of a float32 NCHW map in place
// (unit column stride), without gathering channel blocks. For each sample row of a RoI (bin row ph,
// sample iy) the x-samples sit in vector lanes in torchvision's order (bin column pw, then sample
// ix), their four taps picked by lane permutations from the two pixel rows the sample row reads;
// the two samples of a bin are then adjacent lanes, which even/odd lane concatenation adds in
// torchvision's order. Every value is computed with torchvision's arithmetic, so results are bit
// for bit torchvision's.
#pragma once

#include <cstdint>

#include "ops/cpu/roi_simd.h"

namespace tva {
namespace simd {

// Bytes of RoI g's table (64-byte aligned); 0 if the sampler cannot take a RoI of g's shape.
int64_t roi_align_rows_table_bytes(const AlignGrid<float>& g);

// Lays out RoI g's table for planes of row stride row_stride and returns the sampler's work for
// the RoI per channel, in units of one vector of x-samples on one sample row (a unit costs about
// 1 + the vectors of pixels it picks from); or 0 if the sampler cannot take the RoI: grid_w other
// than 2, more output columns than a vector has lanes, a sample outside the map, or x-samples of
// one vector spanning more than four vectors of pixels.
int64_t roi_align_rows_table(const AlignGrid<float>& g, int64_t row_stride, void* table);

// One RoI's output for `channels` planes (plane c at img + c * channel_stride):
// out[c * bins + bin], bins = pooled_h * pooled_w.
void roi_align_forward_rows(
    const void* table, const float* img, int64_t channel_stride, int64_t channels, float* out);

} // namespace simd
} // namespace tva
