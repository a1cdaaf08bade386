// SIMD cores of the forward passes of roi_pool and ps_roi_pool, with integer bins. Runtime
// dispatch picks the widest instruction set the CPU has.
#pragma once

#include <cstdint>

#include "ops/cpu/roi_simd.h"

namespace tva {
namespace simd {

// roi_pool: one RoI, one channel block (kRoiChannelBlock channels of one image, channels-last:
// pixel (h, w)'s channels at img + (h * width + w) * pixel_stride, or see row_offset). Bin row ph
// covers rows [hb[2 ph], hb[2 ph + 1]), bin column pw columns [wb[2 pw], wb[2 pw + 1]), clipped to the map. tile and argmax_tile:
// [pooled_h * pooled_w][kRoiChannelBlock], each bin's maximum and its pixel index as torchvision's
// scan finds them (start at -FLT_MAX, or 0 for an empty bin, and index -1; rows, then columns;
// replace on a strict `>`, so the first maximum wins and NaN is never taken).
struct PoolRoiBins {
  const int64_t* hb;
  const int64_t* wb;
  int64_t pooled_h;
  int64_t pooled_w;
  int64_t width; // of the map, in pixels (argmax indices are h * width + w)
  // Where map row h starts: img + row_offset[h] (elements); nullptr: img + h * width * pixel_stride.
  // Lets the rows live in a ring buffer that reuses the slots of rows no longer needed.
  const int64_t* row_offset = nullptr;
};
void roi_pool_forward_tile(
    const PoolRoiBins& b, const float* img, int64_t pixel_stride, float* tile, int32_t* argmax_tile);
void roi_pool_forward_tile(
    const PoolRoiBins& b, const double* img, int64_t pixel_stride, double* tile,
    int64_t* argmax_tile);

// Copies n 32-bit words from src to dst, with stores that bypass the caches where the target has
// them (for large outputs written once, whose lines would otherwise be read from memory first).
// Call stream_fence() on the same thread before the data is handed to another thread.
void stream_words(const uint32_t* src, uint32_t* dst, int64_t n);
void stream_fence();

// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols: a transposition of
// 32-bit words (bit patterns are copied, so float NaNs and signed zeros pass unchanged).
void transpose_words(
    const uint32_t* src, int64_t src_stride, int64_t rows, int64_t cols, uint32_t* dst,
    int64_t dst_stride);

// ps_roi_pool (float32): each output bin reads its own input channel, so the vector lanes hold
// different RoIs: for one input channel (one bin position), each lane gathers its RoI's bin pixels,
// row by row and column by column (torchvision's order), and the RoIs' different bin sizes become
// lane masks instead of unpredictable loop lengths.

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
