// Highway translation unit: re-included once per SIMD target by foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/cpu/iou_simd.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>

#include "ops/cpu/iou_simd.h"

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The lanes of a mask as the low bits of a word (lane k -> bit k).
template <class D, class M>
HWY_INLINE uint64_t MaskToBits(D d, M mask) {
  const size_t lanes = hn::Lanes(d);
  uint8_t bytes[8] = {0};
  hn::StoreMaskBits(d, mask, bytes);
  uint64_t m = 0;
  for (size_t b = 0; b < (lanes + 7) / 8; ++b) m |= uint64_t{bytes[b]} << (8 * b);
  return lanes < 64 ? m & ((uint64_t{1} << lanes) - 1) : m;
}

template <typename T>
HWY_INLINE uint64_t IouAbove(const BoxGroup<T>& g, size_t n, const IouQuery<T>& q) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const auto qx1 = hn::Set(d, q.x1);
  const auto qy1 = hn::Set(d, q.y1);
  const auto qx2 = hn::Set(d, q.x2);
  const auto qy2 = hn::Set(d, q.y2);
  const auto qarea = hn::Set(d, q.area);
  const auto thr = hn::Set(d, q.threshold);
  const auto zero = hn::Zero(d);
  uint64_t bits = 0;
  for (size_t k = 0; k < n; k += lanes) {
    const auto xx1 = hn::Max(qx1, hn::LoadU(d, g.x1 + k));
    const auto yy1 = hn::Max(qy1, hn::LoadU(d, g.y1 + k));
    const auto xx2 = hn::Min(qx2, hn::LoadU(d, g.x2 + k));
    const auto yy2 = hn::Min(qy2, hn::LoadU(d, g.y2 + k));
    const auto w = hn::Max(zero, hn::Sub(xx2, xx1));
    const auto h = hn::Max(zero, hn::Sub(yy2, yy1));
    const auto inter = hn::Mul(w, h);
    const auto uni = hn::Sub(hn::Add(qarea, hn::LoadU(d, g.area + k)), inter);
    const auto above = hn::Gt(hn::Div(inter, uni), thr);
    bits |= MaskToBits(d, above) << k;
  }
  return bits;
}

void BlocksInWindow(
    const BlockBounds& b, size_t begin, size_t count, const BlockWindow& w, uint64_t* bits) {
  const hn::ScalableTag<double> d;
  const size_t lanes = hn::Lanes(d);
  const auto zero = hn::Zero(d);
  const auto cx = hn::Set(d, w.cx), cy = hn::Set(d, w.cy);
  const auto ww = hn::Set(d, w.w), wh = hn::Set(d, w.h), cf = hn::Set(d, w.centre_factor);
  for (size_t j0 = 0; j0 < count; j0 += 64) {
    uint64_t word = 0;
    const size_t k0 = begin + j0;
    const size_t k_end = k0 + std::min<size_t>(64, count - j0);
    for (size_t k = k0; k < k_end; k += lanes) {
      auto out = hn::Le(hn::LoadU(d, b.max_rank + k), hn::Set(d, w.rank));
      out = hn::Or(out, hn::Le(hn::LoadU(d, b.max_x2 + k), hn::Set(d, w.lo_x2)));
      out = hn::Or(out, hn::Ge(hn::LoadU(d, b.min_x1 + k), hn::Set(d, w.hi_x1)));
      out = hn::Or(out, hn::Le(hn::LoadU(d, b.max_y2 + k), hn::Set(d, w.lo_y2)));
      out = hn::Or(out, hn::Ge(hn::LoadU(d, b.min_y1 + k), hn::Set(d, w.hi_y1)));
      const auto max_w = hn::LoadU(d, b.max_w + k);
      const auto max_h = hn::LoadU(d, b.max_h + k);
      out = hn::Or(out, hn::Le(max_w, hn::Set(d, w.lo_w)));
      out = hn::Or(out, hn::Ge(hn::LoadU(d, b.min_w + k), hn::Set(d, w.hi_w)));
      out = hn::Or(out, hn::Le(max_h, hn::Set(d, w.lo_h)));
      out = hn::Or(out, hn::Ge(hn::LoadU(d, b.min_h + k), hn::Set(d, w.hi_h)));
      const auto dx = hn::Max(
          hn::Max(zero, hn::Sub(hn::LoadU(d, b.min_cx + k), cx)),
          hn::Sub(cx, hn::LoadU(d, b.max_cx + k)));
      const auto dy = hn::Max(
          hn::Max(zero, hn::Sub(hn::LoadU(d, b.min_cy + k), cy)),
          hn::Sub(cy, hn::LoadU(d, b.max_cy + k)));
      out = hn::Or(out, hn::Ge(dx, hn::Mul(cf, hn::Add(ww, max_w))));
      out = hn::Or(out, hn::Ge(dy, hn::Mul(cf, hn::Add(wh, max_h))));
      word |= MaskToBits(d, hn::Not(out)) << (k - k0);
    }
    if (k_end - k0 < 64) word &= (uint64_t{1} << (k_end - k0)) - 1;
    bits[j0 / 64] = word;
  }
}

uint64_t IouAboveF32(const BoxGroup<float>& g, size_t n, const IouQuery<float>& q) {
  return IouAbove(g, n, q);
}
uint64_t IouAboveF64(const BoxGroup<double>& g, size_t n, const IouQuery<double>& q) {
  return IouAbove(g, n, q);
}

} // namespace HWY_NAMESPACE
} // namespace simd
} // namespace tva
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tva {
namespace simd {

HWY_EXPORT(IouAboveF32);
HWY_EXPORT(IouAboveF64);
HWY_EXPORT(BlocksInWindow);

void blocks_in_window(
    const BlockBounds& b, size_t begin, size_t count, const BlockWindow& w, uint64_t* bits) {
  HWY_DYNAMIC_DISPATCH(BlocksInWindow)(b, begin, count, w, bits);
}

uint64_t iou_above_f32(const BoxGroup<float>& g, size_t n, const IouQuery<float>& q) {
  return HWY_DYNAMIC_DISPATCH(IouAboveF32)(g, n, q);
}
uint64_t iou_above_f64(const BoxGroup<double>& g, size_t n, const IouQuery<double>& q) {
  return HWY_DYNAMIC_DISPATCH(IouAboveF64)(g, n, q);
}

} // namespace simd
} // namespace tva
#endif // HWY_ONCE
