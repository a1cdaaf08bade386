// SIMD core shared by the NMS kernels: which boxes of a small group overlap one query box by more
// than a threshold. Arithmetic is exactly torchvision's scalar loop, lane by lane:
//   w = max(0, min(x2_i, x2_j) - max(x1_i, x1_j)),  h likewise,  inter = w * h,
//   iou = inter / (area_i + area_j - inter),  suppressed when iou > threshold.
// Runtime dispatch picks the widest instruction set the CPU has (AVX-512, AVX2, SSE4, scalar).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tva {
namespace simd {

// Struct-of-arrays view of a group of boxes; every array holds at least `n` values.
template <typename T>
struct BoxGroup {
  const T* x1;
  const T* y1;
  const T* x2;
  const T* y2;
  const T* area;
};

template <typename T>
struct IouQuery {
  T x1, y1, x2, y2, area;
  // For float: the largest float not above the double threshold, so that `float > threshold_f`
  // equals torchvision's `float > double` comparison for every float value.
  T threshold;
};

// Bit k of the result is set when box k of the group has iou > threshold with the query.
// n must be a multiple of 16 and at most 64.
uint64_t iou_above_f32(const BoxGroup<float>& g, size_t n, const IouQuery<float>& q);
uint64_t iou_above_f64(const BoxGroup<double>& g, size_t n, const IouQuery<double>& q);

// Extent, size range, centre range and highest rank of each block of boxes (struct of arrays).
struct BlockBounds {
  const double *min_x1, *min_y1, *max_x2, *max_y2;
  const double *min_w, *max_w, *min_h, *max_h;
  const double *min_cx, *max_cx, *min_cy, *max_cy;
  const double* max_rank;
};

// Necessary conditions for a block to hold a box that a given box suppresses: a block is excluded
// when max_rank <= rank, max_x2 <= lo_x2, min_x1 >= hi_x1 (same for y), max_w <= lo_w,
// min_w >= hi_w (same for h), or when the distance from (cx, cy) to its centre range is at least
// centre_factor * (w + max_w) in x (centre_factor * (h + max_h) in y).
struct BlockWindow {
  double lo_x2, hi_x1, lo_y2, hi_y1;
  double lo_w, hi_w, lo_h, hi_h;
  double cx, cy, w, h, centre_factor;
  double rank;
};

// Sets bit j % 64 of bits[j / 64] when block begin + j (j < count) is not excluded by the window;
// the other bits of the (count + 63) / 64 words are cleared. The arrays must stay readable up to
// block begin + count rounded up to a multiple of 64 plus 64.
void blocks_in_window(
    const BlockBounds& b, size_t begin, size_t count, const BlockWindow& w, uint64_t* bits);

inline uint64_t iou_above(const BoxGroup<float>& g, size_t n, const IouQuery<float>& q) {
  return iou_above_f32(g, n, q);
}
inline uint64_t iou_above(const BoxGroup<double>& g, size_t n, const IouQuery<double>& q) {
  return iou_above_f64(g, n, q);
}

} // namespace simd
} // namespace tva
