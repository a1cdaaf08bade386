// Helpers shared by the transform kernels: argument checks and iteration over image planes.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tva {
namespace image {

inline void check_image(const at::Tensor& img, int64_t min_dim, const char* op) {
  TORCH_CHECK(img.device().is_cpu(), op, ": img must be a CPU tensor, got a tensor on ", img.device());
  TORCH_CHECK(
      img.dim() >= min_dim, op, ": img should have at least ", min_dim,
      " dimensions ([..., C, H, W]), got ", img.dim(), "D with shape ", img.sizes());
}

inline void check_u8_or_f32(const at::Tensor& img, const char* op) {
  TORCH_CHECK(
      img.scalar_type() == at::kByte || img.scalar_type() == at::kFloat, op,
      ": img must be uint8 or float32, got ", img.scalar_type());
}

inline void check_channels(const at::Tensor& img, const char* op) {
  const int64_t c = img.dim() == 2 ? 1 : img.size(-3);
  TORCH_CHECK(c == 1 || c == 3, op, ": img should have 1 or 3 channels, got ", c);
}

// Runs f(begin, end) over [0, n) items of `cost` elements each, in chunks of about 32k elements.
template <typename F>
inline void parallel_items(int64_t n, int64_t cost, const F& f) {
  if (n <= 0) return;
  at::parallel_for(0, n, std::max<int64_t>(1, 32768 / std::max<int64_t>(cost, 1)), f);
}

// float -> uint8 as torch's Tensor.to(torch.uint8) converts on x86-64: truncation toward zero of
// values in range (the callers clamp first where torchvision clamps).
inline uint8_t to_u8(float v) {
  return static_cast<uint8_t>(static_cast<int32_t>(v));
}

// Round half to even (what torch.round and std::nearbyint do) without a libm call: adding and
// subtracting 1.5 * 2^23 leaves an integer in IEEE round-to-nearest-even, for |v| < 2^22.
inline float round_half_even(float v) {
  if (!(std::fabs(v) < 4194304.0f)) return std::nearbyint(v);  // large values are integers; NaN
  const float magic = 12582912.0f;
  return (v + magic) - magic;
}

// floor without a libm call (the baseline x86-64 target has no rounding instruction).
inline float floor_fast(float v) {
  if (!(std::fabs(v) < 4194304.0f)) return std::floor(v);
  const float t = static_cast<float>(static_cast<int32_t>(v));
  return t > v ? t - 1.0f : t;
}

template <typename T>
inline T cast_out(float v);
template <>
inline uint8_t cast_out<uint8_t>(float v) {
  return to_u8(v);
}
template <>
inline float cast_out<float>(float v) {
  return v;
}

// dst[i] = f(src[i]) over [0, n) in parallel chunks. The loop lives in a function whose pointers
// and functor are plain parameters: a uint8_t store may alias anything in memory, so values read
// through a lambda's closure would be reloaded after every store and the loop would not vectorise.
template <typename S, typename D, typename F>
void map_range(const S* __restrict__ src, D* __restrict__ dst, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f(src[i]);
}

template <typename S, typename D, typename F>
void map_elements(const S* src, D* dst, int64_t n, F f) {
  at::parallel_for(0, n, 1 << 16, [src, dst, f](int64_t b, int64_t e) { map_range(src + b, dst + b, e - b, f); });
}

template <typename T>
constexpr float bound_of() {
  return std::is_same<T, uint8_t>::value ? 255.0f : 1.0f;
}

} // namespace image
} // namespace tva
