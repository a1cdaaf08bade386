// SIMD core of ps_roi_pool's forward pass. Each output bin reads its own input channel, so the
// vector lanes hold different RoIs: for one input channel (one bin position), each lane gathers its
// RoI's bin pixels, row by row and column by column (torchvision's order), and the RoIs' different
// bin sizes become lane masks instead of unpredictable loop lengths. Runtime dispatch picks the
// widest instruction set the CPU has.
#pragma once

#include <cstdint>

namespace tva {
namespace simd {

// Lane counts are padded to a multiple of this (the widest float vector).
constexpr int64_t kPsLanePad = 16;

// The bins of one bin position in `lanes` RoIs (a multiple of kPsLanePad; padding lanes have
// rows = cols = 0). Lane i covers rows[i] x cols[i] pixels starting at element offset first[i]
// from the channel's first pixel (first[i] includes the RoI's image offset).
struct PsPoolLanes {
  const int32_t* first;
  const int32_t* rows;
  const int32_t* cols;
  int64_t lanes;
  int64_t row_stride; // elements between rows
  int64_t col_stride; // elements between columns
};

// out[i] = the average of lane i's bin (0 for an empty bin), for i < l.lanes. Element offsets up to
// first[i] + (rows[i] - 1) * row_stride + (cols[i] - 1) * col_stride must fit in int32, and offset 0
// must be readable (masked-off lanes read it and discard the value).
void ps_roi_pool_forward_lanes(const PsPoolLanes& l, const float* channel, float* out);

} // namespace simd
} // namespace tva
