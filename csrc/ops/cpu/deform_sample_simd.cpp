// Highway translation unit: re-included once per SIMD target by foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/deform_sample_simd.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include "ops/cpu/deform_sample_simd.h"

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One vector of the bilinear sample ((w1*v1 + w2*v2) + w3*v3) + w4*v4 at channel i.
template <class D, typename T>
HWY_INLINE hn::Vec<D> Bilinear(
    D d, const Corners<T>& c, size_t i, hn::Vec<D> w1, hn::Vec<D> w2, hn::Vec<D> w3,
    hn::Vec<D> w4) {
  const auto a = hn::Mul(w1, hn::LoadU(d, c.v1 + i));
  const auto b = hn::Mul(w2, hn::LoadU(d, c.v2 + i));
  const auto e = hn::Mul(w3, hn::LoadU(d, c.v3 + i));
  const auto f = hn::Mul(w4, hn::LoadU(d, c.v4 + i));
  return hn::Add(hn::Add(hn::Add(a, b), e), f);
}

// Runs body(tag, i) over [0, n): full vectors first, then the tail one lane at a time with the
// same body, so the tail computes exactly what a full vector would.
template <typename T, class Body>
HWY_INLINE void ForEachLane(size_t n, const Body& body) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) body(d, i);
  const hn::CappedTag<T, 1> d1;
  for (; i < n; ++i) body(d1, i);
}

template <typename T>
HWY_INLINE void SampleRow(T* dst, const Corners<T>& c, const T* w, T mask, size_t n) {
  ForEachLane<T>(n, [&](auto d, size_t i) {
    const auto v =
        Bilinear(d, c, i, hn::Set(d, w[0]), hn::Set(d, w[1]), hn::Set(d, w[2]), hn::Set(d, w[3]));
    hn::StoreU(hn::Mul(hn::Set(d, mask), v), d, dst + i);
  });
}

template <typename T>
HWY_INLINE void AxpyRow(T* g, T scale, const T* src, size_t n) {
  ForEachLane<T>(n, [&](auto d, size_t i) {
    const auto s = hn::Mul(hn::Set(d, scale), hn::LoadU(d, src + i));
    hn::StoreU(hn::Add(hn::LoadU(d, g + i), s), d, g + i);
  });
}

template <typename T>
HWY_INLINE void CoordRow(
    const Corners<T>& c, const T* gc, const T* w, T dy, T dx, size_t n, T out[3]) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const auto vdy = hn::Set(d, dy), vdx = hn::Set(d, dx);
  const auto one = hn::Set(d, T(1));
  const auto vdy1 = hn::Sub(one, vdy), vdx1 = hn::Sub(one, vdx);
  const auto w1 = hn::Set(d, w[0]), w2 = hn::Set(d, w[1]), w3 = hn::Set(d, w[2]),
             w4 = hn::Set(d, w[3]);
  auto acc_y = hn::Zero(d), acc_x = hn::Zero(d), acc_m = hn::Zero(d);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto v1 = hn::LoadU(d, c.v1 + i), v2 = hn::LoadU(d, c.v2 + i);
    const auto v3 = hn::LoadU(d, c.v3 + i), v4 = hn::LoadU(d, c.v4 + i);
    const auto g = hn::LoadU(d, gc + i);
    const auto wy = hn::Add(hn::Mul(vdx, hn::Sub(v4, v2)), hn::Mul(vdx1, hn::Sub(v3, v1)));
    const auto wx = hn::Add(hn::Mul(vdy, hn::Sub(v4, v3)), hn::Mul(vdy1, hn::Sub(v2, v1)));
    const auto val = hn::Add(
        hn::Add(hn::Add(hn::Mul(w1, v1), hn::Mul(w2, v2)), hn::Mul(w3, v3)), hn::Mul(w4, v4));
    acc_y = hn::Add(acc_y, hn::Mul(g, wy));
    acc_x = hn::Add(acc_x, hn::Mul(g, wx));
    acc_m = hn::Add(acc_m, hn::Mul(g, val));
  }
  T sy = hn::GetLane(hn::SumOfLanes(d, acc_y));
  T sx = hn::GetLane(hn::SumOfLanes(d, acc_x));
  T sm = hn::GetLane(hn::SumOfLanes(d, acc_m));
  for (; i < n; ++i) {
    const T v1 = c.v1[i], v2 = c.v2[i], v3 = c.v3[i], v4 = c.v4[i], g = gc[i];
    sy += g * (dx * (v4 - v2) + (T(1) - dx) * (v3 - v1));
    sx += g * (dy * (v4 - v3) + (T(1) - dy) * (v2 - v1));
    sm += g * (((w[0] * v1 + w[1] * v2) + w[2] * v3) + w[3] * v4);
  }
  out[0] += sy;
  out[1] += sx;
  out[2] += sm;
}

void SampleRowF32(float* dst, const Corners<float>& c, const float* w, float m, size_t n) {
  SampleRow(dst, c, w, m, n);
}
void SampleRowF64(double* dst, const Corners<double>& c, const double* w, double m, size_t n) {
  SampleRow(dst, c, w, m, n);
}
void AxpyRowF32(float* g, float s, const float* src, size_t n) {
  AxpyRow(g, s, src, n);
}
void AxpyRowF64(double* g, double s, const double* src, size_t n) {
  AxpyRow(g, s, src, n);
}
void CoordRowF32(
    const Corners<float>& c, const float* gc, const float* w, float dy, float dx, size_t n,
    float* out) {
  CoordRow(c, gc, w, dy, dx, n, out);
}
void CoordRowF64(
    const Corners<double>& c, const double* gc, const double* w, double dy, double dx, size_t n,
    double* out) {
  CoordRow(c, gc, w, dy, dx, n, out);
}

} // namespace HWY_NAMESPACE
} // namespace simd
} // namespace tva
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tva {
namespace simd {

HWY_EXPORT(SampleRowF32);
HWY_EXPORT(SampleRowF64);
HWY_EXPORT(AxpyRowF32);
HWY_EXPORT(AxpyRowF64);
HWY_EXPORT(CoordRowF32);
HWY_EXPORT(CoordRowF64);

void deform_sample_row(
    float* dst, const Corners<float>& c, const float w[4], float mask, size_t n) {
  HWY_DYNAMIC_DISPATCH(SampleRowF32)(dst, c, w, mask, n);
}
void deform_sample_row(
    double* dst, const Corners<double>& c, const double w[4], double mask, size_t n) {
  HWY_DYNAMIC_DISPATCH(SampleRowF64)(dst, c, w, mask, n);
}
void deform_axpy_row(float* g, float scale, const float* src, size_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyRowF32)(g, scale, src, n);
}
void deform_axpy_row(double* g, double scale, const double* src, size_t n) {
  HWY_DYNAMIC_DISPATCH(AxpyRowF64)(g, scale, src, n);
}
void deform_coord_row(
    const Corners<float>& c, const float* gc, const float w[4], float dy, float dx, size_t n,
    float out[3]) {
  HWY_DYNAMIC_DISPATCH(CoordRowF32)(c, gc, w, dy, dx, n, out);
}
void deform_coord_row(
    const Corners<double>& c, const double* gc, const double w[4], double dy, double dx, size_t n,
    double out[3]) {
  HWY_DYNAMIC_DISPATCH(CoordRowF64)(c, gc, w, dy, dx, n, out);
}

} // namespace simd
} // namespace tva
#endif // HWY_ONCE
