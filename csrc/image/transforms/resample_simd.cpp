// Highway translation unit: re-included once per SIMD target by foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "image/transforms/resample_simd.cpp"
#include <hwy/foreach_target.h> // IWYU pragma: keep

#include <hwy/highway.h>

#include <cmath>
#include <cstring>

#include "image/transforms/resample_simd.h"

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace image {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void ResampleRow(
    const float* HWY_RESTRICT row, const int32_t* HWY_RESTRICT idx, const float* HWY_RESTRICT w,
    int64_t taps, int64_t stride, int64_t n, float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t x = 0; x < n; x += lanes) {
    auto acc = hn::Mul(hn::GatherIndex(d, row, hn::LoadU(di, idx + x)), hn::LoadU(d, w + x));
    for (int64_t k = 1; k < taps; ++k) {
      const int64_t o = k * stride + x;
      acc = hn::Add(acc, hn::Mul(hn::GatherIndex(d, row, hn::LoadU(di, idx + o)), hn::LoadU(d, w + o)));
    }
    hn::StoreU(acc, d, out + x);
  }
}

void ResampleRowU8Taps(
    const uint8_t* HWY_RESTRICT row, const int32_t* HWY_RESTRICT offs, const float* HWY_RESTRICT w,
    int64_t taps, int64_t stride, int64_t n, float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto mask = hn::Set(di, 0xFF);
  // One 32-bit gather at byte offset offs[x] brings up to four neighbours (little-endian bytes).
  const int32_t* base = reinterpret_cast<const int32_t*>(row);
  if (taps == 2) {  // bilinear: both taps from one gather, constant shift, the same operations
    for (int64_t x = 0; x < n; x += lanes) {
      const auto v = hn::GatherOffset(di, base, hn::LoadU(di, offs + x));
      const auto p0 = hn::ConvertTo(d, hn::And(v, mask));
      const auto p1 = hn::ConvertTo(d, hn::And(hn::ShiftRight<8>(v), mask));
      const auto acc = hn::Mul(p0, hn::LoadU(d, w + x));
      hn::StoreU(hn::Add(acc, hn::Mul(p1, hn::LoadU(d, w + stride + x))), d, out + x);
    }
    return;
  }
  for (int64_t x = 0; x < n; x += lanes) {
    const auto o = hn::LoadU(di, offs + x);
    auto v = hn::GatherOffset(di, base, o);
    auto acc = hn::Mul(hn::ConvertTo(d, hn::And(v, mask)), hn::LoadU(d, w + x));
    for (int64_t k = 1; k < taps; ++k) {
      if ((k & 3) == 0) v = hn::GatherOffset(di, base, hn::Add(o, hn::Set(di, static_cast<int32_t>(k))));
      const auto px = hn::ConvertTo(d, hn::And(hn::ShiftRightSame(v, static_cast<int>(8 * (k & 3))), mask));
      acc = hn::Add(acc, hn::Mul(px, hn::LoadU(d, w + k * stride + x)));
    }
    hn::StoreU(acc, d, out + x);
  }
}

// Sixteen bytes from row + base[j] in each 128-bit block j of a vector of d (x86 targets).
template <class D8>
HWY_INLINE hn::Vec<D8> LoadBlocks(D8 d, const uint8_t* HWY_RESTRICT row, const int32_t* HWY_RESTRICT base) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const hn::Full128<uint8_t> d128;
  const hn::Full256<uint8_t> d256;
  const auto lo = hn::Combine(d256, hn::LoadU(d128, row + base[1]), hn::LoadU(d128, row + base[0]));
  const auto hi = hn::Combine(d256, hn::LoadU(d128, row + base[3]), hn::LoadU(d128, row + base[2]));
  return hn::Combine(d, hi, lo);
#elif HWY_TARGET == HWY_AVX2
  const hn::Full128<uint8_t> d128;
  return hn::Combine(d, hn::LoadU(d128, row + base[1]), hn::LoadU(d128, row + base[0]));
#else
  return hn::LoadU(d, row + base[0]);
#endif
}

void ResampleRowU8Bilinear(
    const uint8_t* HWY_RESTRICT row, const int32_t* HWY_RESTRICT base, const uint8_t* HWY_RESTRICT ctl0,
    const uint8_t* HWY_RESTRICT ctl1, const float* HWY_RESTRICT w, int64_t stride, int64_t n,
    float* HWY_RESTRICT out) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2 || \
    HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Repartition<uint8_t, decltype(d)> du8;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t x = 0; x < n; x += lanes) {
    // Each 128-bit block serves four outputs; the controls put each tap's byte in the low byte of
    // its output's 32-bit lane and zero in the others (0x80), which is the pixel widened exactly.
    const auto bytes = LoadBlocks(du8, row, base + x / 4);
    const auto p0 = hn::BitCast(di, hn::TableLookupBytesOr0(bytes, hn::LoadU(du8, ctl0 + 4 * x)));
    const auto p1 = hn::BitCast(di, hn::TableLookupBytesOr0(bytes, hn::LoadU(du8, ctl1 + 4 * x)));
    const auto acc = hn::Mul(hn::ConvertTo(d, p0), hn::LoadU(d, w + x));
    hn::StoreU(hn::Add(acc, hn::Mul(hn::ConvertTo(d, p1), hn::LoadU(d, w + stride + x))), d, out + x);
  }
#else
  for (int64_t x = 0; x < n; ++x) {
    const uint8_t* b = row + base[x / 4];
    const float acc = static_cast<float>(b[ctl0[4 * x]]) * w[x];
    out[x] = acc + static_cast<float>(b[ctl1[4 * x]]) * w[stride + x];
  }
#endif
}

void GatherU8(const uint8_t* HWY_RESTRICT row, const int32_t* HWY_RESTRICT idx, int64_t n,
              uint8_t* HWY_RESTRICT out) {
  const hn::ScalableTag<int32_t> di;
  const hn::Rebind<uint8_t, decltype(di)> du8;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(di));
  const int32_t* base = reinterpret_cast<const int32_t*>(row);
  const auto mask = hn::Set(di, 0xFF);
  int64_t x = 0;
  // A 32-bit gather at byte offset idx[x] has the wanted pixel in its low byte (little-endian).
  for (; x + lanes <= n; x += lanes) {
    const auto v = hn::And(hn::GatherOffset(di, base, hn::LoadU(di, idx + x)), mask);
    hn::StoreU(hn::DemoteTo(du8, v), du8, out + x);
  }
  for (; x < n; ++x) out[x] = row[idx[x]];
}

void CombineRows(
    const float* const* HWY_RESTRICT rows, const float* HWY_RESTRICT w, int64_t taps, int64_t n,
    float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const auto w0 = hn::Set(d, w[0]);
  if (taps == 2) {  // the common bilinear case, kept free of the inner loop
    const auto w1 = hn::Set(d, w[1]);
    const float* r0 = rows[0];
    const float* r1 = rows[1];
    for (int64_t x = 0; x < n; x += lanes) {
      hn::StoreU(
          hn::Add(hn::Mul(hn::LoadU(d, r0 + x), w0), hn::Mul(hn::LoadU(d, r1 + x), w1)), d, out + x);
    }
    return;
  }
  for (int64_t x = 0; x < n; x += lanes) {
    auto acc = hn::Mul(hn::LoadU(d, rows[0] + x), w0);
    for (int64_t k = 1; k < taps; ++k) {
      acc = hn::Add(acc, hn::Mul(hn::LoadU(d, rows[k] + x), hn::Set(d, w[k])));
    }
    hn::StoreU(acc, d, out + x);
  }
}

// Applies f(d, x) to whole vectors, then to the tail one lane at a time.
template <class F>
HWY_INLINE void ForEachBlock(int64_t n, const F& f) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t x = 0;
  for (; x + lanes <= n; x += lanes) f(d, x);
  const hn::CappedTag<float, 1> d1;
  for (; x < n; ++x) f(d1, x);
}

void CombineRowsToU8(
    const float* const* HWY_RESTRICT rows, const float* HWY_RESTRICT w, int64_t taps, int64_t n,
    uint8_t* HWY_RESTRICT out) {
  if (taps == 2) {  // bilinear: rows and weights held in registers, the same operations
    const float* HWY_RESTRICT r0 = rows[0];
    const float* HWY_RESTRICT r1 = rows[1];
    const float w0 = w[0], w1 = w[1];
    ForEachBlock(n, [&](auto d, int64_t x) {
      const hn::Rebind<int32_t, decltype(d)> di;
      const hn::Rebind<uint8_t, decltype(d)> du8;
      auto acc = hn::Add(hn::Mul(hn::LoadU(d, r0 + x), hn::Set(d, w0)), hn::Mul(hn::LoadU(d, r1 + x), hn::Set(d, w1)));
      acc = hn::Min(hn::Max(hn::Round(acc), hn::Zero(d)), hn::Set(d, 255.0f));
      hn::StoreU(hn::DemoteTo(du8, hn::ConvertTo(di, acc)), du8, out + x);
    });
    return;
  }
  ForEachBlock(n, [&](auto d, int64_t x) {
    const hn::Rebind<int32_t, decltype(d)> di;
    const hn::Rebind<uint8_t, decltype(d)> du8;
    auto acc = hn::Mul(hn::LoadU(d, rows[0] + x), hn::Set(d, w[0]));
    for (int64_t k = 1; k < taps; ++k) acc = hn::Add(acc, hn::Mul(hn::LoadU(d, rows[k] + x), hn::Set(d, w[k])));
    acc = hn::Min(hn::Max(hn::Round(acc), hn::Zero(d)), hn::Set(d, 255.0f));
    hn::StoreU(hn::DemoteTo(du8, hn::ConvertTo(di, acc)), du8, out + x);
  });
}

void U8ToF32Div255(const uint8_t* HWY_RESTRICT src, int64_t n, float* HWY_RESTRICT dst) {
  int64_t x = 0;
#if HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_SSE4 && HWY_TARGET != HWY_SSSE3 && HWY_TARGET != HWY_EMU128
  // With fused multiply-add: the correctly rounded v / 255 as SubDiv computes quotients (Markstein:
  // q = RN(v * RN(1/255)), r = v - q * 255 exactly, q + r * RN(1/255) rounded once), in float lanes,
  // twice as many per vector as the double product below. Exact for every uint8 value, zero included.
  {
    const hn::ScalableTag<float> d;
    const hn::Rebind<int32_t, decltype(d)> di;
    const hn::Rebind<uint8_t, decltype(d)> du8;
    const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
    const auto k = hn::Set(d, 255.0f);
    const auto inv = hn::Set(d, 1.0f / 255.0f);
    for (; x + lanes <= n; x += lanes) {
      const auto v = hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(du8, src + x)));
      const auto q = hn::Mul(v, inv);
      hn::StoreU(hn::MulAdd(hn::NegMulAdd(q, k, v), inv, q), d, dst + x);
    }
  }
#elif HWY_HAVE_FLOAT64
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const hn::Rebind<int32_t, decltype(dd)> di;
  const hn::Rebind<uint8_t, decltype(dd)> du8;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(dd));
  const auto inv = hn::Set(dd, 1.0 / 255.0);
  for (; x + 2 * lanes <= n; x += 2 * lanes) {
    const auto a = hn::PromoteTo(dd, hn::PromoteTo(di, hn::LoadU(du8, src + x)));
    const auto b = hn::PromoteTo(dd, hn::PromoteTo(di, hn::LoadU(du8, src + x + lanes)));
    hn::StoreU(hn::DemoteTo(df, hn::Mul(a, inv)), df, dst + x);
    hn::StoreU(hn::DemoteTo(df, hn::Mul(b, inv)), df, dst + x + lanes);
  }
#endif
  for (; x < n; ++x) dst[x] = static_cast<float>(static_cast<double>(src[x]) * (1.0 / 255.0));
}

void U8ToF32(const uint8_t* HWY_RESTRICT src, int64_t n, float* HWY_RESTRICT dst) {
  ForEachBlock(n, [&](auto d, int64_t x) {
    const hn::Rebind<int32_t, decltype(d)> di;
    const hn::Rebind<uint8_t, decltype(d)> du8;
    hn::StoreU(hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(du8, src + x))), d, dst + x);
  });
}

void U8ToF32Div(const uint8_t* HWY_RESTRICT src, int64_t n, float divisor, float* HWY_RESTRICT dst) {
  ForEachBlock(n, [&](auto d, int64_t x) {
    const hn::Rebind<int32_t, decltype(d)> di;
    const hn::Rebind<uint8_t, decltype(d)> du8;
    const auto v = hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(du8, src + x)));
    hn::StoreU(hn::Div(v, hn::Set(d, divisor)), d, dst + x);
  });
}

void F32RoundToU8(const float* HWY_RESTRICT src, int64_t n, uint8_t* HWY_RESTRICT dst) {
  ForEachBlock(n, [&](auto d, int64_t x) {
    const hn::Rebind<int32_t, decltype(d)> di;
    const hn::Rebind<uint8_t, decltype(d)> du8;
    auto v = hn::Round(hn::LoadU(d, src + x));
    v = hn::Min(hn::Max(v, hn::Zero(d)), hn::Set(d, 255.0f));
    hn::StoreU(hn::DemoteTo(du8, hn::ConvertTo(di, v)), du8, dst + x);
  });
}

void SubDiv(const float* src, int64_t n, float sub, float div, float* dst) {
#if HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_SSE4 && HWY_TARGET != HWY_SSSE3
  // With fused multiply-add, a / b is computed without a divide (several times slower per lane):
  // y = RN(1 / b), q = RN(a * y), r = a - q * b (exact, fused), q' = RN(q + r * y) is the correctly
  // rounded quotient when y is the correctly rounded reciprocal and q is within an ulp of a / b
  // (Markstein's theorem), which holds while nothing overflows or underflows: vectors with a lane
  // outside [2^-60, 2^60] (other than zero), and divisors outside that range, use the divide.
  const float inv = 1.0f / div;
  const float lo = 8.67361738e-19f, hi = 1.15292150e+18f;  // 2^-60, 2^60
  const float adiv = std::fabs(div);
  if (adiv >= lo && adiv <= hi) {
    const hn::ScalableTag<float> d;
    const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
    const auto vsub = hn::Set(d, sub), vdiv = hn::Set(d, div), vinv = hn::Set(d, inv);
    const auto vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
    int64_t x = 0;
    for (; x + lanes <= n; x += lanes) {
      const auto a = hn::Sub(hn::LoadU(d, src + x), vsub);
      const auto mag = hn::Abs(a);
      const auto zero = hn::Eq(a, hn::Zero(d));
      const auto ok = hn::Or(hn::And(hn::Ge(mag, vlo), hn::Le(mag, vhi)), zero);
      if (HWY_LIKELY(hn::AllTrue(d, ok))) {
        const auto q = hn::Mul(a, vinv);  // a signed zero stays q: the correction would lose its sign
        const auto r = hn::NegMulAdd(q, vdiv, a);
        hn::StoreU(hn::IfThenElse(zero, q, hn::MulAdd(r, vinv, q)), d, dst + x);
      } else {
        hn::StoreU(hn::Div(a, vdiv), d, dst + x);
      }
    }
    for (; x < n; ++x) dst[x] = (src[x] - sub) / div;
    return;
  }
#endif
  ForEachBlock(n, [&](auto d, int64_t x) {
    const auto v = hn::Sub(hn::LoadU(d, src + x), hn::Set(d, sub));
    hn::StoreU(hn::Div(v, hn::Set(d, div)), d, dst + x);
  });
}

void RoundScaleSubDiv(const float* src, int64_t n, float scale, float sub, float div, float* dst) {
  const bool rescale = scale != 1.0f;
  ForEachBlock(n, [&](auto d, int64_t x) {
    auto v = hn::Round(hn::LoadU(d, src + x));
    v = hn::Min(hn::Max(v, hn::Zero(d)), hn::Set(d, 255.0f));
    if (rescale) v = hn::Div(v, hn::Set(d, scale));
    v = hn::Sub(v, hn::Set(d, sub));
    hn::StoreU(hn::Div(v, hn::Set(d, div)), d, dst + x);
  });
}

// a * b + c with one rounding, as torch's FMA-compiled kernels compute it, on every target.
template <class D, class V>
HWY_INLINE V FusedMulAdd(D d, V a, V b, V c) {
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
  // These targets have no fused multiply-add instruction: Highway's MulAdd would round twice.
  constexpr size_t N = hn::MaxLanes(d);
  alignas(64) float xa[N], xb[N], xc[N];
  hn::Store(a, d, xa);
  hn::Store(b, d, xb);
  hn::Store(c, d, xc);
  for (size_t i = 0; i < hn::Lanes(d); ++i) xa[i] = std::fma(xa[i], xb[i], xc[i]);
  return hn::Load(d, xa);
#else
  return hn::MulAdd(a, b, c);
#endif
}

void ProjectiveRow(const float* HWY_RESTRICT xs, int64_t n, float y, const float* t, const float* dd,
                   bool perspective, float sx, float sy, float* HWY_RESTRICT out_x,
                   float* HWY_RESTRICT out_y) {
  ForEachBlock(n, [&](auto d, int64_t j) {
    const auto x = hn::LoadU(d, xs + j);
    const auto vy = hn::Set(d, y);
    auto u = hn::Add(FusedMulAdd(d, vy, hn::Set(d, t[2]), hn::Mul(x, hn::Set(d, t[0]))), hn::Set(d, t[4]));
    auto v = hn::Add(FusedMulAdd(d, vy, hn::Set(d, t[3]), hn::Mul(x, hn::Set(d, t[1]))), hn::Set(d, t[5]));
    const auto one = hn::Set(d, 1.0f);
    if (perspective) {
      const auto du = hn::Add(FusedMulAdd(d, vy, hn::Set(d, dd[2]), hn::Mul(x, hn::Set(d, dd[0]))), hn::Set(d, dd[4]));
      const auto dv = hn::Add(FusedMulAdd(d, vy, hn::Set(d, dd[3]), hn::Mul(x, hn::Set(d, dd[1]))), hn::Set(d, dd[5]));
      u = hn::Sub(hn::Div(u, du), one);
      v = hn::Sub(hn::Div(v, dv), one);
    }
    const auto half = hn::Set(d, 0.5f);
    hn::StoreU(hn::Sub(hn::Mul(hn::Add(u, one), hn::Set(d, sx)), half), d, out_x + j);
    hn::StoreU(hn::Sub(hn::Mul(hn::Add(v, one), hn::Set(d, sy)), half), d, out_y + j);
  });
}

// x mod 1 for finite x, sign of x kept (std::fmod(x, 1)): exact, x minus its integer part.
template <class D, class V>
HWY_INLINE V Fmod1(D, V x) {
  return hn::Sub(x, hn::Trunc(x));
}

template <class D, class V>
HWY_INLINE void HueShift(D d, V r, V g, V b, float hue, V* out_r, V* out_g, V* out_b) {
  const auto one = hn::Set(d, 1.0f);
  const auto zero = hn::Zero(d);
  const auto maxc = hn::Max(hn::Max(r, g), b);
  const auto minc = hn::Min(hn::Min(r, g), b);
  const auto eqc = hn::Eq(maxc, minc);
  const auto cr = hn::Sub(maxc, minc);
  const auto s = hn::Div(cr, hn::IfThenElse(eqc, one, maxc));
  const auto crd = hn::IfThenElse(eqc, one, cr);
  const auto rc = hn::Div(hn::Sub(maxc, r), crd);
  const auto gc = hn::Div(hn::Sub(maxc, g), crd);
  const auto bc = hn::Div(hn::Sub(maxc, b), crd);
  const auto is_r = hn::Eq(maxc, r);
  const auto is_g = hn::Eq(maxc, g);
  const auto hr = hn::IfThenElseZero(is_r, hn::Sub(bc, gc));
  const auto hg = hn::IfThenElseZero(hn::AndNot(is_r, is_g), hn::Sub(hn::Add(hn::Set(d, 2.0f), rc), bc));
  const auto hb = hn::IfThenElseZero(hn::Not(hn::Or(is_r, is_g)), hn::Sub(hn::Add(hn::Set(d, 4.0f), gc), rc));
  auto h = hn::Add(hn::Add(hr, hg), hb);
  h = Fmod1(d, hn::Add(hn::Div(h, hn::Set(d, 6.0f)), one));
  // (h + hue) % 1.0 with Python semantics (torch.remainder): add 1 to a negative remainder.
  auto m = Fmod1(d, hn::Add(h, hn::Set(d, hue)));
  m = hn::IfThenElse(hn::Lt(m, zero), hn::Add(m, one), m);
  h = m;
  const auto v = maxc;
  const auto h6 = hn::Mul(h, hn::Set(d, 6.0f));
  const auto fi = hn::Floor(h6);
  const auto f = hn::Sub(h6, fi);
  // i % 6 for i in [0, 6]: only 6 wraps to 0.
  const auto i = hn::IfThenElse(hn::Ge(fi, hn::Set(d, 6.0f)), zero, fi);
  const auto p = hn::Min(hn::Max(hn::Mul(v, hn::Sub(one, s)), zero), one);
  const auto q = hn::Min(hn::Max(hn::Mul(v, hn::Sub(one, hn::Mul(s, f))), zero), one);
  const auto t = hn::Min(hn::Max(hn::Mul(v, hn::Sub(one, hn::Mul(s, hn::Sub(one, f)))), zero), one);
  const auto i0 = hn::Eq(i, zero), i1 = hn::Eq(i, one), i2 = hn::Eq(i, hn::Set(d, 2.0f));
  const auto i3 = hn::Eq(i, hn::Set(d, 3.0f)), i4 = hn::Eq(i, hn::Set(d, 4.0f));
  // Rows of torchvision's table: r = (v, q, p, p, t, v), g = (t, v, v, q, p, p), b = (p, p, t, v, v, q).
  *out_r = hn::IfThenElse(i0, v, hn::IfThenElse(i1, q, hn::IfThenElse(i2, p, hn::IfThenElse(i3, p, hn::IfThenElse(i4, t, v)))));
  *out_g = hn::IfThenElse(i0, t, hn::IfThenElse(i1, v, hn::IfThenElse(i2, v, hn::IfThenElse(i3, q, hn::IfThenElse(i4, p, p)))));
  *out_b = hn::IfThenElse(i0, p, hn::IfThenElse(i1, p, hn::IfThenElse(i2, t, hn::IfThenElse(i3, v, hn::IfThenElse(i4, v, q)))));
}

void HueRowU8(const uint8_t* HWY_RESTRICT src, uint8_t* HWY_RESTRICT dst, int64_t plane, int64_t n, float hue) {
  ForEachBlock(n, [&](auto d, int64_t x) {
    const hn::Rebind<int32_t, decltype(d)> di;
    const hn::Rebind<uint8_t, decltype(d)> du8;
    const auto k255 = hn::Set(d, 255.0f);
    auto load = [&](const uint8_t* p) {
      return hn::Div(hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(du8, p + x))), k255);
    };
    decltype(load(src)) r2, g2, b2;
    HueShift(d, load(src), load(src + plane), load(src + 2 * plane), hue, &r2, &g2, &b2);
    auto store = [&](decltype(r2) v, uint8_t* p) {
      hn::StoreU(hn::DemoteTo(du8, hn::ConvertTo(di, hn::Mul(v, k255))), du8, p + x);
    };
    store(r2, dst);
    store(g2, dst + plane);
    store(b2, dst + 2 * plane);
  });
}

void HueRowF32(const float* HWY_RESTRICT src, float* HWY_RESTRICT dst, int64_t plane, int64_t n, float hue) {
  ForEachBlock(n, [&](auto d, int64_t x) {
    decltype(hn::LoadU(d, src)) r2, g2, b2;
    HueShift(d, hn::LoadU(d, src + x), hn::LoadU(d, src + plane + x), hn::LoadU(d, src + 2 * plane + x), hue,
             &r2, &g2, &b2);
    hn::StoreU(r2, d, dst + x);
    hn::StoreU(g2, d, dst + plane + x);
    hn::StoreU(b2, d, dst + 2 * plane + x);
  });
}

// Applies f(d, v) to whole uint8 vectors, then to the tail one lane at a time.
template <class F>
HWY_INLINE void MapBytes(const uint8_t* src, int64_t n, uint8_t* dst, const F& f) {
  const hn::ScalableTag<uint8_t> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t x = 0;
  for (; x + lanes <= n; x += lanes) hn::StoreU(f(d, hn::LoadU(d, src + x)), d, dst + x);
  const hn::CappedTag<uint8_t, 1> d1;
  for (; x < n; ++x) hn::StoreU(f(d1, hn::LoadU(d1, src + x)), d1, dst + x);
}

void InvertU8(const uint8_t* src, int64_t n, uint8_t* dst) {
  MapBytes(src, n, dst, [](auto d, auto v) { return hn::Sub(hn::Set(d, uint8_t{255}), v); });
}

void AndU8(const uint8_t* src, int64_t n, uint8_t m, uint8_t* dst) {
  MapBytes(src, n, dst, [m](auto d, auto v) { return hn::And(v, hn::Set(d, m)); });
}

void SolarizeU8(const uint8_t* src, int64_t n, int32_t t, uint8_t* dst) {
  if (t > 255) {
    if (src != dst) std::memmove(dst, src, static_cast<size_t>(n));
    return;
  }
  const uint8_t tu = static_cast<uint8_t>(t < 0 ? 0 : t);
  MapBytes(src, n, dst, [tu](auto d, auto v) {
    const auto above = hn::Eq(hn::Max(v, hn::Set(d, tu)), v);  // v >= t
    return hn::IfThenElse(above, hn::Sub(hn::Set(d, uint8_t{255}), v), v);
  });
}

void AutocontrastU8(const uint8_t* HWY_RESTRICT src, int64_t n, uint8_t* HWY_RESTRICT dst) {
  const hn::ScalableTag<uint8_t> du;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(du));
  uint8_t lo = src[0], hi = src[0];
  int64_t x = 0;
  if (n >= lanes) {
    auto vlo = hn::LoadU(du, src), vhi = vlo;
    for (; x + lanes <= n; x += lanes) {
      const auto v = hn::LoadU(du, src + x);
      vlo = hn::Min(vlo, v);
      vhi = hn::Max(vhi, v);
    }
    // Highway has no uint8 MinOfLanes on every target: reduce the lanes in memory.
    HWY_ALIGN uint8_t lanes_lo[hn::MaxLanes(du)], lanes_hi[hn::MaxLanes(du)];
    hn::Store(vlo, du, lanes_lo);
    hn::Store(vhi, du, lanes_hi);
    for (int64_t k = 0; k < lanes; ++k) {
      lo = lanes_lo[k] < lo ? lanes_lo[k] : lo;
      hi = lanes_hi[k] > hi ? lanes_hi[k] : hi;
    }
  }
  for (; x < n; ++x) {
    lo = src[x] < lo ? src[x] : lo;
    hi = src[x] > hi ? src[x] : hi;
  }
  float mn = static_cast<float>(lo);
  float scale = 255.0f / (static_cast<float>(hi) - mn);
  if (!std::isfinite(scale)) {
    mn = 0.0f;
    scale = 1.0f;
  }
  ForEachBlock(n, [&](auto d, int64_t i) {
    const hn::Rebind<int32_t, decltype(d)> di;
    const hn::Rebind<uint8_t, decltype(d)> du8;
    const auto v = hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(du8, src + i)));
    auto r = hn::Mul(hn::Sub(v, hn::Set(d, mn)), hn::Set(d, scale));
    r = hn::Min(hn::Max(r, hn::Zero(d)), hn::Set(d, 255.0f));
    hn::StoreU(hn::DemoteTo(du8, hn::ConvertTo(di, r)), du8, dst + i);
  });
}

// dst[0, n) = src[0, n) in whole vectors, the last one overlapping the previous (same bytes) rather
// than a tail loop: no bytes outside [0, n) are touched. The pointers are deliberately not restrict:
// the compiler would turn the loop back into a memcpy call, whose set-up per call costs as much as
// copying a 640-byte row.
HWY_INLINE void CopyN(const uint8_t* src, int64_t n, uint8_t* dst) {
  const hn::ScalableTag<uint8_t> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  if (n < lanes) {
    std::memcpy(dst, src, static_cast<size_t>(n));
    return;
  }
  // Stores that straddle two cache lines cost about two: one unaligned vector at the start, then
  // vectors at aligned destinations (the loads take the misalignment instead).
  hn::StoreU(hn::LoadU(d, src), d, dst);
  const int64_t misaligned = static_cast<int64_t>(reinterpret_cast<uintptr_t>(dst) % static_cast<uintptr_t>(lanes));
  int64_t x = misaligned == 0 ? lanes : lanes - misaligned;
  for (; x + lanes <= n; x += lanes) hn::StoreU(hn::LoadU(d, src + x), d, dst + x);
  if (x < n) hn::StoreU(hn::LoadU(d, src + n - lanes), d, dst + n - lanes);
}

void CopyRows(const uint8_t* src, int64_t src_step, uint8_t* dst, int64_t dst_step, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) CopyN(src + r * src_step, n, dst + r * dst_step);
}

void PadRowsU8(const uint8_t* src, int64_t h, int64_t w, const int64_t* ymap, int64_t out_h, int64_t left,
               int64_t right, uint8_t fill, uint8_t* dst, int64_t begin, int64_t end) {
  const hn::ScalableTag<uint8_t> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t width = left + w + right;
  const bool ends = width >= lanes && left <= lanes && right <= lanes;
  const auto v = hn::Set(d, fill);
  int64_t plane = begin / out_h, oy = begin % out_h;
  for (int64_t r = begin; r < end; ++r) {
    uint8_t* o = dst + r * width;
    const int64_t iy = ymap[oy];
    if (iy < 0) {
      std::memset(o, fill, static_cast<size_t>(width));
    } else {
      if (ends) {  // one fill vector at each end of the row, then the pixels over the middle of both
        hn::StoreU(v, d, o);
        hn::StoreU(v, d, o + width - lanes);
      } else {
        std::memset(o, fill, static_cast<size_t>(left));
        std::memset(o + left + w, fill, static_cast<size_t>(right));
      }
      CopyN(src + (plane * h + iy) * w, w, o + left);
    }
    if (++oy == out_h) {
      oy = 0;
      ++plane;
    }
  }
}

void ReverseU8(const uint8_t* HWY_RESTRICT src, int64_t n, uint8_t* HWY_RESTRICT dst) {
  // Highway has no whole-vector byte reversal on every target; reversing 16-byte blocks with a byte
  // shuffle is available everywhere and keeps the loop memory-bound.
  int64_t x = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::Full128<uint8_t> d;
  alignas(16) static constexpr uint8_t kReversed[16] = {15, 14, 13, 12, 11, 10, 9, 8,
                                                        7,  6,  5,  4,  3,  2,  1, 0};
  const auto idx = hn::Load(d, kReversed);
  for (; x + 16 <= n; x += 16) {
    hn::StoreU(hn::TableLookupBytes(hn::LoadU(d, src + x), idx), d, dst + n - x - 16);
  }
#endif
  for (; x < n; ++x) dst[n - 1 - x] = src[x];
}

void ReverseF32(const float* HWY_RESTRICT src, int64_t n, float* HWY_RESTRICT dst) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t x = 0;
  for (; x + lanes <= n; x += lanes) {
    hn::StoreU(hn::Reverse(d, hn::LoadU(d, src + x)), d, dst + n - x - lanes);
  }
  for (; x < n; ++x) dst[n - 1 - x] = src[x];
}

} // namespace HWY_NAMESPACE
} // namespace simd
} // namespace image
} // namespace tva
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tva {
namespace image {
namespace simd {

HWY_EXPORT(ResampleRow);
HWY_EXPORT(CombineRows);
HWY_EXPORT(ResampleRowU8Taps);
HWY_EXPORT(ResampleRowU8Bilinear);
HWY_EXPORT(CopyRows);
HWY_EXPORT(PadRowsU8);
HWY_EXPORT(CombineRowsToU8);
HWY_EXPORT(GatherU8);
HWY_EXPORT(U8ToF32Div255);
HWY_EXPORT(U8ToF32);
HWY_EXPORT(U8ToF32Div);
HWY_EXPORT(F32RoundToU8);
HWY_EXPORT(SubDiv);
HWY_EXPORT(RoundScaleSubDiv);
HWY_EXPORT(ReverseU8);
HWY_EXPORT(InvertU8);
HWY_EXPORT(AndU8);
HWY_EXPORT(SolarizeU8);
HWY_EXPORT(AutocontrastU8);
HWY_EXPORT(HueRowU8);
HWY_EXPORT(HueRowF32);
HWY_EXPORT(ProjectiveRow);
HWY_EXPORT(ReverseF32);

void resample_row(
    const float* row, const int32_t* idx, const float* w, int64_t taps, int64_t stride, int64_t n,
    float* out) {
  HWY_DYNAMIC_DISPATCH(ResampleRow)(row, idx, w, taps, stride, n, out);
}
void combine_rows(const float* const* rows, const float* w, int64_t taps, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(CombineRows)(rows, w, taps, n, out);
}
void resample_row_u8_bilinear(
    const uint8_t* row, const int32_t* base, const uint8_t* ctl0, const uint8_t* ctl1, const float* w,
    int64_t stride, int64_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(ResampleRowU8Bilinear)(row, base, ctl0, ctl1, w, stride, n, out);
}
void resample_row_u8_taps(
    const uint8_t* row, const int32_t* offs, const float* w, int64_t taps, int64_t stride, int64_t n,
    float* out) {
  HWY_DYNAMIC_DISPATCH(ResampleRowU8Taps)(row, offs, w, taps, stride, n, out);
}
void gather_u8(const uint8_t* row, const int32_t* idx, int64_t n, uint8_t* out) {
  HWY_DYNAMIC_DISPATCH(GatherU8)(row, idx, n, out);
}

void combine_rows_to_u8(const float* const* rows, const float* w, int64_t taps, int64_t n, uint8_t* out) {
  HWY_DYNAMIC_DISPATCH(CombineRowsToU8)(rows, w, taps, n, out);
}
void u8_to_f32_div255(const uint8_t* src, int64_t n, float* dst) {
  HWY_DYNAMIC_DISPATCH(U8ToF32Div255)(src, n, dst);
}
void u8_to_f32(const uint8_t* src, int64_t n, float* dst) {
  HWY_DYNAMIC_DISPATCH(U8ToF32)(src, n, dst);
}
void u8_to_f32_div(const uint8_t* src, int64_t n, float divisor, float* dst) {
  HWY_DYNAMIC_DISPATCH(U8ToF32Div)(src, n, divisor, dst);
}
void f32_round_to_u8(const float* src, int64_t n, uint8_t* dst) {
  HWY_DYNAMIC_DISPATCH(F32RoundToU8)(src, n, dst);
}
void sub_div(const float* src, int64_t n, float sub, float div, float* dst) {
  HWY_DYNAMIC_DISPATCH(SubDiv)(src, n, sub, div, dst);
}
void round_scale_sub_div(const float* src, int64_t n, float scale, float sub, float div, float* dst) {
  HWY_DYNAMIC_DISPATCH(RoundScaleSubDiv)(src, n, scale, sub, div, dst);
}

void projective_row(const float* xs, int64_t n, float y, const float* t, const float* d, bool perspective,
                    float sx, float sy, float* out_x, float* out_y) {
  HWY_DYNAMIC_DISPATCH(ProjectiveRow)(xs, n, y, t, d, perspective, sx, sy, out_x, out_y);
}
void hue_row_u8(const uint8_t* src, uint8_t* dst, int64_t plane, int64_t n, float hue) {
  HWY_DYNAMIC_DISPATCH(HueRowU8)(src, dst, plane, n, hue);
}
void hue_row_f32(const float* src, float* dst, int64_t plane, int64_t n, float hue) {
  HWY_DYNAMIC_DISPATCH(HueRowF32)(src, dst, plane, n, hue);
}
void invert_u8(const uint8_t* src, int64_t n, uint8_t* dst) {
  HWY_DYNAMIC_DISPATCH(InvertU8)(src, n, dst);
}
void and_u8(const uint8_t* src, int64_t n, uint8_t m, uint8_t* dst) {
  HWY_DYNAMIC_DISPATCH(AndU8)(src, n, m, dst);
}
void solarize_u8(const uint8_t* src, int64_t n, int32_t t, uint8_t* dst) {
  HWY_DYNAMIC_DISPATCH(SolarizeU8)(src, n, t, dst);
}
void autocontrast_u8(const uint8_t* src, int64_t n, uint8_t* dst) {
  HWY_DYNAMIC_DISPATCH(AutocontrastU8)(src, n, dst);
}
void copy_rows(const uint8_t* src, int64_t src_step, uint8_t* dst, int64_t dst_step, int64_t rows, int64_t n) {
  HWY_DYNAMIC_DISPATCH(CopyRows)(src, src_step, dst, dst_step, rows, n);
}
void pad_rows_u8(const uint8_t* src, int64_t h, int64_t w, const int64_t* ymap, int64_t out_h, int64_t left,
                 int64_t right, uint8_t fill, uint8_t* dst, int64_t begin, int64_t end) {
  HWY_DYNAMIC_DISPATCH(PadRowsU8)(src, h, w, ymap, out_h, left, right, fill, dst, begin, end);
}
void reverse_u8(const uint8_t* src, int64_t n, uint8_t* dst) {
  HWY_DYNAMIC_DISPATCH(ReverseU8)(src, n, dst);
}
void reverse_f32(const float* src, int64_t n, float* dst) {
  HWY_DYNAMIC_DISPATCH(ReverseF32)(src, n, dst);
}

} // namespace simd
} // namespace image
} // namespace tva
#endif // HWY_ONCE
