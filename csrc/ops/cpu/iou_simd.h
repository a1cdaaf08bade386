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

inline uint64_t iou_above(const BoxGroup<float>& g, size_t n, const IouQuery<float>& q) {
  return iou_above_f32(g, n, q);
}
inline uint64_t iou_above(const BoxGroup<double>& g, size_t n, const IouQuery<double>& q) {
  return iou_above_f64(g, n, q);
}

} // namespace simd
} // namespace tva
