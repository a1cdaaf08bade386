// Highway translation unit: re-included once per SIMD target by foreach_target.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "image/io/jpeg_color_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include "image/io/jpeg_color_simd.h"

#ifndef TVA_JPEG_COLOR_CONSTANTS
#define TVA_JPEG_COLOR_CONSTANTS
namespace tva {
namespace image {
namespace simd {
namespace ycc {
// jdcolor.c's fixed-point constants: FIX(x) = (int32)(x * 2^16 + 0.5), results rounded by adding
// ONE_HALF = 2^15 before the arithmetic shift by 16.
constexpr int32_t kFix(double x) { return static_cast<int32_t>(x * 65536.0 + 0.5); }
constexpr int32_t kCrR = kFix(1.40200);
constexpr int32_t kCbB = kFix(1.77200);
constexpr int32_t kCrG = -kFix(0.71414);
constexpr int32_t kCbG = -kFix(0.34414);
constexpr int32_t kHalf = 1 << 15;

inline uint8_t clamp255(int32_t v) {
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}
}  // namespace ycc
}  // namespace simd
}  // namespace image
}  // namespace tva
#endif

HWY_BEFORE_NAMESPACE();
namespace tva {
namespace image {
namespace simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Column sums (3 * near + far for h2v2, the samples themselves for h2v1) with the edge columns
// repeated: colsum[0] = cs(0), colsum[1 + i] = cs(i), colsum[n + 1] = cs(n - 1). libjpeg's special
// first and last columns are this general formula with the edge repeated.
void ColumnSums(const uint8_t* HWY_RESTRICT near, const uint8_t* HWY_RESTRICT far, int64_t n,
                int16_t* HWY_RESTRICT colsum) {
  const hn::ScalableTag<int16_t> d16;
  const hn::Rebind<uint8_t, decltype(d16)> d8;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d16));
  for (int64_t i = 0; i < n; i += lanes) {
    auto cs = hn::BitCast(d16, hn::PromoteTo(hn::RebindToUnsigned<decltype(d16)>(),
                                             hn::LoadU(d8, near + i)));
    if (far != nullptr) {
      const auto f = hn::BitCast(d16, hn::PromoteTo(hn::RebindToUnsigned<decltype(d16)>(),
                                                    hn::LoadU(d8, far + i)));
      cs = hn::Add(hn::Add(cs, hn::Add(cs, cs)), f);
    }
    hn::StoreU(cs, d16, colsum + 1 + i);
  }
  colsum[0] = colsum[1];
  colsum[n + 1] = colsum[n];
}

// The upsampled row from the column sums: (3 cs(i) + cs(i -+ 1) + bias) >> kShift.
template <int kShift, int kBiasEven, int kBiasOdd>
void UpsampleH2(const uint8_t* HWY_RESTRICT near, const uint8_t* HWY_RESTRICT far, int64_t n,
                int16_t* HWY_RESTRICT colsum, uint8_t* HWY_RESTRICT out) {
  const hn::ScalableTag<int16_t> d16;
  const hn::Rebind<uint8_t, decltype(d16)> d8;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d16));
  ColumnSums(near, far, n, colsum);
  const auto bias_even = hn::Set(d16, static_cast<int16_t>(kBiasEven));
  const auto bias_odd = hn::Set(d16, static_cast<int16_t>(kBiasOdd));
  for (int64_t i = 0; i < n; i += lanes) {
    const auto c = hn::LoadU(d16, colsum + 1 + i);
    const auto t = hn::Add(c, hn::Add(c, c));
    const auto even =
        hn::ShiftRight<kShift>(hn::Add(hn::Add(t, hn::LoadU(d16, colsum + i)), bias_even));
    const auto odd =
        hn::ShiftRight<kShift>(hn::Add(hn::Add(t, hn::LoadU(d16, colsum + 2 + i)), bias_odd));
    // Both are in [0, 255] (4 x 255 x 4 + 8 < 2^12 before the shift by 4, 4 x 255 + 2 before the
    // shift by 2): the pixel pair (even, odd) is the 16-bit lane even + 256 odd.
#if HWY_TARGET == HWY_SCALAR
    hn::StoreInterleaved2(hn::DemoteTo(d8, even), hn::DemoteTo(d8, odd), d8, out + 2 * i);
#else
    const hn::Repartition<uint8_t, decltype(d16)> du8;
    hn::StoreU(hn::BitCast(du8, hn::Or(even, hn::ShiftLeft<8>(odd))), du8, out + 2 * i);
#endif
  }
}

void UpsampleH2Fancy(const uint8_t* near, const uint8_t* far, int64_t in_width, int16_t* colsum,
                     uint8_t* out) {
  if (far != nullptr) {
    // h2v2: (3 * cs(i) + cs(i -+ 1) + 8 or 7) >> 4
    UpsampleH2<4, 8, 7>(near, far, in_width, colsum, out);
  } else {
    // h2v1: (3 * s(i) + s(i -+ 1) + 1 or 2) >> 2
    UpsampleH2<2, 1, 2>(near, nullptr, in_width, colsum, out);
  }
}

// jdcolor.c's conversion in 16-bit lanes, exactly. With x = chroma - 128 in [-128, 127]:
//   R = y + ((91881 xr + 2^15) >> 16)            = y + xr + ((26345 xr + 2^15) >> 16)
//   B = y + ((116130 xb + 2^15) >> 16)           = y + 2 xb + ((-14942 xb + 2^15) >> 16)
//   G = y + ((-22554 xb - 46802 xr + 2^15) >> 16) = y - xr + ((-22554 xb + 18734 xr + 2^15) >> 16)
// (the multiples of 2^16 taken out leave the floor unchanged). A single product c x: with
// MulHigh(128 x, c) = floor(c x / 512) and floor(floor(u) / n) = floor(u / n),
//   (c x + 2^15) >> 16 = (MulHigh(128 x, c) + 64) >> 7,
// and for even c, MulFixedPoint15(x, c / 2) = (x c / 2 + 2^14) >> 15 is the same in one step.
// The sum of two products (G) is computed exactly in 32 bits by pmaddwd; in 16-bit lanes alone (the
// scalar target) it needs their low bits: P = 256 floor(P / 256) + (P mod 256), where
// floor(P / 256) = MulHigh(256 x, c) and P mod 256 is the low byte of the 16-bit product, so
//   (P + Q + 2^15) >> 16 = (hP + hQ + 128 + ((lP + lQ) >> 8)) >> 8.
// Clamping to [0, 255]: Min and Max in 16-bit lanes (or the saturating narrowing to uint8).

// (-22554 xb + 18734 xr + 2^15) >> 16 in each 16-bit lane.
template <class D16, class V = hn::Vec<D16>>
HWY_INLINE V GreenTerm(D16 d16, V xb, V xr) {
#if HWY_TARGET == HWY_SCALAR
  const auto k128 = hn::Set(d16, 128);
  const auto low_byte = hn::Set(d16, 0xFF);
  const auto c_gb = hn::Set(d16, -22554);
  const auto c_gr = hn::Set(d16, 18734);
  const auto xb8 = hn::ShiftLeft<8>(xb);
  const auto xr8 = hn::ShiftLeft<8>(xr);
  const auto low = hn::Add(hn::And(hn::Mul(xb, c_gb), low_byte), hn::And(hn::Mul(xr, c_gr), low_byte));
  const auto high = hn::Add(hn::Add(hn::MulHigh(xb8, c_gb), hn::MulHigh(xr8, c_gr)), k128);
  return hn::ShiftRight<8>(hn::Add(high, hn::ShiftRight<8>(low)));
#else
  // The exact sum in 32 bits by pmaddwd: the (xb, xr) pairs of the even 16-bit lanes and of the
  // odd ones, each in one 32-bit lane, times the pair (-22554, 18734); the rounded sums >> 16 go
  // back to the even lanes (low halves, logical shift) and the odd ones (high halves, masked).
  const hn::RepartitionToWide<D16> d32;
  const hn::RebindToUnsigned<decltype(d32)> du32;
  const auto low16 = hn::Set(du32, 0xFFFFu), high16 = hn::Set(du32, 0xFFFF0000u);
  const auto b32 = hn::BitCast(du32, xb), r32 = hn::BitCast(du32, xr);
  const auto even = hn::OrAnd(hn::ShiftLeft<16>(r32), b32, low16);   // (xb, xr) of lane 2m
  const auto odd = hn::OrAnd(hn::ShiftRight<16>(b32), r32, high16);  // (xb, xr) of lane 2m + 1
  const auto c = hn::BitCast(d16, hn::Set(du32, (static_cast<uint32_t>(18734) << 16) |
                                                    static_cast<uint16_t>(-22554)));
  const auto round = hn::Set(d32, 1 << 15);
  const auto madd = [&](hn::Vec<decltype(du32)> pairs) {
    hn::Vec<decltype(d32)> sum1 = hn::Zero(d32);
    const auto sum0 =
        hn::ReorderWidenMulAccumulate(d32, hn::BitCast(d16, pairs), c, hn::Zero(d32), sum1);
    return hn::BitCast(du32, hn::Add(hn::RearrangeToOddPlusEven(sum0, sum1), round));
  };
  return hn::BitCast(d16, hn::OrAnd(hn::ShiftRight<16>(madd(even)), madd(odd), high16));
#endif
}

// The three terms of one pixel in 16-bit lanes: yv the luma, xb and xr the chroma minus 128.
template <class D16, class V = hn::Vec<D16>>
HWY_INLINE void YccTerms(D16 d16, V yv, V xb, V xr, V& r, V& g, V& b) {
  const auto k64 = hn::Set(d16, 64);
  const auto c_r = hn::Set(d16, 26345);
  const auto c_b_half = hn::Set(d16, -7471);
  const auto xr7 = hn::ShiftLeft<7>(xr);
  const auto r_term = hn::ShiftRight<7>(hn::Add(hn::MulHigh(xr7, c_r), k64));
  const auto b_term = hn::MulFixedPoint15(xb, c_b_half);
  const auto g_term = GreenTerm(d16, xb, xr);
  r = hn::Add(hn::Add(yv, xr), r_term);
  g = hn::Add(hn::Sub(yv, xr), g_term);
  b = hn::Add(hn::Add(yv, hn::Add(xb, xb)), b_term);
}

// jdcolor.c's conversion of one pixel (chroma minus 128), for the tails of the vector loops.
inline void YccPixel(int32_t yy, int32_t xb, int32_t xr, uint8_t* rgb) {
  rgb[0] = ycc::clamp255(yy + ((xr * ycc::kCrR + ycc::kHalf) >> 16));
  rgb[1] = ycc::clamp255(yy + ((xb * ycc::kCbG + ycc::kHalf + xr * ycc::kCrG) >> 16));
  rgb[2] = ycc::clamp255(yy + ((xb * ycc::kCbB + ycc::kHalf) >> 16));
}

#if HWY_TARGET != HWY_SCALAR
// One byte vector of pixels: yy the luma bytes (even pixels in the low bytes of the 16-bit lanes,
// odd ones in the high bytes), xb0/xr0 and xb1/xr1 the chroma minus 128 of the even and the odd
// pixels in 16-bit lanes. Each half is converted in 16-bit lanes, clamped to [0, 255] and put back
// together as even + 256 odd (no widening or narrowing shuffles), then stored as interleaved RGB.
template <class D16, class V = hn::Vec<D16>>
HWY_INLINE void StoreRgbEvenOdd(D16 d16, V yy, V xb0, V xr0, V xb1, V xr1, uint8_t* rgb) {
  const hn::RebindToUnsigned<D16> du16;
  const hn::Repartition<uint8_t, D16> du8;
  const auto zero = hn::Zero(d16);
  const auto k255 = hn::Set(d16, 255);
  const auto clamp = [&](V v) { return hn::Min(hn::Max(v, zero), k255); };
  V r0, g0, b0, r1, g1, b1;
  YccTerms(d16, hn::And(yy, hn::Set(d16, 0xFF)), xb0, xr0, r0, g0, b0);
  YccTerms(d16, hn::BitCast(d16, hn::ShiftRight<8>(hn::BitCast(du16, yy))), xb1, xr1, r1, g1, b1);
  const auto join = [&](V even, V odd) {
    return hn::BitCast(du8, hn::Or(clamp(even), hn::ShiftLeft<8>(clamp(odd))));
  };
  hn::StoreInterleaved3(join(r0, r1), join(g0, g1), join(b0, b1), du8, rgb);
}
#endif

void YccToRgbRow(const uint8_t* HWY_RESTRICT y, const uint8_t* HWY_RESTRICT cb,
                 const uint8_t* HWY_RESTRICT cr, int64_t n, uint8_t* HWY_RESTRICT rgb) {
  int64_t i = 0;
#if HWY_TARGET == HWY_SCALAR
  const hn::ScalableTag<int16_t> d16;
  const hn::RebindToUnsigned<decltype(d16)> du16;
  const hn::Rebind<uint8_t, decltype(d16)> d8;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d16));
  const auto center = hn::Set(d16, 128);
  for (; i + lanes <= n; i += lanes) {
    const auto yv = hn::BitCast(d16, hn::PromoteTo(du16, hn::LoadU(d8, y + i)));
    const auto xb = hn::Sub(hn::BitCast(d16, hn::PromoteTo(du16, hn::LoadU(d8, cb + i))), center);
    const auto xr = hn::Sub(hn::BitCast(d16, hn::PromoteTo(du16, hn::LoadU(d8, cr + i))), center);
    hn::Vec<decltype(d16)> r, g, b;
    YccTerms(d16, yv, xb, xr, r, g, b);
    hn::StoreInterleaved3(hn::DemoteTo(d8, r), hn::DemoteTo(d8, g), hn::DemoteTo(d8, b), d8,
                          rgb + 3 * i);
  }
#else
  // Whole byte vectors (StoreRgbEvenOdd).
  const hn::ScalableTag<uint8_t> du8;
  const hn::Repartition<int16_t, decltype(du8)> d16;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(du8));
  const auto sign = hn::Set(du8, 0x80);
  for (; i + lanes <= n; i += lanes) {
    // Chroma - 128 as signed bytes; the even ones sign-extended by the shift pair.
    const auto xb = hn::BitCast(d16, hn::Xor(hn::LoadU(du8, cb + i), sign));
    const auto xr = hn::BitCast(d16, hn::Xor(hn::LoadU(du8, cr + i), sign));
    StoreRgbEvenOdd(d16, hn::BitCast(d16, hn::LoadU(du8, y + i)),
                    hn::ShiftRight<8>(hn::ShiftLeft<8>(xb)), hn::ShiftRight<8>(hn::ShiftLeft<8>(xr)),
                    hn::ShiftRight<8>(xb), hn::ShiftRight<8>(xr), rgb + 3 * i);
  }
#endif
  for (; i < n; ++i) {
    YccPixel(y[i], static_cast<int32_t>(cb[i]) - 128, static_cast<int32_t>(cr[i]) - 128, rgb + 3 * i);
  }
}

// jdsample.c's h2 fancy upsampling of one chroma sample, from the column sums.
template <int kShift, int kBiasEven, int kBiasOdd>
inline int32_t UpsampledAt(const int16_t* colsum, int64_t p) {
  const int64_t c = p / 2;
  const int32_t t = 3 * colsum[1 + c];
  return (p % 2 == 0 ? t + colsum[c] + kBiasEven : t + colsum[2 + c] + kBiasOdd) >> kShift;
}

// YccToRgbRow with the chroma upsampled on the way (UpsampleH2's output, never stored): the even
// pixels of a byte vector are the 16-bit lanes of (3 cs(c) + cs(c - 1) + bias) >> kShift, the odd
// ones those of (3 cs(c) + cs(c + 1) + bias) >> kShift, c the chroma column.
template <int kShift, int kBiasEven, int kBiasOdd>
void YccToRgbRowH2(const uint8_t* HWY_RESTRICT y, const int16_t* HWY_RESTRICT cb_colsum,
                   const int16_t* HWY_RESTRICT cr_colsum, int64_t n, uint8_t* HWY_RESTRICT rgb) {
  int64_t i = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::ScalableTag<uint8_t> du8;
  const hn::Repartition<int16_t, decltype(du8)> d16;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(du8));
  // The biases minus 128 << kShift: the shifted results are the chroma minus 128.
  const auto bias_even = hn::Set(d16, static_cast<int16_t>(kBiasEven - (128 << kShift)));
  const auto bias_odd = hn::Set(d16, static_cast<int16_t>(kBiasOdd - (128 << kShift)));
  for (; i + lanes <= n; i += lanes) {
    const int64_t c = i / 2;
    const auto cb = hn::LoadU(d16, cb_colsum + 1 + c), cr = hn::LoadU(d16, cr_colsum + 1 + c);
    const auto tb = hn::Add(cb, hn::Add(cb, cb)), tr = hn::Add(cr, hn::Add(cr, cr));
    const auto xb0 = hn::ShiftRight<kShift>(hn::Add(hn::Add(tb, hn::LoadU(d16, cb_colsum + c)), bias_even));
    const auto xb1 = hn::ShiftRight<kShift>(hn::Add(hn::Add(tb, hn::LoadU(d16, cb_colsum + 2 + c)), bias_odd));
    const auto xr0 = hn::ShiftRight<kShift>(hn::Add(hn::Add(tr, hn::LoadU(d16, cr_colsum + c)), bias_even));
    const auto xr1 = hn::ShiftRight<kShift>(hn::Add(hn::Add(tr, hn::LoadU(d16, cr_colsum + 2 + c)), bias_odd));
    StoreRgbEvenOdd(d16, hn::BitCast(d16, hn::LoadU(du8, y + i)), xb0, xr0, xb1, xr1, rgb + 3 * i);
  }
#endif
  for (; i < n; ++i) {
    YccPixel(y[i], UpsampledAt<kShift, kBiasEven, kBiasOdd>(cb_colsum, i) - 128,
             UpsampledAt<kShift, kBiasEven, kBiasOdd>(cr_colsum, i) - 128, rgb + 3 * i);
  }
}

void YccToRgbRowUpsampled(const uint8_t* y, const int16_t* cb_colsum, const int16_t* cr_colsum,
                          bool vertical, int64_t n, uint8_t* rgb) {
  if (vertical) {
    YccToRgbRowH2<4, 8, 7>(y, cb_colsum, cr_colsum, n, rgb);
  } else {
    YccToRgbRowH2<2, 1, 2>(y, cb_colsum, cr_colsum, n, rgb);
  }
}

void ColumnSumsExport(const uint8_t* near, const uint8_t* far, int64_t in_width, int16_t* colsum) {
  ColumnSums(near, far, in_width, colsum);
}

}  // namespace HWY_NAMESPACE
}  // namespace simd
}  // namespace image
}  // namespace tva
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tva {
namespace image {
namespace simd {

HWY_EXPORT(UpsampleH2Fancy);
HWY_EXPORT(YccToRgbRow);
HWY_EXPORT(YccToRgbRowUpsampled);
HWY_EXPORT(ColumnSumsExport);

void upsample_h2_fancy(const uint8_t* near, const uint8_t* far, int64_t in_width, int16_t* colsum,
                       uint8_t* out) {
  HWY_DYNAMIC_DISPATCH(UpsampleH2Fancy)(near, far, in_width, colsum, out);
}

void ycc_to_rgb_row(const uint8_t* y, const uint8_t* cb, const uint8_t* cr, int64_t n,
                    uint8_t* rgb) {
  HWY_DYNAMIC_DISPATCH(YccToRgbRow)(y, cb, cr, n, rgb);
}

void upsample_column_sums(const uint8_t* near, const uint8_t* far, int64_t in_width,
                          int16_t* colsum) {
  HWY_DYNAMIC_DISPATCH(ColumnSumsExport)(near, far, in_width, colsum);
}

void ycc_to_rgb_row_upsampled(const uint8_t* y, const int16_t* cb_colsum, const int16_t* cr_colsum,
                              bool vertical, int64_t n, uint8_t* rgb) {
  HWY_DYNAMIC_DISPATCH(YccToRgbRowUpsampled)(y, cb_colsum, cr_colsum, vertical, n, rgb);
}

}  // namespace simd
}  // namespace image
}  // namespace tva
#endif
