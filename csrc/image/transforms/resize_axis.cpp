// Per-axis resize sampling (see resize_axis.h).
#include "image/transforms/resize_axis.h"

#include <algorithm>
#include <cmath>

#include "image/transforms/resample_simd.h"

namespace tva {
namespace image {
namespace {

// torch evaluates these in its own (contracted, vectorised) builds; the coefficients here agree with
// its to a few units in the last place of the largest coefficient.
inline float cubic_conv1(float x, float A) {
  return ((A + 2) * x - (A + 3)) * x * x + 1;
}
inline float cubic_conv2(float x, float A) {
  return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

inline float aa_linear_filter(float x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return static_cast<float>(1.0 - x);
  return 0.0f;
}

inline float aa_cubic_filter(float x) {
  const double a = -0.5;  // Keys' a = -0.5, as Pillow and torch's antialiased bicubic use
  if (x < 0.0) x = -x;
  if (x < 1.0) return static_cast<float>(((a + 2.0) * x - (a + 3.0)) * x * x + 1);
  if (x < 2.0) return static_cast<float>((((x - 5) * x + 8) * x - 4) * a);
  return 0.0f;
}

} // namespace

void ResizeAxis::init(int64_t outputs, int64_t n_taps) {
  n = outputs;
  taps = n_taps;
  stride = simd::padded(std::max<int64_t>(outputs, 1));
  idx.assign(taps * stride, 0);
  w.assign(taps * stride, 0.0f);
  count.assign(outputs, static_cast<int32_t>(taps));
  start.clear();
}

std::vector<int64_t> nearest_resize_indices(int64_t in, int64_t out, int64_t o0, int64_t o1) {
  std::vector<int64_t> idx(o1 - o0);
  const float scale = static_cast<float>(in) / out;
  for (int64_t o = o0; o < o1; ++o) {
    if (out == in) {
      idx[o - o0] = o;
    } else if (out == 2 * in) {
      idx[o - o0] = o >> 1;
    } else {
      idx[o - o0] = std::min(static_cast<int64_t>(std::floor(o * scale)), in - 1);
    }
  }
  return idx;
}

ResizeAxis linear_resize_axis(int64_t in, int64_t out, int64_t o0, int64_t o1) {
  ResizeAxis a;
  a.init(o1 - o0, 2);
  const float scale = static_cast<float>(in) / out;
  for (int64_t o = o0; o < o1; ++o) {
    double real = static_cast<double>(scale) * (o + 0.5) - 0.5;
    if (real < 0) real = 0;
    const int64_t i0 = static_cast<int64_t>(real);
    const int64_t i1 = i0 + ((i0 < in - 1) ? 1 : 0);
    const float l1 = static_cast<float>(real - i0);
    const float l0 = 1.0f - l1;
    a.start.push_back(i0);
    a.set(0, o - o0, i0, l0);
    a.set(1, o - o0, i1, l1);
  }
  return a;
}

ResizeAxis cubic_resize_axis(int64_t in, int64_t out, int64_t o0, int64_t o1) {
  ResizeAxis a;
  a.init(o1 - o0, 4);
  const float scale = static_cast<float>(in) / out;
  const float A = -0.75f;
  for (int64_t o = o0; o < o1; ++o) {
    const float real = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    const int64_t i0 = static_cast<int64_t>(std::floor(real));
    const float t = real - static_cast<float>(i0);
    const float x2 = static_cast<float>(1.0 - t);
    const float c[4] = {
        cubic_conv2(static_cast<float>(t + 1.0), A), cubic_conv1(t, A), cubic_conv1(x2, A),
        cubic_conv2(static_cast<float>(x2 + 1.0), A)};
    a.start.push_back(i0 - 1);
    for (int64_t k = 0; k < 4; ++k) {
      a.set(k, o - o0, std::max<int64_t>(std::min<int64_t>(i0 - 1 + k, in - 1), 0), c[k]);
    }
  }
  return a;
}

ResizeAxis antialias_resize_axis(int64_t in, int64_t out, int64_t o0, int64_t o1, bool cubic) {
  const float scale = static_cast<float>(in) / out;
  const int64_t interp_size = cubic ? 4 : 2;
  const float support = static_cast<float>(
      (scale >= 1.0) ? (interp_size * 0.5) * scale : interp_size * 0.5);
  const float invscale = static_cast<float>((scale >= 1.0) ? 1.0 / scale : 1.0);
  const int64_t max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  ResizeAxis a;
  a.init(o1 - o0, max_taps);
  std::vector<float> wt(max_taps);
  int64_t used_taps = 1;
  for (int64_t o = o0; o < o1; ++o) {
    const int64_t k = o - o0;
    const float center = static_cast<float>(scale * (o + 0.5));
    const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    int64_t xsize = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in) - xmin;
    xsize = std::max<int64_t>(std::min<int64_t>(xsize, max_taps), 0);
    float total = 0.0f;
    for (int64_t j = 0; j < xsize; ++j) {
      const float dist = static_cast<float>(j + xmin) - center;
      const float arg = static_cast<float>((dist + 0.5) * invscale);
      wt[j] = cubic ? aa_cubic_filter(arg) : aa_linear_filter(arg);
      total += wt[j];
    }
    for (int64_t j = 0; j < xsize; ++j) {
      if (total != 0.0f) wt[j] /= total;
      a.set(j, k, xmin + j, wt[j]);
    }
    for (int64_t j = xsize; j < max_taps; ++j) a.set(j, k, std::min<int64_t>(xmin, in - 1), 0.0f);
    a.start.push_back(xmin);
    a.count[k] = static_cast<int32_t>(std::max<int64_t>(xsize, 1));
    used_taps = std::max(used_taps, xsize);
  }
  // Zero-weight tail taps change nothing (x + y * 0 == x): drop the ones no output uses. Taps are
  // rows of `stride` lanes, so the first used_taps rows stay where they are.
  a.taps = used_taps;
  a.idx.resize(used_taps * a.stride);
  a.w.resize(used_taps * a.stride);
  return a;
}

} // namespace image
} // namespace tva
